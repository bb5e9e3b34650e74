"""Run-time fault injection for tool calls: which faults are set, and what each call gets (seeded random).

`POST /_sim/faults` merges keys into the current set; a key set to 0/false/null clears that fault and `{}`
clears them all. Counts (`status_429`, `status_5xx`) take `true` (every call) or N (the next N calls).

    latency_ms               delay every tool call
    error_rate, error_kinds  fraction of calls failing transiently, taking turns through error_kinds
                             ("http_503", "http_429" with Retry-After, "tool_5xx" = an isError 500 result)
    status_429, retry_after  HTTP 429 with `Retry-After: retry_after` (default 1 s)
    status_5xx, status_5xx_code   HTTP 5xx (default 503)
    drop_connection_rate     close the connection without an answer; the call is not performed
    act_then_timeout_rate, stall_ms   perform the call, withhold the answer for stall_ms, then drop
    malformed_rate           a non-error result that breaks the contract (taking turns through
                             MALFORMED_VARIANTS)
    tool_errors              {tool: {status, code, field, message, when: {arg: value}}} permanent failures
    session_expiry           legacy sessions open now answer 404 (stateless 2026-07-28 requests have none)
    rotate_key               {"new_key": "..."}: only the new key is accepted from now on
    jsonrpc_errors           tool failures as JSON-RPC errors (-32603) instead of isError results
    answer_style             "structured" | "json_text" | "prose": how results are worded (styles.py)
    error_style              "rest_json" | "plain_text": errors as incident.io's JSON body or in words only
    refuse_respond           escalation_respond answers 403 (a service actor may not respond)
    allow_reopen             incident_update may move a closed incident back to live (undocumented by
                             incident.io, which lists triage/live -> learning/closed only; off by default)
    rate_limit_per_minute, escalation_limit_per_minute   override the buckets (they restart full)
    seed                     restart the random sequence
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .errors import IncidentIoError, error_type_for
from .schemas import tool_names
from .styles import ANSWER_STYLES, ERROR_STYLES

ERROR_KINDS = ("http_503", "http_429", "tool_5xx")
EVERY_CALL = -1
MALFORMED_VARIANTS = ("not_json", "wrong_shape", "no_content")
TOOL_ERROR_KEYS = frozenset({"status", "code", "field", "message", "when"})
REDACTED = "<redacted>"


@dataclass
class Faults:
    latency_ms: int = 0
    error_rate: float = 0.0
    error_kinds: tuple[str, ...] = ERROR_KINDS
    status_429: int = 0
    retry_after: int = 1
    status_5xx: int = 0
    status_5xx_code: int = 503
    drop_connection_rate: float = 0.0
    session_expiry: bool = False
    rotate_key: str | None = None
    malformed_rate: float = 0.0
    act_then_timeout_rate: float = 0.0
    stall_ms: int = 30_000
    tool_errors: dict[str, dict[str, Any]] = field(default_factory=dict)
    jsonrpc_errors: bool = False
    answer_style: str | None = None  # None: the Simulator's own setting
    error_style: str | None = None
    refuse_respond: bool = False
    allow_reopen: bool = False
    rate_limit_per_minute: int | None = None
    escalation_limit_per_minute: int | None = None
    seed: int | None = None

    def snapshot(self) -> dict[str, Any]:
        """The faults that differ from the defaults (what `GET /_sim/faults` shows); keys are redacted."""
        defaults = asdict(Faults())
        active = {name: value for name, value in asdict(self).items() if value != defaults[name]}
        if "rotate_key" in active:
            active["rotate_key"] = {"new_key": REDACTED}
        if "error_kinds" in active:
            active["error_kinds"] = list(active["error_kinds"])
        for count in ("status_429", "status_5xx"):
            if active.get(count) == EVERY_CALL:
                active[count] = True
        return active


@dataclass(frozen=True)
class ToolFault:
    """What one tool call gets. `action` is none, drop, http_error, tool_5xx, act_then_timeout or malformed."""

    action: str = "none"
    latency_ms: int = 0
    status: int = 0  # for http_error
    retry_after: int = 1  # for a 429
    stall_ms: int = 0  # for act_then_timeout


def merge_faults(current: Faults, changes: Mapping[str, Any]) -> Faults:
    """The fault set after applying `changes`; raises ValueError naming the bad key."""
    if not changes:
        return Faults()
    known = {f.name for f in fields(Faults)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ValueError(f"unknown fault key(s) {unknown}; known keys: {sorted(known)}")
    defaults = Faults()
    updates = {
        name: getattr(defaults, name) if value is None else _parse(name, value) for name, value in changes.items()
    }
    return replace(current, **updates)


class FaultInjector:
    """Holds the current faults and rolls the (seeded) dice for each tool call."""

    def __init__(self) -> None:
        self.faults = Faults()
        self._rng = random.Random(0)
        self._error_turn = 0
        self._malformed_turn = 0

    def update(self, changes: Mapping[str, Any]) -> None:
        self.faults = merge_faults(self.faults, changes)
        if not changes or "seed" in changes:
            self._rng = random.Random(self.faults.seed or 0)
            self._error_turn = self._malformed_turn = 0

    def decide(self) -> ToolFault:
        faults = self.faults
        latency = faults.latency_ms
        if self._roll(faults.drop_connection_rate):
            return ToolFault("drop", latency)
        if self._roll(faults.error_rate):
            kind = faults.error_kinds[self._error_turn % len(faults.error_kinds)]
            self._error_turn += 1
            if kind == "tool_5xx":
                return ToolFault("tool_5xx", latency)
            status = 429 if kind == "http_429" else 503
            return ToolFault("http_error", latency, status=status, retry_after=faults.retry_after)
        if faults.status_429:
            faults.status_429 = _count_down(faults.status_429)
            return ToolFault("http_error", latency, status=429, retry_after=faults.retry_after)
        if faults.status_5xx:
            faults.status_5xx = _count_down(faults.status_5xx)
            return ToolFault("http_error", latency, status=faults.status_5xx_code)
        if self._roll(faults.act_then_timeout_rate):
            return ToolFault("act_then_timeout", latency, stall_ms=faults.stall_ms)
        if self._roll(faults.malformed_rate):
            return ToolFault("malformed", latency)
        return ToolFault("none", latency)

    def next_malformed_variant(self) -> str:
        variant = MALFORMED_VARIANTS[self._malformed_turn % len(MALFORMED_VARIANTS)]
        self._malformed_turn += 1
        return variant

    def tool_error_for(self, tool: str, arguments: Mapping[str, Any]) -> IncidentIoError | None:
        spec = self.faults.tool_errors.get(tool)
        if spec is None or any(arguments.get(k) != v for k, v in (spec.get("when") or {}).items()):
            return None
        status = int(spec.get("status", 422))
        code = spec.get("code") or ("invalid_value" if status == 422 else error_type_for(status))
        message = spec.get("message") or f"Simulated permanent failure of {tool}"
        return IncidentIoError(status, code, message, field=spec.get("field"))

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate


def _count_down(count: int) -> int:
    return count if count == EVERY_CALL else count - 1


def _parse(name: str, value: Any) -> Any:
    match name:
        case "error_rate" | "drop_connection_rate" | "malformed_rate" | "act_then_timeout_rate":
            rate = _number(name, value)
            if not 0 <= rate <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
            return rate
        case "latency_ms" | "stall_ms" | "retry_after":
            return _non_negative_int(name, value)
        case "status_429" | "status_5xx":
            if value is True:
                return EVERY_CALL
            return 0 if value is False else _non_negative_int(name, value)
        case "status_5xx_code":
            code = _non_negative_int(name, value)
            if not 500 <= code <= 599:
                raise ValueError("status_5xx_code must be a 5xx status")
            return code
        case "rate_limit_per_minute" | "escalation_limit_per_minute":
            return _non_negative_int(name, value) or None
        case "seed":
            return _non_negative_int(name, value)
        case "session_expiry" | "jsonrpc_errors" | "refuse_respond" | "allow_reopen":
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
            return value
        case "error_kinds":
            kinds = tuple(value) if isinstance(value, list) else ()
            if not kinds or not set(kinds) <= set(ERROR_KINDS):
                raise ValueError(f"error_kinds must be a non-empty list drawn from {list(ERROR_KINDS)}")
            return kinds
        case "rotate_key":
            new_key = value.get("new_key") if isinstance(value, dict) else value
            if not isinstance(new_key, str) or not new_key:
                raise ValueError('rotate_key must be {"new_key": "<non-empty string>"}')
            return new_key
        case "tool_errors":
            return _tool_errors(value)
        case "answer_style" | "error_style":
            styles = ANSWER_STYLES if name == "answer_style" else ERROR_STYLES
            if value not in styles:
                raise ValueError(f"{name} must be one of {list(styles)}")
            return value
    raise ValueError(f"unknown fault key {name!r}")  # pragma: no cover - merge_faults checks names first


def _tool_errors(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise ValueError("tool_errors must map tool names to error specs")
    for tool, spec in value.items():
        if tool not in tool_names():
            raise ValueError(f"tool_errors: unknown tool {tool!r}")
        if not isinstance(spec, dict) or not set(spec) <= TOOL_ERROR_KEYS:
            raise ValueError(f"tool_errors[{tool!r}] may only have keys {sorted(TOOL_ERROR_KEYS)}")
        status = spec.get("status", 422)
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"tool_errors[{tool!r}].status must be a 4xx or 5xx status")
        if "when" in spec and not isinstance(spec["when"], dict):
            raise ValueError(f"tool_errors[{tool!r}].when must be an object of argument values")
    return {tool: dict(spec) for tool, spec in value.items()}


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    return float(value)


def _non_negative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer")
    return value
