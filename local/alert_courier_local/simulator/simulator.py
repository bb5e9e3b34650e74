"""`Simulator`: the simulated incident.io organisation as plain Python (state, keys, limits, faults, stats).

The HTTP layer (server.py) only translates requests into calls on this object, so everything here can be
tested without a network. Methods are thread-safe: the server runs on its own thread.
"""

from __future__ import annotations

import copy
import hmac
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alert_courier.incident_io.contract import Contract

from ..dev_credentials import DEV_ALERT_SOURCE_TOKEN, DEV_API_KEY
from . import schemas
from .directory import Directory, iso
from .errors import (
    IncidentIoError,
    conflict,
    is_required,
    not_found,
    too_many_requests,
    unauthenticated,
    validation_error,
)
from .events import EventHook, SimEvent, describe_result
from .faults import FaultInjector, ToolFault
from .ids import new_ulid
from .ratelimit import RateLimiter, RateVerdict
from .schemas import Catalogue, catalogue_of, check_arguments
from .state import AlertRecord, HeartbeatRecord, SimState
from .styles import ANSWER_STYLES, ERROR_STYLES
from .tools import TOOLS, ToolContext

DEFAULT_API_KEY = DEV_API_KEY
DEFAULT_ALERT_SOURCE_ID = "local-alert-source"
DEFAULT_HEARTBEAT_SOURCE_ID = "local-heartbeat-source"
DEFAULT_ALERT_SOURCE_TOKEN = DEV_ALERT_SOURCE_TOKEN
DEFAULT_RATE_LIMIT_PER_MINUTE = 1200
DEFAULT_ESCALATION_LIMIT_PER_MINUTE = 60
ALERT_STATUSES = ("firing", "resolved")

ApiKeys = Iterable[str] | Callable[[], Iterable[str]]

logger = logging.getLogger(__name__)


class UnknownTool(LookupError):
    """A tools/call for a name the simulator does not serve."""


@dataclass
class Stats:
    http_requests: int = 0  # every request to /mcp, whatever happened to it
    http_requests_by_method: Counter[str] = field(default_factory=Counter)  # JSON-RPC method, else HTTP verb
    tool_calls: Counter[str] = field(default_factory=Counter)  # tools/call that passed the bearer check
    rest_requests: Counter[str] = field(default_factory=Counter)  # "alert_events", "heartbeat"

    def snapshot(self) -> dict[str, Any]:
        return {
            "http_requests": self.http_requests,
            "http_requests_by_method": dict(self.http_requests_by_method),
            "tool_calls": dict(self.tool_calls),
            "rest_requests": dict(self.rest_requests),
        }


class Simulator:
    """A simulated incident.io organisation behind the MCP tools and the REST alert endpoints."""

    def __init__(
        self,
        *,
        api_keys: ApiKeys = (DEFAULT_API_KEY,),
        alert_sources: Mapping[str, str] | None = None,
        heartbeat_sources: Mapping[str, str] | None = None,
        rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE,
        escalation_limit_per_minute: int = DEFAULT_ESCALATION_LIMIT_PER_MINUTE,
        require_severity: bool = False,
        refuse_respond: bool = False,
        jsonrpc_errors: bool = False,
        answer_style: str = "structured",
        error_style: str = "rest_json",
        faults: Mapping[str, Any] | None = None,
        on_event: EventHook | None = None,
        contract: Contract | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """`api_keys`: a set (kept by reference, so callers may change it), another iterable (copied into
        `self.api_keys`), or a callable returning the accepted keys on every request. `contract`: the tools,
        resources and organisation to serve (default: the recording LOCAL_SIMULATOR_CONTRACT names, else the
        simulator's own contract.json). `clock`: the time the simulator stamps on what it creates (default: the
        wall clock; in-process tests pass their driven clock, so a lookup by creation time agrees with them)."""
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._api_keys: set[str] | Callable[[], Iterable[str]] = (
            api_keys if callable(api_keys) or isinstance(api_keys, set) else set(api_keys)
        )
        self.alert_sources = dict(alert_sources or {DEFAULT_ALERT_SOURCE_ID: DEFAULT_ALERT_SOURCE_TOKEN})
        self.heartbeat_sources = dict(heartbeat_sources or {DEFAULT_HEARTBEAT_SOURCE_ID: DEFAULT_ALERT_SOURCE_TOKEN})
        self.rate_limit_per_minute = rate_limit_per_minute
        self.escalation_limit_per_minute = escalation_limit_per_minute
        self.require_severity = require_severity
        self.refuse_respond = refuse_respond
        self.jsonrpc_errors = jsonrpc_errors
        if answer_style not in ANSWER_STYLES or error_style not in ERROR_STYLES:
            raise ValueError(f"answer_style is one of {ANSWER_STYLES}, error_style one of {ERROR_STYLES}")
        self.default_answer_style = answer_style
        self.default_error_style = error_style
        self.on_event = on_event
        self._contract = contract
        self.directory = Directory(config=_config_of(self.contract.organisation))
        self.state = SimState()
        self.stats = Stats()
        self.injector = FaultInjector()
        self._request_limiter = RateLimiter(rate_limit_per_minute)
        self._escalation_limiter = RateLimiter(escalation_limit_per_minute)
        self._seen_sessions: set[str] = set()
        self._expired_sessions: set[str] = set()
        if faults:
            self.set_faults(faults)

    # ---- keys ------------------------------------------------------------------------------------

    @property
    def api_keys(self) -> set[str]:
        """The accepted keys (a live set unless a callable was given); a rotate_key fault overrides them."""
        keys = self._api_keys
        return set(keys()) if callable(keys) else keys

    def accepts_api_key(self, key: str) -> bool:
        rotated = self.injector.faults.rotate_key
        accepted = [rotated] if rotated else list(self.api_keys)
        return any(hmac.compare_digest(key.encode(), candidate.encode()) for candidate in accepted)

    # ---- the contract: tools/list, resources/list, config://organisation ----------------------------

    @property
    def contract(self) -> Contract:
        return self._contract or schemas.default_contract()

    def tool_catalogue(self) -> Catalogue:
        """Tool name -> {"description", "inputSchema"}, as tools/list advertises them."""
        return catalogue_of(self._contract) if self._contract else schemas.load_tool_schemas()

    def resources(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self.contract.resources)

    # ---- MCP tools ------------------------------------------------------------------------------

    def call_tool(
        self, name: str, arguments: Mapping[str, Any] | None = None, *, injected_error: IncidentIoError | None = None
    ) -> dict[str, Any]:
        """Run one tool as incident.io would; raises `IncidentIoError` (or `UnknownTool`)."""
        args = copy.deepcopy(dict(arguments or {}))
        catalogue = self.tool_catalogue()
        if name not in TOOLS or name not in catalogue:
            self._emit(SimEvent("tool", name, args, "unknown tool"))
            raise UnknownTool(name)
        try:
            with self._lock:
                error = injected_error or self.injector.tool_error_for(name, args)
                if error is not None:
                    raise error
                check_arguments(name, args, catalogue)
                try:
                    result = TOOLS[name](self._tool_context(), args)
                except KeyError as missing:  # a recorded schema that names an argument otherwise
                    raise validation_error(
                        f"this contract's {name} schema lacks the argument {missing} the simulator acts on",
                        field=str(missing).strip("'"),
                    ) from None
        except IncidentIoError as error:
            where = f" {error.field}" if error.field else ""
            self._emit(SimEvent("tool", name, args, f"error {error.status} {error.code}{where}"))
            raise
        self._emit(SimEvent("tool", name, args, describe_result(name, result)))
        return result

    def _tool_context(self) -> ToolContext:
        return ToolContext(
            state=self.state,
            directory=self.directory,
            now=self.clock(),
            require_severity=self.require_severity,
            refuse_respond=self.refuse_respond or self.injector.faults.refuse_respond,
            allow_reopen=self.injector.faults.allow_reopen,
        )

    def organisation_config(self) -> dict[str, Any]:
        """What the `config://organisation` resource serves: the contract's document, verbatim."""
        return copy.deepcopy(self.contract.organisation)

    @property
    def emits_jsonrpc_errors(self) -> bool:
        return self.jsonrpc_errors or self.injector.faults.jsonrpc_errors

    @property
    def answer_style(self) -> str:
        """How results are worded (styles.py): the answer_style fault, else the constructor's setting."""
        return self.injector.faults.answer_style or self.default_answer_style

    @property
    def error_style(self) -> str:
        return self.injector.faults.error_style or self.default_error_style

    # ---- faults -----------------------------------------------------------------------------------

    def set_faults(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Merge fault settings (see faults.py); raises ValueError for a bad key or value."""
        with self._lock:
            self.injector.update(changes)
            if self.injector.faults.session_expiry:
                self._expired_sessions |= self._seen_sessions
            else:
                self._expired_sessions.clear()
            if not changes or {"rate_limit_per_minute", "escalation_limit_per_minute"} & set(changes):
                self._reset_limiters()
            return self.injector.faults.snapshot()

    def faults_snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self.injector.faults.snapshot()

    def decide_tool_fault(self) -> ToolFault:
        with self._lock:
            return self.injector.decide()

    def next_malformed_variant(self) -> str:
        with self._lock:
            return self.injector.next_malformed_variant()

    def note_fault(self, tool: str, arguments: Mapping[str, Any], outcome: str) -> None:
        """Record (as an event) a tool call that the HTTP layer answered with a fault."""
        self._emit(SimEvent("tool", tool, dict(arguments), outcome))

    # ---- legacy MCP sessions (for the session_expiry fault) ---------------------------------------

    def note_session(self, session_id: str) -> None:
        with self._lock:
            self._seen_sessions.add(session_id)

    def is_session_expired(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._expired_sessions

    # ---- rate limits ------------------------------------------------------------------------------

    def take_request_token(self, api_key: str) -> RateVerdict:
        with self._lock:
            return self._request_limiter.take(api_key)

    def take_escalation_token(self, api_key: str) -> RateVerdict:
        with self._lock:
            return self._escalation_limiter.take(api_key)

    def _reset_limiters(self) -> None:
        faults = self.injector.faults
        self._request_limiter = RateLimiter(faults.rate_limit_per_minute or self.rate_limit_per_minute)
        self._escalation_limiter = RateLimiter(faults.escalation_limit_per_minute or self.escalation_limit_per_minute)

    @staticmethod
    def rate_limited(name: str, verdict: RateVerdict) -> IncidentIoError:
        retry_at = datetime.now(UTC) + timedelta(seconds=verdict.retry_after_seconds)
        return too_many_requests(name, verdict.limit, iso(retry_at.replace(microsecond=0)))

    # ---- REST: alert events and heartbeats -------------------------------------------------------

    def check_source_token(self, kind: str, source_id: str, token: str | None) -> None:
        """Authenticate a REST call with an alert source's own token (kind: "alert_events" or "heartbeat")."""
        sources = self.alert_sources if kind == "alert_events" else self.heartbeat_sources
        if not token:
            raise unauthenticated("Send the alert source's token as 'Authorization: Bearer <token>' or ?token=")
        if source_id not in sources:
            raise not_found("Alert source config", source_id)
        if not hmac.compare_digest(token.encode(), sources[source_id].encode()):
            raise unauthenticated("The token does not belong to this alert source")

    def ingest_alert_event(self, source_id: str, body: Any) -> dict[str, Any]:
        """`POST /v2/alert_events/http/{id}`: one alert per deduplication key per source. Returns the 202 body."""
        event = _checked_alert_event(body)
        key, now = event["deduplication_key"], iso(self.clock())
        with self._lock:
            alert_id = self.state.alert_ids_by_source_and_key.get((source_id, key))
            if alert_id is not None:
                outcome = self._update_alert(self.state.alerts[alert_id], event, now)
            elif event["status"] == "firing":
                outcome = self._create_alert(source_id, event, now)
            else:
                outcome = "ignored (no alert with this key to resolve)"
        self._emit(SimEvent("alert_event", source_id, event, outcome))
        return {"status": "success", "message": "Event accepted for processing", "deduplication_key": key}

    def _create_alert(self, source_id: str, event: dict[str, Any], now: str) -> str:
        alert: dict[str, Any] = {
            "id": new_ulid(),
            "alert_source_id": source_id,
            "title": event["title"],
            "status": "firing",
            "deduplication_key": event["deduplication_key"],
            "attributes": [],
            "created_at": now,
            "updated_at": now,
        }
        alert |= {k: event[k] for k in ("description", "source_url") if k in event}
        self.state.alerts[alert["id"]] = AlertRecord(alert=alert, arguments=copy.deepcopy(event))
        self.state.alert_ids_by_source_and_key[(source_id, event["deduplication_key"])] = alert["id"]
        return f"alert {alert['id']} (firing)"

    def _update_alert(self, record: AlertRecord, event: dict[str, Any], now: str) -> str:
        alert = record.alert
        alert |= {k: event[k] for k in ("title", "description", "source_url") if k in event}
        if event["status"] == "resolved" and alert["status"] == "firing":
            alert["resolved_at"] = now
        elif event["status"] == "firing":
            alert.pop("resolved_at", None)
        alert["status"] = event["status"]
        alert["updated_at"] = now
        record.events += 1
        return f"alert {alert['id']} ({alert['status']})"

    def record_heartbeat(self, source_id: str, method: str) -> None:
        with self._lock:
            self.state.heartbeats.append(HeartbeatRecord(new_ulid(), source_id, method, iso(self.clock())))
        self._emit(SimEvent("heartbeat", source_id, {}, "204"))

    # ---- people acting in incident.io (the /_sim/escalations/... endpoints) -------------------------

    def acknowledge_escalation_as_human(self, escalation_id: str, user_id: str | None = None) -> dict[str, Any]:
        """A person acknowledges a page in incident.io (`POST /_sim/escalations/{id}/acknowledge`): the escalation
        is `acked`, so `escalation_show` tells the scheduler to stop its later levels. `user_id` defaults to the
        first person paged. Acknowledging an acked page again changes nothing; a page that is over (resolved,
        cancelled, expired) is a 409. Raises `IncidentIoError` (404 for an unknown escalation or user)."""
        with self._lock:
            record = self.state.escalations.get(escalation_id)
            if record is None:
                raise not_found("Escalation", escalation_id)
            escalation = record.escalation
            paged = [user["id"] for event in escalation["events"] for user in event.get("users", []) if "id" in user]
            chosen = user_id or (paged[0] if paged else self.directory.users()[0]["id"])
            if self.directory.user(chosen) is None:
                raise not_found("User", chosen)
            if escalation["status"] not in ("pending", "triggered", "acked"):
                raise conflict(f"The escalation is {escalation['status']} and can no longer be acknowledged")
            if escalation["status"] != "acked":
                now = iso(self.clock())
                escalation["status"] = "acked"
                escalation["events"].append(
                    {"event": "acked", "occurred_at": now, "by": {"user": self.directory.user_summary(chosen)}}
                )
                escalation["updated_at"] = now
            answer = {"escalation": copy.deepcopy(escalation)}
        self._emit(SimEvent("human", "acknowledge", {"id": escalation_id, "user_id": chosen}, "acked"))
        return answer

    def close_incident_as_human(self, incident_id: str, user_id: str | None = None) -> dict[str, Any]:
        """A person closes an incident in incident.io (`POST /_sim/incidents/{id}/close`; the id or the reference,
        `INC-4`): its status becomes the organisation's first `closed` one, as a responder's close would (pages are
        left as they are: they are not the incident's). Closing a closed incident changes nothing. Raises
        `IncidentIoError` (404 for an unknown incident or user)."""
        with self._lock:
            record = self.state.find_incident(incident_id)
            if record is None:
                raise not_found("Incident", incident_id)
            chosen = user_id or self.directory.users()[0]["id"]
            if self.directory.user(chosen) is None:
                raise not_found("User", chosen)
            incident = record.incident
            if incident["incident_status"]["category"] != "closed":
                status = self.directory.first_status_in("closed")
                incident["incident_status"] = {
                    key: status[key] for key in ("id", "name", "description", "category", "rank") if key in status
                }
                now = iso(datetime.now(UTC))
                incident["updated_at"] = now
                incident["closed_by"] = {"user": self.directory.user_summary(chosen), "at": now}
            answer = {"incident": copy.deepcopy(incident)}
        self._emit(SimEvent("human", "close", {"id": incident["id"], "user_id": chosen}, incident["reference"]))
        return answer

    # ---- observability ----------------------------------------------------------------------------

    def count_mcp_request(self, labels: Iterable[str]) -> None:
        with self._lock:
            self.stats.http_requests += 1
            self.stats.http_requests_by_method.update(labels)

    def count_tool_call(self, tool: str) -> None:
        with self._lock:
            self.stats.tool_calls[tool] += 1

    def count_rest_request(self, kind: str) -> None:
        with self._lock:
            self.stats.rest_requests[kind] += 1

    def state_snapshot(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            return self.state.snapshot()

    def stats_snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self.stats.snapshot()

    def reset(self) -> None:
        """Forget all state, counters and faults (the constructor's configuration stays)."""
        with self._lock:
            self.state = SimState()
            self.stats = Stats()
            self.injector = FaultInjector()
            self._seen_sessions.clear()
            self._expired_sessions.clear()
            self._reset_limiters()

    def _emit(self, event: SimEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:
            # A broken printer must not turn into a failed tool call.
            logger.exception("the simulator's on_event hook failed")


def _config_of(document: dict[str, Any]) -> dict[str, Any]:
    """The severities, statuses and types the tools act on, from an organisation document (wrapped or not)."""
    for wrapper in ("organisation", "config"):
        if isinstance(document.get(wrapper), dict):
            document = document[wrapper]
    return {"severities": [], "incident_statuses": [], "incident_types": [], **document}


def _checked_alert_event(body: Any) -> dict[str, Any]:
    """Validate an alert event body the way the HTTP alert source does (422 with the offending field)."""
    if not isinstance(body, dict):
        raise validation_error("The request body must be a JSON object", field="body")
    for required in ("title", "status"):
        if body.get(required) in (None, ""):
            raise is_required(required)
    if body["status"] not in ALERT_STATUSES:
        raise validation_error(f"status must be one of {list(ALERT_STATUSES)}", field="status")
    if not body.get("deduplication_key"):
        raise is_required("deduplication_key", "Deduplication key is required")
    for text_field in ("title", "deduplication_key", "description", "source_url"):
        if text_field in body and not isinstance(body[text_field], str):
            raise validation_error(f"{text_field} must be a string", field=text_field)
    if "metadata" in body and not isinstance(body["metadata"], dict):
        raise validation_error("metadata must be a JSON object", field="metadata")
    return copy.deepcopy(body)
