"""An Alertmanager's current active alerts for the reconcile pass: `GET <url>/api/v2/alerts?active=true` (Alertmanager
itself, or Grafana's built-in one, which serves the same API v2 under `/api/alertmanager/grafana`), with the
receiver and matchers the rules' `reconcile.alertmanager` / `reconcile.grafana` setting names, and a credential read
from Secrets Manager.

An alert we hold firing that the API no longer lists is over (its resolve was lost: `send_resolved: false`, or
Alertmanager gave up re-sending it). Silenced and inhibited alerts are still active (still listed). A failed or
unreadable answer says nothing: nothing is resolved on it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from alert_courier.domain.group_state import GroupState
from alert_courier.domain.reconciliation import Observation
from alert_courier.domain.rules import AlertmanagerApiSpec, RuleSet

logger = logging.getLogger("alert_courier")
SecretReader = Callable[[str], str]  # secret name (under the prefix) → its value
TIMEOUT_SECONDS = 10.0
# `scheme://user:password@`: everything between `//` and the last `@` before the path is the userinfo
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s'\"<>]*@")


def secret_reader(prefix: str) -> SecretReader:
    """Reads `<prefix><name>` from Secrets Manager (cached for the container's life: rotate by redeploying or
    waiting for a new container)."""
    cache: dict[str, str] = {}

    def read(name: str) -> str:
        if name not in cache:
            import boto3

            cache[name] = str(
                boto3.client("secretsmanager").get_secret_value(SecretId=f"{prefix}{name}")["SecretString"]
            )
        return cache[name]

    return read


def authorization(credential: str) -> dict[str, str]:
    """A bearer token, or `{"username": …, "password": …}` (basic auth, e.g. behind a proxy or Grafana)."""
    import base64

    try:
        parsed = json.loads(credential)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "username" in parsed:
        pair = f"{parsed['username']}:{parsed.get('password', '')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    return {"Authorization": f"Bearer {credential.strip()}"}


class AlertmanagerActiveAlerts:
    """The reconcile pass's view of one kind of Alertmanager API (a `use_cases.reconciliation.TruthSource`)."""

    def __init__(
        self,
        source: str,  # "alertmanager" or "grafana": the alert source (and the rules' reconcile key) it answers for
        rules: Callable[[], RuleSet],
        secrets: SecretReader | None = None,
        *,
        get: Callable[[str, dict[str, Any], dict[str, str]], Any] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.source = source
        self.name = "Grafana" if source == "grafana" else "Alertmanager"
        self._rules = rules
        self._secrets = secrets
        self._get = get or _httpx_get
        self._clock = clock
        self._last_read: datetime | None = None
        self.reads = 0

    def _spec(self) -> AlertmanagerApiSpec | None:
        spec: AlertmanagerApiSpec | None = getattr(self._rules().reconcile, self.source)
        return spec

    def covers(self, state: GroupState) -> bool:
        return state.source == self.source and self._spec() is not None

    def observe(self, states: list[GroupState]) -> dict[str, Observation]:
        spec, now = self._spec(), self._clock()
        if spec is None or (self._last_read is not None and now - self._last_read < spec.every):
            return {}  # its own period (`every`) has not passed yet
        self._last_read = now
        active = self._active_fingerprints(spec)
        if active is None:
            return {}
        observed: dict[str, Observation] = {}
        where = without_userinfo(spec.url).rstrip("/")
        for state in states:
            for key in state.firing:
                if key.rsplit("/", 1)[-1] not in active:  # Grafana's keys are <org id>/<fingerprint>
                    says = f"{self.name} at {where} no longer lists it as active"
                    observed[key] = Observation(key, False, now.replace(microsecond=0), says)
        return observed

    def _active_fingerprints(self, spec: AlertmanagerApiSpec) -> set[str] | None:
        params: dict[str, Any] = {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"}
        if spec.receiver:
            params["receiver"] = spec.receiver
        if spec.filter:
            params["filter"] = list(spec.filter)
        headers: dict[str, str] = {"Accept": "application/json"}
        try:
            if spec.credential_secret and self._secrets is not None:
                headers |= authorization(self._secrets(spec.credential_secret))
            self.reads += 1
            answer = self._get(spec.url.rstrip("/") + "/api/v2/alerts", params, headers)
            if not isinstance(answer, list):
                raise ValueError("the answer is not a list of alerts")
            return {
                str(alert["fingerprint"]) for alert in answer if isinstance(alert, dict) and alert.get("fingerprint")
            }
        except Exception as error:  # any failure means: no news this pass (never a resolve)
            # httpx's errors quote the URL as it was given, with its user:password
            extra = {"url": without_userinfo(spec.url), "error": without_userinfo(str(error))[:300]}
            logger.warning("reconcile: alertmanager unread", extra=extra)
            return None


def without_userinfo(text: str) -> str:
    """`text` with the `user:password@` of every URL in it redacted (for logs and the history's reasons)."""
    return _USERINFO.sub(r"\1<redacted>@", text)


def _httpx_get(url: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
    import httpx

    response = httpx.get(url, params=params, headers=headers, timeout=TIMEOUT_SECONDS)
    response.raise_for_status()
    return response.json()
