"""Reads each monitoring source's webhook credentials from Secrets Manager (cached per container)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools.utilities import parameters

from alert_courier.aws.parameter_providers import secrets_provider

SECRET_CACHE_SECONDS = 300
REREAD_INTERVAL_SECONDS = 15


class WebhookSecrets:
    """Secret `<prefix><source>` holds JSON {"current": "...", "previous": "..."}; both are accepted."""

    def __init__(
        self,
        prefix: str,
        provider: parameters.SecretsProvider | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._prefix = prefix
        self._provider = provider or secrets_provider()
        self._clock = clock
        self._reread_at: dict[str, float] = {}  # per source; sources are a fixed registry, so this stays small

    def valid_values(self, source: str) -> Sequence[str]:
        return self._read(source, force=False)

    def reread(self, source: str) -> Sequence[str] | None:
        """The values read again after a credential matched none of the cached ones (the secret may have just been
        rotated); None if this source's secret was re-read less than REREAD_INTERVAL_SECONDS ago, so a flood of
        wrong credentials costs at most one read per source and interval.
        """
        now = self._clock()
        last = self._reread_at.get(source)
        if last is not None and now - last < REREAD_INTERVAL_SECONDS:
            return None
        self._reread_at[source] = now
        return self._read(source, force=True)

    def _read(self, source: str, *, force: bool) -> Sequence[str]:
        try:
            document: Any = self._provider.get(
                f"{self._prefix}{source}", transform="json", max_age=SECRET_CACHE_SECONDS, force_fetch=force
            )
        except parameters.exceptions.GetParameterError:
            return ()
        if not isinstance(document, dict):
            return ()
        return tuple(str(document[key]) for key in ("current", "previous") if document.get(key))
