"""Why a webhook was refused: a stable machine-readable code, an HTTP status and a human reason."""

from __future__ import annotations

from typing import Any


class WebhookRejected(Exception):
    """Raised while reading a request; turned into a JSON 4xx answer in one place (the ingest handler)."""

    def __init__(self, status: int, code: str, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason
        self.field = field

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "reason": self.reason}
        if self.field:
            error["field"] = self.field
        return {"error": error}


def unknown_source(source: str) -> WebhookRejected:
    return WebhookRejected(404, "unknown_source", f"no monitoring source called {source[:64]!r} is configured")


def unauthorized(reason: str) -> WebhookRejected:
    return WebhookRejected(401, "unauthorized", reason)


def body_too_large(size: int, limit: int) -> WebhookRejected:
    return WebhookRejected(413, "body_too_large", f"body is {size} bytes, the limit is {limit}")


def unsupported_media_type(content_type: str) -> WebhookRejected:
    return WebhookRejected(415, "unsupported_media_type", f"content type {content_type[:80]!r} is not JSON")


def invalid_json(detail: str) -> WebhookRejected:
    return WebhookRejected(400, "invalid_json", f"body is not valid JSON: {detail}")


def wrong_shape(field: str, detail: str) -> WebhookRejected:
    return WebhookRejected(422, "invalid_payload", f"{field}: {detail}", field=field)


def unrepresentable_text(field: str) -> WebhookRejected:
    return WebhookRejected(
        422,
        "invalid_text",
        f"{field}: holds a lone UTF-16 surrogate (e.g. \\ud800), which is not text and cannot be stored",
        field=field,
    )
