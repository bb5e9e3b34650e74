"""The simulator's HTTP face: MCP streamable HTTP at /mcp behind a gateway, REST alert endpoints, /_sim/*.

/mcp is served by the official SDK's low-level `Server` (tools and resources registered from the simulator's
contract verbatim: contract.json, or the recording LOCAL_SIMULATOR_CONTRACT names) and its streamable-HTTP
session manager, which answers both the stateless 2026-07-28 era and the legacy initialize/session era. Before
the SDK sees a request, the gateway counts it, checks the bearer key (401), expires legacy sessions, applies
the rate limits (429) and the tool-call faults that live at the HTTP level.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import mcp_types
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from .errors import IncidentIoError, server_error, unauthenticated, validation_error
from .faults import ToolFault
from .ratelimit import RateVerdict
from .schemas import input_schema, tool_definitions
from .simulator import Simulator, UnknownTool
from .styles import plain_text_of, prose_of

MCP_PATH = "/mcp"
ORGANISATION_URI = "config://organisation"
SERVER_NAME = "incident-io-local-simulator"
SERVER_INSTRUCTIONS = (
    "Local stand-in for incident.io's remote MCP server (alert-courier). Severity, status and incident type "
    "IDs are in the config://organisation resource. escalation_create is two-step: draft, then execute."
)
TOOL_FAULT_SCOPE_KEY = "alert_courier.simulator.tool_fault"
# uvicorn closes the connection without writing a response when an ASGI app returns a value instead of
# None; that is the only way to drop a request on the floor from inside ASGI. It logs the value, hence
# the sentence (and the log filter below).
DROP_CONNECTION = "alert-courier simulator dropped this connection on purpose (fault injection)"
SESSION_HEADER = b"mcp-session-id"

logger = logging.getLogger(__name__)


# ---- the MCP server (SDK low-level Server) ----------------------------------------------------------


def build_mcp_server(simulator: Simulator) -> Server[Any]:
    async def list_tools(
        ctx: ServerRequestContext[Any], params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListToolsResult:
        return mcp_types.ListToolsResult(tools=tool_definitions(simulator.tool_catalogue()))

    async def call_tool(
        ctx: ServerRequestContext[Any], params: mcp_types.CallToolRequestParams
    ) -> mcp_types.CallToolResult:
        fault = _tool_fault_of(ctx)
        injected = server_error(500) if fault.action == "tool_5xx" else None
        try:
            result = simulator.call_tool(params.name, params.arguments or {}, injected_error=injected)
        except UnknownTool:
            raise MCPError(code=mcp_types.INVALID_PARAMS, message=f"Unknown tool: {params.name}") from None
        except IncidentIoError as error:
            plain = simulator.error_style == "plain_text"
            text = plain_text_of(error) if plain else error.to_json()
            if simulator.emits_jsonrpc_errors:
                data = None if plain else error.body()
                raise MCPError(code=mcp_types.INTERNAL_ERROR, message=text, data=data) from None
            return mcp_types.CallToolResult(content=[_text(text)], is_error=True)
        if fault.action == "malformed":
            return _malformed(simulator.next_malformed_variant())
        return _answer(simulator.answer_style, params.name, result)

    async def list_resources(
        ctx: ServerRequestContext[Any], params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListResourcesResult:
        listed = [mcp_types.Resource.model_validate(resource) for resource in simulator.resources()]
        return mcp_types.ListResourcesResult(resources=listed)

    async def read_resource(
        ctx: ServerRequestContext[Any], params: mcp_types.ReadResourceRequestParams
    ) -> mcp_types.ReadResourceResult:
        if str(params.uri) != ORGANISATION_URI:
            raise MCPError(code=mcp_types.INVALID_PARAMS, message=f"Unknown resource: {params.uri}")
        text = json.dumps(simulator.organisation_config())
        contents = mcp_types.TextResourceContents(uri=ORGANISATION_URI, text=text, mime_type="application/json")
        return mcp_types.ReadResourceResult(contents=[contents])

    # No cache_hints: tools/list goes out with the SDK's default (no TTL), as a server that never set one.
    return Server(
        SERVER_NAME,
        version="2.0.0-sim",
        instructions=SERVER_INSTRUCTIONS,
        get_tool_input_schema=lambda name: input_schema(name, simulator.tool_catalogue()),
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )


def _tool_fault_of(ctx: ServerRequestContext[Any]) -> ToolFault:
    """The fault the gateway chose for this call; it rides on the HTTP request's ASGI scope."""
    scope = getattr(ctx.request, "scope", None)
    fault = scope.get(TOOL_FAULT_SCOPE_KEY) if isinstance(scope, dict) else None
    return fault if isinstance(fault, ToolFault) else ToolFault()


def _text(text: str) -> mcp_types.TextContent:
    return mcp_types.TextContent(type="text", text=text)


def _answer(style: str, tool: str, result: dict[str, Any]) -> mcp_types.CallToolResult:
    """The result in the chosen style (styles.py): structured content, JSON text only, or prose."""
    if style == "prose" and (prose := prose_of(tool, result)) is not None:
        return mcp_types.CallToolResult(content=[_text(prose)])
    if style == "structured":
        return mcp_types.CallToolResult(content=[_text(json.dumps(result))], structured_content=result)
    return mcp_types.CallToolResult(content=[_text(json.dumps(result))])


def _malformed(variant: str) -> mcp_types.CallToolResult:
    """A successful-looking result that breaks the contract: not a JSON object with the tool's top-level key."""
    if variant == "not_json":
        return mcp_types.CallToolResult(content=[_text("<html><body>upstream returned something odd</body></html>")])
    if variant == "wrong_shape":
        return mcp_types.CallToolResult(content=[_text('{"data": null}')], structured_content={"data": None})
    return mcp_types.CallToolResult(content=[])


# ---- the ASGI application ------------------------------------------------------------------------


class SimulatorApp:
    """The whole simulator as one ASGI app: /mcp through the gateway, everything else through Starlette."""

    def __init__(self, simulator: Simulator, *, host: str = "127.0.0.1") -> None:
        self.simulator = simulator
        self.mcp_server = build_mcp_server(simulator)
        self.session_manager = StreamableHTTPSessionManager(
            app=self.mcp_server, security_settings=_transport_security(host)
        )
        self._mcp = StreamableHTTPASGIApp(self.session_manager)
        self._routes = Starlette(routes=_rest_routes(simulator), lifespan=self._lifespan)

    def _lifespan(self, app: Starlette) -> AbstractAsyncContextManager[None]:
        return self.session_manager.run()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> str | None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == MCP_PATH:
            return await self._gateway(scope, receive, send)
        await self._routes(scope, receive, send)
        return None

    async def _gateway(self, scope: Scope, receive: Receive, send: Send) -> str | None:
        sim = self.simulator
        body = await _read_body(receive) if scope["method"] == "POST" else b""
        messages = _jsonrpc_messages(body)
        sim.count_mcp_request([_label(m) for m in messages] or [scope["method"]])

        api_key = _bearer_token(scope)
        if api_key is None or not sim.accepts_api_key(api_key):
            missing = "Send an API key as 'Authorization: Bearer <key>'."
            invalid = "The API key is not valid: it may have been rotated or deleted."
            await _error_response(unauthenticated(missing if api_key is None else invalid))(scope, receive, send)
            return None

        session_id = _header(scope, SESSION_HEADER)
        if session_id is not None and sim.is_session_expired(session_id):
            await _session_not_found()(scope, receive, send)
            return None

        tool, arguments = _tool_call(messages)
        if tool is not None:
            sim.count_tool_call(tool)
        verdict, limit_name = self._take_rate_tokens(api_key, tool, arguments)
        if not verdict.allowed:
            if tool is not None:
                retry = verdict.retry_after_seconds
                sim.note_fault(tool, arguments, f"429 rate limit {limit_name} (retry after {retry}s)")
            await _rate_limited_response(sim.rate_limited(limit_name, verdict), verdict)(scope, receive, send)
            return None

        fault = ToolFault()
        if tool is not None:
            fault = sim.decide_tool_fault()
            if fault.latency_ms:
                await anyio.sleep(fault.latency_ms / 1000)
            if fault.action != "none":
                sim.note_fault(tool, arguments, _fault_outcome(fault))
            if fault.action == "drop":
                return DROP_CONNECTION
            if fault.action == "http_error":
                await _http_fault_response(sim, fault)(scope, receive, send)
                return None
            scope[TOOL_FAULT_SCOPE_KEY] = fault

        replay = _replaying_receive(body, receive)
        if fault.action == "act_then_timeout":
            await self._mcp(scope, replay, _discard)  # the tool runs; its answer is never sent
            await anyio.sleep(fault.stall_ms / 1000)
            return DROP_CONNECTION
        await self._mcp(scope, replay, _with_rate_headers(send, sim, verdict))
        return None

    def _take_rate_tokens(self, api_key: str, tool: str | None, arguments: dict[str, Any]) -> tuple[RateVerdict, str]:
        """The key's general bucket, plus the escalation bucket for a call that sends a page."""
        verdict = self.simulator.take_request_token(api_key)
        if verdict.allowed and tool == "escalation_create" and arguments.get("action") == "execute":
            escalation_verdict = self.simulator.take_escalation_token(api_key)
            if not escalation_verdict.allowed:
                return escalation_verdict, "escalation_create"
        return verdict, "api_key"


def _transport_security(host: str) -> TransportSecuritySettings | None:
    """DNS-rebinding protection on loopback, as the SDK sets it up itself for a local server."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        return None
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )


class DroppedConnectionLogFilter(logging.Filter):
    """Hides uvicorn's error line for connections the simulator drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return DROP_CONNECTION not in record.getMessage()


# ---- gateway helpers ----------------------------------------------------------------------------


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying_receive(body: bytes, receive: Receive) -> Receive:
    """Hands the already-read body to the SDK, then passes through (so it still sees a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _discard(message: Message) -> None:
    return None


def _jsonrpc_messages(body: bytes) -> list[dict[str, Any]]:
    try:
        decoded = json.loads(body) if body else None
    except ValueError:
        return []
    items = decoded if isinstance(decoded, list) else [decoded]
    return [item for item in items if isinstance(item, dict)]


def _label(message: dict[str, Any]) -> str:
    method = message.get("method")
    return method if isinstance(method, str) else "response"


def _tool_call(messages: list[dict[str, Any]]) -> tuple[str | None, dict[str, Any]]:
    for message in messages:
        params = message.get("params")
        if message.get("method") == "tools/call" and isinstance(params, dict):
            arguments = params.get("arguments")
            return str(params.get("name")), arguments if isinstance(arguments, dict) else {}
    return None, {}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _bearer_token(scope: Scope) -> str | None:
    authorization = _header(scope, b"authorization") or ""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _fault_outcome(fault: ToolFault) -> str:
    if fault.action == "http_error":
        return f"fault http {fault.status}"
    if fault.action == "act_then_timeout":
        return f"fault act_then_timeout (performed, then stalls {fault.stall_ms} ms and drops)"
    return f"fault {fault.action}"


def _rate_headers(verdict: RateVerdict) -> dict[str, str]:
    seconds_to_full = (verdict.limit - verdict.remaining) * 60 / verdict.limit
    return {
        "X-RateLimit-Limit": f"{verdict.limit}, {verdict.limit};window=60",
        "X-RateLimit-Remaining": str(verdict.remaining),
        "X-RateLimit-Reset": str(int(time.time() + seconds_to_full)),
    }


def _with_rate_headers(send: Send, simulator: Simulator, verdict: RateVerdict) -> Send:
    """Adds the X-RateLimit-* headers and notes legacy session ids as the SDK hands them out."""
    extra = [(k.lower().encode(), v.encode()) for k, v in _rate_headers(verdict).items()]

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            session = next((value for key, value in headers if key.lower() == SESSION_HEADER), None)
            if session is not None:
                simulator.note_session(session.decode("latin-1"))
            message = {**message, "headers": headers + extra}
        await send(message)

    return send_with_headers


def _error_response(error: IncidentIoError, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def _rate_limited_response(error: IncidentIoError, verdict: RateVerdict) -> Response:
    return _error_response(error, {"Retry-After": str(verdict.retry_after_seconds)} | _rate_headers(verdict))


def _http_fault_response(simulator: Simulator, fault: ToolFault) -> Response:
    if fault.status == 429:
        verdict = RateVerdict(limit=simulator.rate_limit_per_minute, remaining=0, wait_seconds=fault.retry_after)
        return _rate_limited_response(simulator.rate_limited("api_key", verdict), verdict)
    return _error_response(server_error(fault.status, "The service is temporarily unavailable. Please retry."))


def _session_not_found() -> Response:
    """What the SDK answers for an unknown or expired session id (HTTP 404, per the MCP spec)."""
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": mcp_types.INVALID_REQUEST, "message": "Session not found"}}
    return JSONResponse(body, status_code=404)


# ---- REST and /_sim routes ----------------------------------------------------------------------


def _rest_routes(simulator: Simulator) -> list[Route]:
    async def alert_event(request: Request) -> Response:
        simulator.count_rest_request("alert_events")
        source_id = request.path_params["alert_source_config_id"]
        try:
            simulator.check_source_token("alert_events", source_id, _source_token(request))
            accepted = simulator.ingest_alert_event(source_id, await _json_body(request))
        except IncidentIoError as error:
            return _error_response(error)
        return JSONResponse(accepted, status_code=202)

    async def heartbeat(request: Request) -> Response:
        simulator.count_rest_request("heartbeat")
        source_id = request.path_params["alert_source_config_id"]
        try:
            simulator.check_source_token("heartbeat", source_id, _source_token(request))
        except IncidentIoError as error:
            return _error_response(error)
        simulator.record_heartbeat(source_id, request.method)
        return Response(status_code=204)

    async def state(request: Request) -> Response:
        return JSONResponse(simulator.state_snapshot())

    async def stats(request: Request) -> Response:
        return JSONResponse(simulator.stats_snapshot())

    async def reset(request: Request) -> Response:
        simulator.reset()
        return JSONResponse({"reset": True})

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(simulator.faults_snapshot())
        raw = await request.body()
        try:
            changes = json.loads(raw) if raw.strip() else {}
            if not isinstance(changes, dict):
                raise ValueError("send a JSON object of fault settings")
            return JSONResponse(simulator.set_faults(changes))
        except ValueError as problem:
            return JSONResponse({"error": str(problem)}, status_code=400)

    async def acknowledge_escalation(request: Request) -> Response:
        """A person acknowledging a page in incident.io; body (optional): {"user_id": "..."}."""
        try:
            raw = await request.body()
            body = json.loads(raw) if raw.strip() else {}
            user_id = body.get("user_id") if isinstance(body, dict) else None
            if user_id is not None and not isinstance(user_id, str):
                raise validation_error("user_id must be a user's id", field="user_id")
            answer = simulator.acknowledge_escalation_as_human(request.path_params["escalation_id"], user_id)
        except ValueError:
            return _error_response(IncidentIoError(400, "invalid_json", "The request body is not valid JSON"))
        except IncidentIoError as error:
            return _error_response(error)
        return JSONResponse(answer)

    async def close_incident(request: Request) -> Response:
        """A person closing an incident in incident.io; body (optional): {"user_id": "..."}."""
        try:
            raw = await request.body()
            body = json.loads(raw) if raw.strip() else {}
            user_id = body.get("user_id") if isinstance(body, dict) else None
            if user_id is not None and not isinstance(user_id, str):
                raise validation_error("user_id must be a user's id", field="user_id")
            answer = simulator.close_incident_as_human(request.path_params["incident_id"], user_id)
        except ValueError:
            return _error_response(IncidentIoError(400, "invalid_json", "The request body is not valid JSON"))
        except IncidentIoError as error:
            return _error_response(error)
        return JSONResponse(answer)

    return [
        Route("/v2/alert_events/http/{alert_source_config_id}", alert_event, methods=["POST"]),
        Route("/v2/heartbeat/{alert_source_config_id}/ping", heartbeat, methods=["GET", "POST"]),
        Route("/_sim/state", state, methods=["GET"]),
        Route("/_sim/stats", stats, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/faults", faults, methods=["GET", "POST"]),
        Route("/_sim/escalations/{escalation_id}/acknowledge", acknowledge_escalation, methods=["POST"]),
        Route("/_sim/incidents/{incident_id}/close", close_incident, methods=["POST"]),
    ]


def _source_token(request: Request) -> str | None:
    """An alert source token from `Authorization: Bearer` or the `?token=` query string."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.query_params.get("token") or None


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        raise IncidentIoError(400, "invalid_json", "The request body is not valid JSON") from None
