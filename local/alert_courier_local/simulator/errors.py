"""incident.io-shaped API errors: `{"type", "status", "request_id", "errors": [{"code", "message", "source"}]}`."""

from __future__ import annotations

import json
from typing import Any

from .ids import new_request_id

ERROR_TYPES: dict[int, str] = {
    400: "bad_request",
    401: "authentication_error",
    403: "resource_forbidden",
    404: "not_found",
    409: "conflict",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def error_type_for(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "internal_error" if status >= 500 else "bad_request"


class IncidentIoError(Exception):
    """A failure the simulator reports the way incident.io's API does."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        rate_limit: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.rate_limit = rate_limit
        self.request_id = new_request_id()

    @property
    def type(self) -> str:
        return error_type_for(self.status)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["source"] = {"field": self.field}
        body: dict[str, Any] = {
            "type": self.type,
            "status": self.status,
            "request_id": self.request_id,
            "errors": [error],
        }
        if self.rate_limit is not None:
            body["rate_limit"] = self.rate_limit
        return body

    def to_json(self) -> str:
        return json.dumps(self.body())

    def __repr__(self) -> str:
        return f"IncidentIoError({self.status}, {self.code!r}, {self.message!r}, field={self.field!r})"


def validation_error(message: str, *, field: str | None = None, code: str = "invalid_value") -> IncidentIoError:
    return IncidentIoError(422, code, message, field=field)


def is_required(field: str, message: str | None = None) -> IncidentIoError:
    return IncidentIoError(422, "is_required", message or f"{field} is required", field=field)


def not_found(what: str, identifier: str) -> IncidentIoError:
    return IncidentIoError(404, "not_found", f"{what} {identifier!r} was not found")


def conflict(message: str) -> IncidentIoError:
    return IncidentIoError(409, "conflict", message)


def forbidden(message: str, *, code: str = "forbidden") -> IncidentIoError:
    return IncidentIoError(403, code, message)


def unauthenticated(message: str) -> IncidentIoError:
    return IncidentIoError(401, "missing_authorization_material", message)


def server_error(
    status: int = 500, message: str = "Something went wrong on our side. Please retry."
) -> IncidentIoError:
    return IncidentIoError(status, error_type_for(status), message)


def too_many_requests(name: str, limit: int, retry_after_rfc3339: str) -> IncidentIoError:
    return IncidentIoError(
        429,
        "too_many_requests",
        f"Rate limit '{name}' exceeded: {limit} requests per minute",
        rate_limit={"name": name, "limit": limit, "remaining": 0, "retry_after": retry_after_rfc3339},
    )
