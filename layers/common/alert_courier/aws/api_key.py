"""The incident.io API key: read from Secrets Manager with a cache, never shown in a log, repr or error."""

from __future__ import annotations

import json
from typing import Any

from pydantic import SecretStr

SECRET_CACHE_SECONDS = 300


class ApiKeySource:
    """Secret value is the bare key or JSON {"api_key": "..."}; `fresh=True` bypasses the cache (rotation)."""

    def __init__(self, secret_name: str, provider: Any | None = None) -> None:
        from alert_courier.aws.parameter_providers import keep_secret_values_out_of_logs, secrets_provider

        keep_secret_values_out_of_logs()  # also when the provider is given
        self._provider = provider or secrets_provider()
        self._secret_name = secret_name

    def get(self, *, fresh: bool = False) -> SecretStr:
        value = self._provider.get(self._secret_name, max_age=SECRET_CACHE_SECONDS, force_fetch=fresh)
        return SecretStr(_key_from(value))

    def __repr__(self) -> str:
        return f"ApiKeySource(secret_name={self._secret_name!r})"


def _key_from(value: Any) -> str:
    text = value.decode() if isinstance(value, bytes) else str(value)
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped)
        except json.JSONDecodeError:
            return stripped
        return str(document.get("api_key") or document.get("key") or "")
    return stripped
