"""Classifying incident.io failures, and the retry policy's delays."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

from alert_courier.incident_io.retry_policy import RetryPolicy, parse_retry_after
from alert_courier.incident_io.tool_errors import FailureKind, from_error_text


def incident_io_error(status: int, code: str, field: str | None = None, **extra: object) -> str:
    error: dict[str, object] = {"code": code, "message": f"{code} happened"}
    if field:
        error["source"] = {"field": field}
    return json.dumps({"type": "x", "status": status, "request_id": "r", "errors": [error], **extra})


def test_validation_error_is_permanent_and_names_the_field() -> None:
    failure = from_error_text(
        "incident_create",
        "Error executing tool incident_create: " + incident_io_error(422, "is_required", "severity_id"),
    )
    assert failure.kind is FailureKind.PERMANENT
    assert (failure.status, failure.code, failure.field) == (422, "is_required", "severity_id")


def test_rate_limit_is_transient_with_retry_after() -> None:
    failure = from_error_text(
        "incident_list", incident_io_error(429, "too_many_requests", rate_limit={"retry_after": 3})
    )
    assert failure.kind is FailureKind.TRANSIENT and failure.retry_after == 3.0


def test_auth_and_server_errors() -> None:
    assert (
        from_error_text("t", incident_io_error(401, "missing_authorization_material")).kind is FailureKind.UNAUTHORIZED
    )
    assert from_error_text("t", incident_io_error(503, "unavailable")).kind is FailureKind.TRANSIENT
    assert from_error_text("t", incident_io_error(403, "resource_forbidden")).kind is FailureKind.PERMANENT


def test_unknown_tool_text_is_permanent_and_bare_error_is_transient() -> None:
    assert from_error_text("t", "Unknown tool: nope").kind is FailureKind.PERMANENT
    assert from_error_text("t", "Error executing tool t").kind is FailureKind.TRANSIENT


def test_full_jitter_stays_under_the_exponential_ceiling_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_seconds=0.5, cap_seconds=4, rng=random.Random(7))
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0)]:
        assert all(0 <= policy.delay(attempt) <= ceiling for _ in range(50))
    assert policy.delay(1, retry_after=9) == 9


def test_retry_after_seconds_or_http_date() -> None:
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7
    assert parse_retry_after("Wed, 25 Nov 2026 12:00:30 GMT", now) == 30
    assert parse_retry_after("soon") is None
