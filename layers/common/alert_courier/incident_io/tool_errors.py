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


def from_error_text(tool: str, text: str) -> ToolCallError:
    """Reads an isError text or JSON-RPC error message, which may embed incident.io's REST error JSON."""
    document = _embedded_json(text)
    if document is None or "status" not in document:
        lowered = text.lower()
        if "unknown tool" in lowered or "validation error" in lowered or "invalid" in lowered:
            return ToolCallError(FailureKind.PERMANENT, text[:500], tool=tool)
        return ToolCallError(FailureKind.TRANSIENT, text[:500] or "tool failed without detail", tool=tool)
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
        messages or str(document.get("type", "error")),
        tool=tool,
        status=status,
        code=str(first.get("code")) if first.get("code") else str(document.get("type") or "") or None,
        field=(first.get("source") or {}).get("field") if isinstance(first.get("source"), dict) else None,
        retry_after=retry_after,
    )


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
