"""Reads one webhook request into normalised alerts, refusing anything hostile with a precise 4xx reason."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ValidationError

from alert_courier.domain.alert import Alert
from alert_courier.ingress.credentials import SecretReread, check_with_one_reread
from alert_courier.ingress.limits import within_limits
from alert_courier.ingress.rejection import (
    WebhookRejected,
    body_too_large,
    invalid_json,
    unknown_source,
    unrepresentable_text,
    unsupported_media_type,
    wrong_shape,
)
from alert_courier.ingress.unicode_text import lone_surrogate_at
from alert_courier.ingress.webhook import WebhookRequest
from alert_courier.sources import SOURCES, WebhookSource

SecretLookup = Callable[[str], Sequence[str]]
Checkpoint = Callable[[], None]
"""Called between the steps of reading a request (and every `CHECK_EVERY` alerts): raises to stop when the
caller's time budget is spent, so a slow parse is answered in time instead of timing out."""
CHECK_EVERY = 256


def _no_checkpoint() -> None:
    return None


@dataclass(frozen=True)
class Intake:
    source: str
    alerts: list[Alert]
    truncated_alerts: int = 0
    dedup_key: str | None = None
    """Set for sources that answer with it (generic events): the key to acknowledge/resolve with."""
    answer_status: int = 202
    outcome: str = "accepted"
    """A source's handshake (an SNS subscription confirmation) answers e.g. 200 "subscription_confirmed"."""


def read_webhook(
    request: WebhookRequest,
    valid_secrets: SecretLookup,
    max_body_bytes: int,
    *,
    now: datetime | None = None,
    reread: SecretReread | None = None,
    checkpoint: Checkpoint = _no_checkpoint,
) -> Intake:
    """Checks in order: source 404, size 413, credentials 401, content type 415, JSON 400, shape 422.

    A source whose credential is in the body (generic events, SNS signatures) is parsed first: 415/400 come before
    401. A source's handshake (an SNS subscription confirmation) may then answer instead of accepting alerts.
    `now` (default: the request's arrival time) is what signature timestamps are checked against. A credential
    the cached secret refuses is checked once more on `reread`'s values (a rotation the cache has not seen).
    `checkpoint` is called between the steps and while normalising; whatever it raises ends the reading.
    """
    source = SOURCES.get(request.source)
    if source is None:
        raise unknown_source(request.source)
    if len(request.body) > max_body_bytes:
        raise body_too_large(len(request.body), max_body_bytes)
    moment = now or request.received_at
    document = _read_json(request, source, checkpoint) if source.credentials_in_body else None
    check_with_one_reread(
        lambda valid: source.authenticate(request, document, valid, moment), source.name, valid_secrets, reread
    )
    if not source.credentials_in_body:
        document = _read_json(request, source, checkpoint)
    payload = _validated(source.model, document)
    checkpoint()
    handshake = source.handshake(payload) if source.handshake is not None else None
    if handshake is not None:
        return Intake(source=source.name, alerts=[], answer_status=handshake.status, outcome=handshake.outcome)
    alerts = _normalised(source, payload, request, checkpoint)
    return Intake(
        source=source.name,
        alerts=alerts,
        truncated_alerts=int(getattr(payload, "truncated_alerts", 0)),
        dedup_key=alerts[0].dedup_key if source.answers_dedup_key and alerts else None,
    )


def _read_json(request: WebhookRequest, source: WebhookSource, checkpoint: Checkpoint) -> object:
    _require_json_content_type(request, source)
    checkpoint()
    document = _parse_json(request.body)
    checkpoint()
    where = lone_surrogate_at(document, checkpoint)
    if where is not None:
        raise unrepresentable_text(where)
    return document


def _validated(model: type[BaseModel], document: object) -> BaseModel:
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise _shape_rejection(error, prefix="") from None


def _normalised(
    source: WebhookSource, payload: BaseModel, request: WebhookRequest, checkpoint: Checkpoint
) -> list[Alert]:
    alerts: list[Alert] = []
    try:
        for alert in source.normalise(payload):  # lazy for the many-alert sources: the checkpoint runs between
            alerts.append(within_limits(alert.model_copy(update={"received_at": request.received_at})))
            if len(alerts) % CHECK_EVERY == 0:
                checkpoint()
    except ValidationError as error:
        raise _shape_rejection(error, prefix="alert.") from None
    checkpoint()
    return alerts


def _shape_rejection(error: ValidationError, prefix: str) -> WebhookRejected:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    field = f"{prefix}{location}" if location else prefix.rstrip(".") or "body"
    return wrong_shape(field, first["msg"])


def _require_json_content_type(request: WebhookRequest, source: WebhookSource) -> None:
    media_type = request.content_type.split(";", 1)[0].strip().lower()
    if media_type in source.content_types or media_type.endswith("+json"):
        return
    raise unsupported_media_type(request.content_type or "(none)")


def _parse_json(body: bytes) -> object:
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise invalid_json("not UTF-8") from None
    except json.JSONDecodeError as error:
        raise invalid_json(f"{error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise invalid_json("nested too deeply") from None
    except ValueError:
        raise invalid_json("a number is too long") from None
