"""Reading the maintenance API's requests (`POST /maintenance`, `GET /maintenance`, `DELETE /maintenance/{id}`):
the credential (webhook secret `maintenance`, Bearer or Basic), the body of a new window, a window id.

Every refusal is a `WebhookRejected` (a JSON 4xx with a reason and, for a bad field, its name); the ingest handler
stores what was read.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from alert_courier.domain.maintenance import WINDOW_ID_PATTERN, MaintenanceWindow, WindowRequest, WindowTimesInvalid
from alert_courier.ingress.credentials import SecretLookup, SecretReread, check_with_one_reread, require_shared_secret
from alert_courier.ingress.rejection import (
    WebhookRejected,
    body_too_large,
    invalid_json,
    unrepresentable_text,
    unsupported_media_type,
    wrong_shape,
)
from alert_courier.ingress.unicode_text import lone_surrogate_at
from alert_courier.ingress.webhook import WebhookRequest

MAINTENANCE_SECRET = "maintenance"  # the webhook secret `<prefix>maintenance` authenticates the API
MAX_WINDOW_BODY_BYTES = 64 * 1024


def authenticate(request: WebhookRequest, valid_secrets: SecretLookup, reread: SecretReread | None = None) -> None:
    check_with_one_reread(
        lambda valid: require_shared_secret(request, valid), MAINTENANCE_SECRET, valid_secrets, reread
    )


def unknown_window(window_id: str) -> WebhookRejected:
    return WebhookRejected(404, "unknown_window", f"no maintenance window {window_id[:40]!r}")


def checked_window_id(window_id: str) -> str:
    if not re.fullmatch(WINDOW_ID_PATTERN, window_id):
        raise unknown_window(window_id)
    return window_id


def read_window_request(request: WebhookRequest, window_id: str, now: datetime) -> MaintenanceWindow:
    """The window a `POST /maintenance` body opens (after `authenticate`): 413, 415, 400, 422 with the field."""
    if len(request.body) > MAX_WINDOW_BODY_BYTES:
        raise body_too_large(len(request.body), MAX_WINDOW_BODY_BYTES)
    media_type = request.content_type.split(";", 1)[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise unsupported_media_type(media_type)
    try:
        document: Any = json.loads(request.body)
    except (UnicodeDecodeError, ValueError) as error:
        raise invalid_json(str(error)[:120]) from None
    if not isinstance(document, dict):
        raise wrong_shape("(body)", "give a JSON object with match, ends_at or duration, reason and created_by")
    where = lone_surrogate_at(document)
    if where is not None:
        raise unrepresentable_text(where)
    try:
        window_request = WindowRequest.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(body)"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise wrong_shape(field, message) from None
    try:
        return window_request.window(window_id, now)
    except WindowTimesInvalid as error:
        raise wrong_shape(error.field, str(error)) from None


def who_ended(query: dict[str, str] | None) -> str:
    """`DELETE …?by=WHO`: printable text, at most 200 characters (default: "api")."""
    by = "".join(char for char in str((query or {}).get("by") or "") if char.isprintable()).strip()[:200]
    return by or "api"


def too_many_windows(limit: int) -> WebhookRejected:
    return WebhookRejected(
        409,
        "too_many_windows",
        f"{limit} maintenance windows are open or scheduled already; end some (DELETE /maintenance/<id>) first",
    )
