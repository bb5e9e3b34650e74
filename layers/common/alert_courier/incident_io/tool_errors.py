"""Typed failures of an incident.io tool call, and how to read incident.io's error bodies."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from alert_courier.domain.errors import ActionFailed


class FailureKind(StrEnum):
    TRANSIENT = "transient"  # 429, 503, connection failed before sending: retry with backoff
    AMBIGUOUS = "ambiguous"  # may have acted (timeout, dropped after sending, 500/502/504, empty answer): re-check
    UNAUTHORIZED = "unauthorized"  # 401: re-read the key once, then give up
    PERMANENT = "permanent"  # validation, permission, unknown tool: never retry; dead-letter with the reason


class ToolCallError(ActionFailed):
    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        tool: str = "",
        status: int | None = None,
        code: str | None = None,
        field: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.tool = tool
        self.status = status
        self.code = code
        self.field = field
        self.retry_after = retry_after

    @property
    def permanent(self) -> bool:
        return self.kind is FailureKind.PERMANENT

    @property
    def ambiguous(self) -> bool:
        return self.kind is FailureKind.AMBIGUOUS

    def describe(self) -> str:
        parts = [f"{self.kind.value}", self.tool or "?"]
        if self.status:
            parts.append(str(self.status))
        if self.code:
            parts.append(self.code)
        if self.field:
            parts.append(f"field={self.field}")
        return " ".join(parts) + f": {self.message}"


def kind_for_status(status: int | None) -> FailureKind:
    if status is None:
        return FailureKind.TRANSIENT
    if status == 401:
        return FailureKind.UNAUTHORIZED
    if status == 429 or status >= 500:
        return FailureKind.TRANSIENT
    return FailureKind.PERMANENT


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
# Tools that change something (noun_verb names): an error we cannot read may come after the change landed.
MUTATING_VERBS = frozenset({"create", "update", "escalate", "respond", "delete", "resolve", "close", "execute"})


def is_mutating(tool: str) -> bool:
    return tool.rsplit("_", 1)[-1].lower() in MUTATING_VERBS


def from_error_text(tool: str, text: str, *, mutating: bool | None = None) -> ToolCallError:
    """Reads an isError text or JSON-RPC error message, which may embed incident.io's REST error JSON, or be
    plain words ("Not found: ...", "HTTP 403", "already closed"); see `from_plain_text`."""
    document = _embedded_json(text)
    if document is None or "status" not in document:
        return from_plain_text(tool, text, mutating=is_mutating(tool) if mutating is None else mutating)
    status = _as_int(document.get("status"))
    errors = document.get("errors") or [{}]
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    messages = "; ".join(
        str(error.get("message", "")) for error in errors if isinstance(error, dict) and error.get("message")
    )
    rate_limit = document.get("rate_limit") or {}
    retry_after = _retry_after(rate_limit.get("retry_after")) if isinstance(rate_limit, dict) else None
    return ToolCallError(
        kind_for_status(status),
        redact(messages or str(document.get("type", "error"))),
        tool=tool,
        status=status,
        code=str(first.get("code")) if first.get("code") else str(document.get("type") or "") or None,
        field=(first.get("source") or {}).get("field") if isinstance(first.get("source"), dict) else None,
        retry_after=retry_after,
    )


# A status code the text states ("HTTP 404", "status: 422", "error 403", "(429)", "404 Not Found").
_STATUS_CODE = re.compile(
    r"(?:\bhttp(?:\s+status)?|\bstatus(?:\s+code)?|\bcode|\berror)\s*[:=#]?\s*\(?([45]\d\d)\b"
    r"|\(([45]\d\d)\)"
    r"|\b([45]\d\d)\s+(?:not\s+found|forbidden|unauthori[sz]ed|conflict|unprocessable|too\s+many|bad\s+request"
    r"|internal|bad\s+gateway|service\s+unavailable|gateway\s+time)",
    re.IGNORECASE,
)
# (status, code, pattern) in priority order: the first that matches wins. "already closed" before "invalid"
# (a refused status move is both), auth before "invalid" ("invalid API key"), permission before "required"
# ("the post_incident_flow_opt_out role is required").
_STATUS_WORDS: tuple[tuple[int, str, re.Pattern[str]], ...] = tuple(
    (status, code, re.compile(pattern, re.IGNORECASE))
    for status, code, pattern in (
        (429, "too_many_requests", r"rate[\s_-]?limit|too[\s_]many[\s_]requests|throttl|slow\s+down"),
        (
            401,
            "authentication_error",
            r"unauthori[sz]ed|unauthenticated|authentication|not\s+authenticated"
            r"|(?:invalid|expired|revoked|missing)\s+(?:api\s+)?(?:key|token|credential)"
            r"|(?:api\s+)?key\s+(?:is\s+)?(?:invalid|expired|revoked)",
        ),
        (
            403,
            "resource_forbidden",
            r"forbidden|permission|not\s+(?:allowed|permitted|authori[sz]ed\s+to)|access\s+denied"
            r"|insufficient\s+(?:scope|role|privilege)|missing\s+(?:the\s+)?(?:scope|role)|lacks?\s+the\s+role",
        ),
        (
            409,
            "already_resolved",
            r"already\s+(?:been\s+)?(?:resolved|closed|acknowledged|acked|declined|cancell?ed|expired|sent|executed)",
        ),
        (
            404,
            "not_found",
            r"not[\s_]found|does\s+not\s+exist|doesn't\s+exist|no\s+such|could\s+not\s+find|unknown\s+(?:incident|escalation|alert|id)",
        ),
        (409, "conflict", r"\bconflict|already\s+exists"),
        (
            422,
            "validation_error",
            r"validation|invalid|\brequired\b|must\s+(?:be|provide|have|not)|cannot\s+move|not\s+a\s+valid"
            r"|unprocessable|bad\s+request|malformed",
        ),
        (503, "service_unavailable", r"service\s+unavailable|temporarily\s+unavailable|overloaded|try\s+again\s+later"),
        (504, "gateway_timeout", r"timed?\s*out|gateway\s+time"),
        (502, "bad_gateway", r"bad\s+gateway|upstream"),
        (500, "internal_error", r"internal(?:\s+server)?\s+error|something\s+went\s+wrong"),
    )
)
_UNKNOWN_TOOL = re.compile(
    r"unknown\s+tool|tool\s+[`'\"]?\w+[`'\"]?\s+(?:was\s+)?not\s+found|no\s+tool\s+named", re.IGNORECASE
)
_REQUIRED_FIELD = re.compile(r"`?\b([a-z][a-z0-9_]*_[a-z0-9_]+|[a-z]+_id|title|name)`?\s+is\s+required", re.IGNORECASE)
_FIELD_NAMED = re.compile(r"\b(?:field|argument|parameter|property)\s+[`'\"]?([a-z][a-z0-9_.]*)", re.IGNORECASE)
_RETRY_IN = re.compile(
    r"(?:retry|try\s+again)\s+(?:after|in)\s+(\d+(?:\.\d+)?)\s*(?:s\b|sec|seconds?)|retry[-_\s]after\s*[:=]?\s*(\d+(?:\.\d+)?)",
    re.IGNORECASE,
)


def from_plain_text(tool: str, text: str, *, mutating: bool) -> ToolCallError:
    """An error in words, without incident.io's JSON body: classified by the status code or words it carries.

    An error we cannot classify is transient on a read-only call (retry it) and ambiguous on a mutating one:
    "an internal error with no detail means the call failed", but not that it did nothing, so the change is
    re-checked (or repeated only when the call is idempotent) rather than blindly sent again.
    """
    message = redact(text.strip())[:500] or "tool failed without detail"
    if _UNKNOWN_TOOL.search(text):
        return ToolCallError(FailureKind.PERMANENT, message, tool=tool, code="unknown_tool")
    status, code = _status_in(text)
    if status is None:
        kind = FailureKind.AMBIGUOUS if mutating else FailureKind.TRANSIENT
        return ToolCallError(kind, message, tool=tool)
    kind = kind_for_status(status)
    if kind is FailureKind.TRANSIENT and mutating and status >= 500 and status != 503:
        kind = FailureKind.AMBIGUOUS  # a 500/502/504 may come after the change landed
    return ToolCallError(
        kind,
        message,
        tool=tool,
        status=status,
        code=code,
        field=_field_in(text) if status == 422 else None,
        retry_after=_retry_in(text) if status == 429 else None,
    )


def _status_in(text: str) -> tuple[int | None, str | None]:
    stated = _STATUS_CODE.search(text)
    worded = next(((status, code) for status, code, pattern in _STATUS_WORDS if pattern.search(text)), None)
    if stated:
        status = int(next(group for group in stated.groups() if group))
        # The words may be more precise than the number: a 409/422 that says "already closed".
        if worded is not None and (worded[0] == status or (worded[1] == "already_resolved" and status in (409, 422))):
            return status, worded[1]
        return status, None
    return worded if worded else (None, None)


def _field_in(text: str) -> str | None:
    match = _FIELD_NAMED.search(text) or _REQUIRED_FIELD.search(text)
    return match.group(1) if match else None


def _retry_in(text: str) -> float | None:
    match = _RETRY_IN.search(text)
    return float(next(group for group in match.groups() if group)) if match else None


# What a key or token looks like when a server echoes it back: never let it into a message.
_SECRETS = re.compile(
    r"(?i)(bearer\s+|authorization\s*[:=]\s*(?:bearer\s+)?|(?:api[_\s-]?key|token|secret)\s*[:=]\s*)[^\s\"',;]+"
)


def redact(text: str) -> str:
    return _SECRETS.sub(lambda match: match.group(1) + "<redacted>", text)


def _embedded_json(text: str) -> dict[str, Any] | None:
    match = _JSON_OBJECT.search(text)
    if not match:
        return None
    try:
        document = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def _as_int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _as_float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _retry_after(value: object, now: datetime | None = None) -> float | None:
    """`rate_limit.retry_after`: seconds, or the moment to retry at (incident.io sends an RFC 3339 time)."""
    seconds = _as_float(value)
    if seconds is not None or not isinstance(value, str):
        return seconds
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
