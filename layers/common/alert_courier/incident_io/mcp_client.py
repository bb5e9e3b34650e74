"""One MCP client per warm container for incident.io's tools: one HTTP request per call, typed failures.

The official `mcp` SDK is async and its anyio scopes are bound to the task that opened them, so one task
on a long-lived event loop (a daemon thread) owns the connection and every call is submitted to that loop.
Lambda freezes the thread between invocations; the connection is reused on the next warm invocation.

The SDK (with httpx2 and jsonschema, 0.3–0.8 s to import) is loaded by the first call, on the caller's thread
and before that call's timeout starts: a container that only ever records alerts joining open groups (most of
a storm) never pays for it, and the function's cold start stays near a plain boto3 one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from alert_courier.incident_io.call_budget_gate import CallBudgetGate
from alert_courier.incident_io.mcp_session import ApiKey, Connection, HttpOutcome, McpSession, current_outcome
from alert_courier.incident_io.retry_policy import RetryPolicy, parse_retry_after
from alert_courier.incident_io.tool_errors import FailureKind, ToolCallError, from_error_text, kind_for_status
from alert_courier.incident_io.tool_results import result_document
from alert_courier.incident_io.tool_table import TOOLS

if TYPE_CHECKING:
    import jsonschema

REQUEST_TIMEOUT_CODE = -32001
CONNECTION_CLOSED_CODE = -32000  # the SDK's own code when the transport under a request died
SAFETY_MARGIN_SECONDS = 2.0
MIN_ATTEMPT_SECONDS = 1.0  # no attempt (or wait for one) unless at least this much call time is left
# A 500, 502 or 504 may come after the server acted (e.g. a gateway giving up on a slow backend): as
# uncertain as a timeout. A 429 or 503 means the request was turned away.
MAY_HAVE_ACTED_STATUSES = frozenset({500, 502, 504})
_T = TypeVar("_T")
_sdk_import_lock = threading.Lock()


def load_sdk() -> None:
    """Imports the MCP SDK once per process. One thread at a time: concurrent first imports of a package with
    import cycles can see half-initialised modules."""
    with _sdk_import_lock:
        import httpx2  # noqa: F401
        import jsonschema  # noqa: F401
        import mcp.client.streamable_http
        import mcp.shared.exceptions  # noqa: F401


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="mcp-loop", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)

    def run(self, coroutine: Coroutine[Any, Any, _T], timeout: float) -> _T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise


class IncidentIoMcp:
    """Calls incident.io's MCP tools as a service actor. Thread-safe; create once per container."""

    def __init__(
        self,
        url: str,
        api_key: ApiKey,
        *,
        mode: str = "auto",
        call_timeout_seconds: float = 15.0,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        budget: CallBudgetGate | None = None,
    ) -> None:
        self._url = url
        self._budget = budget
        self._api_key = api_key
        self._mode = mode
        self._call_timeout = call_timeout_seconds
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._monotonic = monotonic
        self._loop = _LoopThread()
        self._session = McpSession(url, api_key, mode=mode, call_timeout_seconds=call_timeout_seconds)

    def __repr__(self) -> str:
        return f"IncidentIoMcp(url={self._url!r}, mode={self._mode!r})"

    @property
    def connects(self) -> int:
        """Sessions opened so far (one per container while nothing breaks)."""
        return self._session.connects

    # ---- public, synchronous ------------------------------------------------------------------

    def input_schemas(self, *, remaining_seconds: Callable[[], float] | None = None) -> dict[str, dict[str, Any]]:
        """The advertised input schemas (listed once per connection); connecting is retried like a call."""
        # Listed once per connection, with the session's own requests: not drawn from the call budget.
        return self._with_retries("tools/list", self._schemas_once, True, remaining_seconds, budgeted=False)

    def close(self) -> None:
        """Ends the session and stops the loop thread (tests; a Lambda container just freezes)."""

        async def close() -> None:
            connection = self._session.current
            await self._session.drop()
            if connection is not None and connection.task is not None:
                await asyncio.wait({connection.task}, timeout=SAFETY_MARGIN_SECONDS)

        with contextlib.suppress(TimeoutError):
            self._loop.run(close(), SAFETY_MARGIN_SECONDS + 1)
        self._loop.stop()

    def call_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        *,
        retry_ambiguous: bool = False,
        remaining_seconds: Callable[[], float] | None = None,
    ) -> dict[str, Any]:
        """Validates, calls and retries within the budget; returns the structured result or raises ToolCallError.

        `retry_ambiguous` says a repeat is harmless (read-only tool, or the call carries an idempotency key).
        """
        self.validate_arguments(name, arguments, remaining_seconds=remaining_seconds)
        return self._with_retries(
            name,
            lambda timeout: self._call_once(name, arguments, timeout),
            retry_ambiguous,
            remaining_seconds,
            pages=self._may_page(name, arguments),
        )

    def _may_page(self, name: str, arguments: dict[str, Any]) -> bool:
        """A call that may send a page (incident.io's 60/min escalation bucket): an execute, or any escalation call
        when the tool has no draft step."""
        if name != TOOLS["escalate"]:
            return False
        has_draft_step = "action" in (self.input_schemas().get(name, {}).get("properties") or {})
        return arguments.get("action") == "execute" or not has_draft_step

    def read_resource(self, uri: str, *, remaining_seconds: Callable[[], float] | None = None) -> dict[str, Any]:
        return self._with_retries(uri, lambda timeout: self._read_once(uri, timeout), True, remaining_seconds)

    def describe_server(self) -> dict[str, Any]:
        """What the server says of itself: {"server": name/version/instructions, "tools": tools/list in full
        (name, description, inputSchema), "resources": resources/list} (for `doctor --record`)."""
        return self._with_retries("tools/list", self._describe_once, True, None)

    def validate_arguments(
        self, name: str, arguments: dict[str, Any], *, remaining_seconds: Callable[[], float] | None = None
    ) -> None:
        """Fails closed: an unknown tool or arguments outside its advertised schema are permanent errors."""
        schemas = self.input_schemas(remaining_seconds=remaining_seconds)  # loads the SDK, jsonschema with it
        if name not in schemas:
            raise ToolCallError(FailureKind.PERMANENT, f"the server offers no tool named {name!r}", tool=name)
        violation = schema_violation(schemas[name], arguments)
        if violation is not None:
            field_path, message = violation
            raise ToolCallError(
                FailureKind.PERMANENT,
                f"arguments do not match {name}'s schema at {field_path!r}: {message}",
                tool=name,
                field=field_path,
                code="schema_mismatch",
            )

    # ---- retries ---------------------------------------------------------------------------------

    def _with_retries(
        self,
        what: str,
        attempt_once: Callable[[float], Coroutine[Any, Any, dict[str, Any]]],
        retry_ambiguous: bool,
        remaining_seconds: Callable[[], float] | None,
        *,
        pages: bool = False,
        budgeted: bool = True,
    ) -> dict[str, Any]:
        load_sdk()
        started = self._monotonic()
        attempt = 0
        reread_key = False
        while True:
            attempt += 1
            timeout = self._timeout(remaining_seconds, what)
            if self._budget is not None and budgeted:
                self._budget.admit(what, pages=pages, remaining=remaining_seconds)
            try:
                return self._loop.run(attempt_once(timeout), timeout + SAFETY_MARGIN_SECONDS)
            except TimeoutError:
                failure = ToolCallError(
                    FailureKind.AMBIGUOUS, f"no answer within {timeout:.1f}s; the server may have acted", tool=what
                )
            except ToolCallError as error:
                failure = error
            if failure.status == 429 and self._budget is not None:
                self._budget.rate_limited(failure.retry_after)
            if failure.kind is FailureKind.UNAUTHORIZED and not reread_key:
                reread_key = True  # the key may have been rotated: re-read the secret once, reconnect
                self._session.reread_key_next()
                self._loop.run(self._session.drop(), SAFETY_MARGIN_SECONDS)
                continue
            retryable = failure.kind is FailureKind.TRANSIENT or (
                failure.kind is FailureKind.AMBIGUOUS and retry_ambiguous
            )
            if not retryable or attempt >= self._policy.max_attempts:
                raise failure
            delay = self._policy.delay(attempt, failure.retry_after)
            spent = self._monotonic() - started
            left = remaining_seconds() - SAFETY_MARGIN_SECONDS if remaining_seconds else float("inf")
            if spent + delay > self._policy.budget_seconds or delay + MIN_ATTEMPT_SECONDS > left:
                raise failure  # waiting would leave no time for the next attempt: report what really failed
            self._sleep(delay)

    def _timeout(self, remaining_seconds: Callable[[], float] | None, what: str) -> float:
        if remaining_seconds is None:
            return self._call_timeout
        left = remaining_seconds() - SAFETY_MARGIN_SECONDS
        if left < MIN_ATTEMPT_SECONDS:
            raise ToolCallError(FailureKind.TRANSIENT, "not enough invocation time left to call safely", tool=what)
        return min(self._call_timeout, left)

    # ---- on the loop -----------------------------------------------------------------------------

    async def _schemas_once(self, timeout: float) -> dict[str, Any]:
        connection = await self._session.ensure()
        return dict(connection.input_schemas)

    async def _describe_once(self, timeout: float) -> dict[str, Any]:
        connection = await self._session.ensure()
        client = connection.client
        assert client is not None
        tools: list[dict[str, Any]] = []
        resources: list[dict[str, Any]] = []
        try:
            cursor: str | None = None
            for _ in range(20):
                page = await asyncio.wait_for(client.list_tools(cursor=cursor), timeout)
                tools += [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in page.tools]
                if (cursor := page.next_cursor) is None:
                    break
            cursor = None
            for _ in range(20):
                listed = await asyncio.wait_for(client.list_resources(cursor=cursor), timeout)
                resources += [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in listed.resources]
                if (cursor := listed.next_cursor) is None:
                    break
        except TimeoutError:
            raise ToolCallError(FailureKind.TRANSIENT, f"no answer within {timeout:.1f}s", tool="tools/list") from None
        info = client.server_info
        server = {"instructions": client.instructions} if client.instructions else {}
        if info is not None:
            server |= {"name": info.name, "version": info.version}
        return {"server": server, "tools": tools, "resources": resources}

    async def _call_once(self, name: str, arguments: dict[str, Any], timeout: float) -> dict[str, Any]:
        connection = await self._session.ensure()
        assert connection.client is not None
        outcome = HttpOutcome()
        token = current_outcome.set(outcome)
        try:
            result = await connection.client.call_tool(name, arguments, read_timeout_seconds=timeout)
        except Exception as error:
            raise await self._classify(name, error, outcome, connection, timeout) from None
        finally:
            current_outcome.reset(token)
        text = "".join(getattr(block, "text", "") for block in result.content)
        if result.is_error:
            raise _may_have_acted(from_error_text(name, text))
        return result_document(name, result.structured_content, text)

    async def _read_once(self, uri: str, timeout: float) -> dict[str, Any]:
        connection = await self._session.ensure()
        assert connection.client is not None
        outcome = HttpOutcome()
        token = current_outcome.set(outcome)
        try:
            result = await asyncio.wait_for(connection.client.read_resource(uri), timeout)
        except TimeoutError:
            raise ToolCallError(
                FailureKind.AMBIGUOUS, f"no answer within {timeout:.1f}s; the server may have acted", tool=uri
            ) from None
        except Exception as error:
            raise await self._classify(uri, error, outcome, connection, timeout) from None
        finally:
            current_outcome.reset(token)
        text = "".join(getattr(content, "text", "") for content in result.contents)
        return result_document(uri, None, text, prose_allowed=False)

    async def _classify(
        self, name: str, error: Exception, outcome: HttpOutcome, connection: Connection, timeout: float
    ) -> ToolCallError:
        from mcp.shared.exceptions import MCPError

        retry_after = parse_retry_after(outcome.retry_after)
        if isinstance(error, MCPError) and error.code == REQUEST_TIMEOUT_CODE:
            return ToolCallError(
                FailureKind.AMBIGUOUS, f"no answer within {timeout:.1f}s; the server may have acted", tool=name
            )
        if outcome.status is not None and outcome.status >= 400:
            if outcome.status == 404:  # session expired (legacy servers): reconnect; the call did not run
                await self._session.drop()
                return ToolCallError(FailureKind.TRANSIENT, "MCP session expired", tool=name, status=404)
            return _may_have_acted(
                ToolCallError(
                    kind_for_status(outcome.status),
                    f"HTTP {outcome.status} from the MCP server",
                    tool=name,
                    status=outcome.status,
                    retry_after=retry_after,
                )
            )
        if isinstance(error, MCPError) and error.code != CONNECTION_CLOSED_CODE and connection.alive:
            return _may_have_acted(from_error_text(name, error.error.message if error.error else str(error)))
        # The transport died under the call (the SDK then closes the whole session): reconnect next time.
        # Once the request was handed to HTTP the server may have acted on it.
        await self._session.drop()
        kind = FailureKind.AMBIGUOUS if outcome.requests else FailureKind.TRANSIENT
        return ToolCallError(kind, f"connection failed: {type(error).__name__}", tool=name)


def schema_violation(schema: dict[str, Any], arguments: dict[str, Any]) -> tuple[str, str] | None:
    """The argument at fault and why, when `arguments` break `schema` (JSON Schema 2020-12); None when they fit."""
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(arguments))
    return None if error is None else (_field_of(error), error.message)


def _may_have_acted(failure: ToolCallError) -> ToolCallError:
    if failure.kind is FailureKind.TRANSIENT and failure.status in MAY_HAVE_ACTED_STATUSES:
        failure.kind = FailureKind.AMBIGUOUS
    return failure


def _field_of(error: jsonschema.ValidationError) -> str:
    """The argument at fault; for a missing or unexpected property jsonschema points at the parent object."""
    path = ".".join(str(part) for part in error.absolute_path)
    instance = error.instance if isinstance(error.instance, dict) else {}
    if error.validator == "required":
        names = [name for name in error.validator_value if name not in instance]
    elif error.validator == "additionalProperties":
        names = sorted(set(instance) - set((error.schema or {}).get("properties", {})))
    else:
        names = []
    return ".".join(part for part in (path, names[0] if names else "") if part) or "arguments"
