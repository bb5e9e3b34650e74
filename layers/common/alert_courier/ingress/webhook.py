"""What one inbound webhook request is, independent of API Gateway: headers, raw body, arrival time."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class WebhookRequest:
    source: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    correlation_id: str
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @classmethod
    def from_http_api_event(cls, source: str, event: dict[str, Any]) -> WebhookRequest:
        """Build from an API Gateway HTTP API (payload 2.0) event."""
        raw_body = event.get("body") or ""
        body = base64.b64decode(raw_body) if event.get("isBase64Encoded") else raw_body.encode("utf-8")
        headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
        request_id = (event.get("requestContext") or {}).get("requestId") or ""
        return cls(source=source, headers=headers, body=body, correlation_id=str(request_id))
