"""Sends alert events (and heartbeat pings) to incident.io's REST endpoints with each alert source's token.

These are not MCP tools: they are authenticated by the alert source's own secret (`SourceTokens`; read from
Secrets Manager by `aws.alert_source_tokens`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from alert_courier.incident_io.retry_policy import parse_retry_after
from alert_courier.incident_io.tool_errors import FailureKind, ToolCallError, from_error_text, kind_for_status
from alert_courier.incident_io.tool_table import ALERT_EVENT_PATH, HEARTBEAT_PATH

if TYPE_CHECKING:
    import httpx


class SourceTokens(Protocol):
    """Each alert source's token (the real one is `aws.alert_source_tokens.AlertSourceTokens`)."""

    def token(self, config_id: str, *, fresh: bool = False) -> str: ...


class IncidentIoRest:
    """httpx (~0.1 s to import) is loaded by the first request: most dispatch containers never send one.

    `before_first_request` runs once before that import, e.g. to have the X-Ray tracer patch httpx.
    """

    def __init__(
        self,
        base_url: str,
        tokens: SourceTokens,
        *,
        timeout_seconds: float = 10.0,
        client: httpx.Client | None = None,
        before_first_request: Callable[[], None] | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._tokens = tokens
        self._timeout_seconds = timeout_seconds
        self._http = client
        self._before_first_request = before_first_request

    def send_alert_event(self, config_id: str, event: dict[str, Any]) -> dict[str, Any]:
        response = self._post(config_id, ALERT_EVENT_PATH.format(alert_source_config_id=config_id), event)
        return response.json() if response.content else {}

    def ping_heartbeat(self, config_id: str) -> None:
        self._post(config_id, HEARTBEAT_PATH.format(alert_source_config_id=config_id), None)

    def _client(self) -> httpx.Client:
        if self._http is None:
            if self._before_first_request is not None:
                self._before_first_request()
            import httpx

            self._http = httpx.Client(timeout=self._timeout_seconds)
        return self._http

    def _post(self, config_id: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        import httpx

        http = self._client()
        what = f"POST {path.split('/{')[0]}"
        for fresh in (False, True):  # a 401 may mean the source token was rotated: re-read it once
            token = self._tokens.token(config_id, fresh=fresh)
            try:
                response = http.post(self._base + path, json=body, headers={"Authorization": f"Bearer {token}"})
            except httpx.TimeoutException:
                raise ToolCallError(FailureKind.AMBIGUOUS, "no answer in time", tool=what) from None
            except httpx.TransportError as error:
                raise ToolCallError(
                    FailureKind.TRANSIENT, f"connection failed: {type(error).__name__}", tool=what
                ) from None
            if response.status_code == 401 and not fresh:
                continue
            if response.status_code < 400:
                return response
            failure = (
                from_error_text(what, response.text)
                if response.text
                else ToolCallError(kind_for_status(response.status_code), f"HTTP {response.status_code}", tool=what)
            )
            failure.status = failure.status or response.status_code
            failure.kind = kind_for_status(response.status_code)
            failure.retry_after = parse_retry_after(response.headers.get("retry-after")) or failure.retry_after
            raise failure
        raise ToolCallError(FailureKind.UNAUTHORIZED, "the alert source token was refused", tool=what)
