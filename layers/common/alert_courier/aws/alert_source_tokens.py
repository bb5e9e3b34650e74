"""Each incident.io alert source's token, read from Secrets Manager (`<prefix><alert source config id>`, JSON
{"current": ...} or the bare token) and cached per container."""

from __future__ import annotations

import json
from typing import Any

SECRET_CACHE_SECONDS = 300


class AlertSourceTokens:
    def __init__(self, prefix: str, provider: Any | None = None) -> None:
        if provider is None:
            from alert_courier.aws.parameter_providers import secrets_provider

            provider = secrets_provider()
        self._provider = provider
        self._prefix = prefix

    def token(self, config_id: str, *, fresh: bool = False) -> str:
        value = self._provider.get(f"{self._prefix}{config_id}", max_age=SECRET_CACHE_SECONDS, force_fetch=fresh)
        text = value.decode() if isinstance(value, bytes) else str(value)
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            return text.strip()
        return str(document.get("current", "")) if isinstance(document, dict) else text.strip()

    def __repr__(self) -> str:
        return f"AlertSourceTokens(prefix={self._prefix!r})"
