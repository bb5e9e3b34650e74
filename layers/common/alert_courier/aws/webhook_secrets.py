"""Reads each monitoring source's webhook credentials from Secrets Manager (cached per container)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.utilities import parameters

from alert_courier.aws.parameter_providers import secrets_provider

SECRET_CACHE_SECONDS = 300


class WebhookSecrets:
    """Secret `<prefix><source>` holds JSON {"current": "...", "previous": "..."}; both are accepted."""

    def __init__(self, prefix: str, provider: parameters.SecretsProvider | None = None) -> None:
        self._prefix = prefix
        self._provider = provider or secrets_provider()

    def valid_values(self, source: str) -> Sequence[str]:
        try:
            document: Any = self._provider.get(
                f"{self._prefix}{source}", transform="json", max_age=SECRET_CACHE_SECONDS
            )
        except parameters.exceptions.GetParameterError:
            return ()
        if not isinstance(document, dict):
            return ()
        return tuple(str(document[key]) for key in ("current", "previous") if document.get(key))
