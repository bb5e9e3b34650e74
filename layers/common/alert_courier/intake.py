"""Reads one webhook request into normalised alerts, refusing anything hostile with a precise 4xx reason."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from .alert import Alert
from .credentials import require_shared_secret
from .rejection import body_too_large, invalid_json, unknown_source, unsupported_media_type, wrong_shape
from .sources import SOURCES, WebhookSource
from .webhook import WebhookRequest

SecretLookup = Callable[[str], Sequence[str]]


@dataclass(frozen=True)
class Intake:
    source: str
    alerts: list[Alert]
    truncated_alerts: int = 0


def read_webhook(request: WebhookRequest, valid_secrets: SecretLookup, max_body_bytes: int) -> Intake:
    source = SOURCES.get(request.source)
    if source is None:
        raise unknown_source(request.source)
    if len(request.body) > max_body_bytes:
        raise body_too_large(len(request.body), max_body_bytes)
    require_shared_secret(request, valid_secrets(source.name))
    _require_json_content_type(request, source)
    document = _parse_json(request.body)
    try:
        payload = source.model.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise wrong_shape(field, first["msg"]) from None
    alerts = [alert.model_copy(update={"received_at": request.received_at}) for alert in source.normalise(payload)]
    return Intake(source=source.name, alerts=alerts, truncated_alerts=int(getattr(payload, "truncated_alerts", 0)))


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
