"""Classifying incident.io failures, and the retry policy's delays."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

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


# ---- errors in words (no embedded REST JSON) ---------------------------------------------------

PLAIN_TEXT_ERRORS = [
    # (text, status, kind) — on a mutating call (incident_update)
    ("Error executing tool incident_update: Not found: Incident '01HX' was not found", 404, FailureKind.PERMANENT),
    ("MCP error -32603: HTTP 404", 404, FailureKind.PERMANENT),
    ("Resource forbidden: the API key lacks the role incident_editor", 403, FailureKind.PERMANENT),
    (
        "You do not have permission to close incidents (post_incident_flow_opt_out is required)",
        403,
        FailureKind.PERMANENT,
    ),
    ("Too many requests: rate limit exceeded, retry after 7 seconds", 429, FailureKind.TRANSIENT),
    ("Conflict: INC-4 is already closed", 409, FailureKind.PERMANENT),
    ("status 422: the incident has already been resolved", 422, FailureKind.PERMANENT),
    ("Validation error: severity_id is required", 422, FailureKind.PERMANENT),
    ("INC-4 cannot move from Closed (closed) to Fixing (live)", 422, FailureKind.PERMANENT),
    ("Invalid value for incident_status_id", 422, FailureKind.PERMANENT),
    ("Unauthorized: the API key is not valid", 401, FailureKind.UNAUTHORIZED),
    ("unauthenticated", 401, FailureKind.UNAUTHORIZED),
    ("Service unavailable, try again later", 503, FailureKind.TRANSIENT),
    ("Internal error: something went wrong", 500, FailureKind.AMBIGUOUS),  # may have landed
]


@pytest.mark.parametrize(("text", "status", "kind"), PLAIN_TEXT_ERRORS, ids=[t[0][:40] for t in PLAIN_TEXT_ERRORS])
def test_plain_text_errors_are_classified_by_their_status_words_or_code(
    text: str, status: int, kind: FailureKind
) -> None:
    failure = from_error_text("incident_update", text)
    assert (failure.status, failure.kind) == (status, kind)
    assert failure.message == text


def test_plain_text_details_the_handling_needs() -> None:
    already = from_error_text("incident_update", "Incident is already closed")
    assert (already.status, already.code) == (409, "already_resolved")  # the resolve path reads it back
    assert from_error_text("incident_create", "Validation error: severity_id is required").field == "severity_id"
    assert from_error_text("incident_list", "Too many requests; retry after 12s").retry_after == 12.0
    assert from_error_text("incident_show", "Error 404: no such incident").status == 404


def test_an_unclassifiable_error_is_ambiguous_on_a_mutating_call_and_transient_on_a_read() -> None:
    for tool in ("incident_create", "incident_update", "escalation_create", "escalation_respond"):
        assert from_error_text(tool, f"Error executing tool {tool}").kind is FailureKind.AMBIGUOUS
        assert from_error_text(tool, "").kind is FailureKind.AMBIGUOUS
    for tool in ("incident_list", "incident_show", "escalation_show", "config://organisation"):
        assert from_error_text(tool, f"Error executing tool {tool}").kind is FailureKind.TRANSIENT
    assert from_error_text("t", "boom", mutating=True).kind is FailureKind.AMBIGUOUS
    assert from_error_text("Unknown tool: incident_create", "Unknown tool: incident_create").permanent


def test_a_key_or_token_echoed_in_an_error_never_reaches_the_message() -> None:
    secret = "inc-live-Zq7XkP2vR9-MUST-NOT-LEAK"
    for text in (
        f"Unauthorized: invalid Authorization: Bearer {secret}",
        f"Forbidden for api_key={secret}",
        json.dumps({"status": 401, "errors": [{"message": f"bad bearer {secret}"}]}),
    ):
        failure = from_error_text("incident_create", text)
        assert secret not in failure.message and secret not in failure.describe()
