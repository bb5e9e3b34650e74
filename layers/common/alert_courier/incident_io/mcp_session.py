"""The MCP session one container keeps open to incident.io: opened with the API key (re-read after a 401),
its tool schemas listed once, dropped and reopened when the transport dies; and what the HTTP layer saw of
each request (the SDK keeps no status code)."""

from __future__ import annotations

import asyncio
import contextvars
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from alert_courier.incident_io.retry_policy import parse_retry_after
from alert_courier.incident_io.tool_errors import FailureKind, ToolCallError, kind_for_status

if TYPE_CHECKING:
    import httpx2
    from mcp import Client
    from pydantic import SecretStr


class ApiKey(Protocol):
    """The organisation's API key (the real one is `aws.api_key.ApiKeySource`); `fresh` re-reads it."""

    def get(self, *, fresh: bool = False) -> SecretStr: ...


@dataclass
class HttpOutcome:
    """What the HTTP layer saw for one tool call (the SDK keeps no status code)."""

    requests: int = 0
    status: int | None = None
    retry_after: str | None = None


current_outcome: contextvars.ContextVar[HttpOutcome | None] = contextvars.ContextVar(
    "alert_courier_http_outcome", default=None
)


async def _count_request(_request: httpx2.Request) -> None:
    outcome = current_outcome.get()
    if outcome is not None:
        outcome.requests += 1


async def _record_response(response: httpx2.Response) -> None:
    outcome = current_outcome.get()
    if outcome is not None:
        outcome.status = response.status_code
        outcome.retry_after = response.headers.get("retry-after")


@dataclass
class Connection:
    client: Client | None = None
    input_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    alive: bool = True
    error: BaseException | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class McpSession:
    """Lives on the client's event loop; `ensure` is called by every attempt, `drop` after a dead transport."""

    def __init__(self, url: str, api_key: ApiKey, *, mode: str, call_timeout_seconds: float) -> None:
        self._url = url
        self._api_key = api_key
        self._mode = mode
        self._call_timeout = call_timeout_seconds
        self._connection: Connection | None = None
        self._connect_lock: asyncio.Lock | None = None
        self._fresh_key_next = False
        self.connects = 0

    @property
    def current(self) -> Connection | None:
        return self._connection

    def reread_key_next(self) -> None:
        """The key may have been rotated: the next connection reads the secret afresh."""
        self._fresh_key_next = True

    async def ensure(self) -> Connection:
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._connection is not None and self._connection.alive:
                return self._connection
            self._connection = await self._open()
            return self._connection

    async def _open(self) -> Connection:
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        fresh = self._fresh_key_next
        self._fresh_key_next = False
        key = self._api_key.get(fresh=fresh)
        connection = Connection()
        ready = asyncio.Event()

        async def own() -> None:
            http = httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {key.get_secret_value()}"},
                timeout=httpx2.Timeout(10.0, read=self._call_timeout + 5.0),
                event_hooks={"request": [_count_request], "response": [_record_response]},
            )
            outcome = HttpOutcome()
            current_outcome.set(outcome)
            try:
                transport = streamable_http_client(self._url, http_client=http)
                async with Client(transport, mode=self._mode, read_timeout_seconds=self._call_timeout) as client:
                    connection.input_schemas = await _list_input_schemas(client)
                    connection.client = client
                    ready.set()
                    await connection.stop.wait()
            except BaseException as error:
                connection.error = _connect_error(error, outcome)
            finally:
                connection.alive = False
                ready.set()
                await http.aclose()

        connection.task = asyncio.create_task(own())
        try:
            await ready.wait()
        except asyncio.CancelledError:
            connection.stop.set()  # the caller gave up: don't leave a session open that nobody holds
            raise
        if connection.client is None:
            error = connection.error or ToolCallError(FailureKind.TRANSIENT, "could not connect")
            raise (error if isinstance(error, ToolCallError) else ToolCallError(FailureKind.TRANSIENT, str(error)))
        self.connects += 1
        return connection

    async def drop(self) -> None:
        if self._connection is not None:
            self._connection.alive = False
            self._connection.stop.set()
            self._connection = None


async def _list_input_schemas(client: Client) -> dict[str, dict[str, Any]]:
    schemas: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    for _ in range(20):
        page = await client.list_tools(cursor=cursor)
        for tool in page.tools:
            schemas[tool.name] = dict(tool.input_schema)
        cursor = page.next_cursor
        if cursor is None:
            break
    return schemas


def _connect_error(error: BaseException, outcome: HttpOutcome) -> ToolCallError:
    if outcome.status is not None and outcome.status >= 400:
        return ToolCallError(
            kind_for_status(outcome.status),
            f"HTTP {outcome.status} while connecting to MCP",
            status=outcome.status,
            retry_after=parse_retry_after(outcome.retry_after),
        )
    leaf = error
    while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
        leaf = leaf.exceptions[0]
    return ToolCallError(FailureKind.TRANSIENT, f"could not connect to the MCP server: {type(leaf).__name__}")
