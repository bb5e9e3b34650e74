"""Heartbeat pings: `POST /heartbeats/<name>` requests (ingest) and alerts that match a heartbeat (dispatch).

Both only move the heartbeat's last-seen time forward (a conditional write); the scheduler decides what silence
means. Ingest records pings of the heartbeats the rules declare only: a ping to any other name (a cron job's typo)
would be recorded and never watched, so it is refused with a 404 that names the known heartbeats.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qs

from alert_courier.domain.alert import Alert
from alert_courier.domain.rules import HEARTBEAT_NAME_PATTERN, RuleSet
from alert_courier.ingress.credentials import SecretLookup, SecretReread, check_with_one_reread, require_shared_secret
from alert_courier.ingress.rejection import WebhookRejected, body_too_large, invalid_json, wrong_shape
from alert_courier.ingress.webhook import WebhookRequest

logger = logging.getLogger("alert_courier")
HEARTBEAT_SECRET = "heartbeat"  # the webhook secret `<prefix>heartbeat` authenticates every ping
MAX_INSTANCE_CHARS = 200
MAX_PING_BODY_BYTES = 64 * 1024
MAX_NAMES_LISTED = 50


class PingRecorder(Protocol):
    """Where pings go (the real one is `state_store.HeartbeatStore`)."""

    def record_ping(self, name: str, instance: str, at: datetime, *, via: str) -> bool: ...


@dataclass(frozen=True)
class Ping:
    name: str
    instance: str
    at: datetime


def unknown_heartbeat(name: str) -> WebhookRejected:
    return WebhookRejected(
        404,
        "unknown_heartbeat",
        f"{name[:64]!r} is not a heartbeat name: letters, digits, '.', '_' and '-', at most 128 characters",
    )


class UnknownHeartbeat(WebhookRejected):
    """A well-formed name the rules do not declare; the answer lists the ones they do."""

    def __init__(self, name: str, known: Collection[str]) -> None:
        self.known = sorted(known)[:MAX_NAMES_LISTED]
        listed = ", ".join(self.known) or "none (declare heartbeats in the rules)"
        super().__init__(404, "unknown_heartbeat", f"no heartbeat {name!r} in the rules; known heartbeats: {listed}")

    def body(self) -> dict[str, Any]:
        answer = super().body()
        answer["error"]["known_heartbeats"] = self.known
        return answer


def read_ping(
    request: WebhookRequest,
    name: str,
    query: dict[str, str] | None,
    valid_secrets: SecretLookup,
    *,
    known: Callable[[], Collection[str]],
    reread: SecretReread | None = None,
) -> Ping:
    """Checks in order: name 404, size 413, credentials 401 (Bearer or Basic), a name the rules declare 404
    (`known`: the declared names; only after authentication, so they are not told to strangers), then the
    optional instance 400/422. A credential the cached secret refuses is checked once more on `reread`'s values.

    The instance comes from `?instance=` or a JSON body `{"instance": ...}` (a form body works too); a body that
    says nothing about an instance is ignored, so `curl -X POST` and `curl -d ''` both ping.
    """
    if not re.fullmatch(HEARTBEAT_NAME_PATTERN, name):
        raise unknown_heartbeat(name)
    if len(request.body) > MAX_PING_BODY_BYTES:
        raise body_too_large(len(request.body), MAX_PING_BODY_BYTES)
    check_with_one_reread(lambda valid: require_shared_secret(request, valid), HEARTBEAT_SECRET, valid_secrets, reread)
    declared = known()
    if name not in declared:
        raise UnknownHeartbeat(name, declared)
    instance = (query or {}).get("instance")
    if instance is None:
        instance = _instance_from_body(request)
    return Ping(name=name, instance=_checked_instance(instance or ""), at=request.received_at)


def _instance_from_body(request: WebhookRequest) -> str | None:
    if not request.body.strip():
        return None
    media_type = request.content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        values = parse_qs(request.body.decode("utf-8", "replace")).get("instance")
        if values:
            return values[0]
        media_type = ""  # `curl -d '{"instance": "a"}'` sends JSON labelled as a form: try it as JSON
    try:
        document: Any = json.loads(request.body)
    except (UnicodeDecodeError, ValueError) as error:
        if media_type == "application/json" or media_type.endswith("+json"):
            raise invalid_json(str(error)[:120]) from None
        return None  # text that is not JSON, e.g. a job's log line: a ping all the same
    if not isinstance(document, dict):
        return None
    value = document.get("instance")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise wrong_shape("instance", "give the instance as a string")
    return str(value)


def _checked_instance(instance: str) -> str:
    instance = instance.strip()
    if len(instance) > MAX_INSTANCE_CHARS:
        raise wrong_shape("instance", f"at most {MAX_INSTANCE_CHARS} characters")
    if any(unicodedata.category(char).startswith("C") for char in instance):
        raise wrong_shape("instance", "control characters are not allowed")
    return instance


def pings_from_alert(alert: Alert, rules: RuleSet) -> list[Ping]:
    """The heartbeats this alert pings (e.g. Alertmanager's always-firing Watchdog): one per matching heartbeat."""
    return [
        Ping(name=spec.name, instance=spec.instance_of(alert.labels), at=alert.received_at)
        for spec in rules.heartbeats
        if spec.counts(alert)
    ]


class AlertPings:
    """Dispatch's hook: records the pings an alert carries. Never fails the alert: a lost ping is logged."""

    def __init__(self, recorder: PingRecorder, rules: Callable[[], RuleSet]) -> None:
        self._recorder = recorder
        self._rules = rules

    def observe(self, alert: Alert) -> list[Ping]:
        pings = pings_from_alert(alert, self._rules())
        for ping in pings:
            try:
                self._recorder.record_ping(ping.name, ping.instance, ping.at, via=f"alert:{alert.source}")
            except Exception as error:  # the alert itself must still be dispatched
                logger.warning(
                    "heartbeat ping not recorded", extra={"heartbeat": ping.name, "error": type(error).__name__}
                )
        return pings
