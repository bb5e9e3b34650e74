"""The local front door: turns HTTP requests into API Gateway HTTP API (payload 2.0) events, as AWS would."""

from __future__ import annotations

import asyncio
import base64
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .lambda_runtime import LocalFunction
from .template_model import HttpRoute

API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024
TEXTUAL_TYPES = re.compile(r"^(text/|application/(json|[\w.+-]*\+json|xml|x-www-form-urlencoded|javascript))", re.I)


def http_api_event(request: Request, route: HttpRoute, body: bytes) -> dict[str, Any]:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    query: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        query[name] = f"{query[name]},{value}" if name in query else value
    content_type = headers.get("content-type", "")
    textual = bool(TEXTUAL_TYPES.match(content_type)) if content_type else True
    try:
        text_body = body.decode("utf-8") if textual else None
    except UnicodeDecodeError:
        text_body = None
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{route.method} {route.path}",
        "rawPath": request.url.path,
        "rawQueryString": request.url.query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": request.method,
                "path": request.url.path,
                "protocol": f"HTTP/{request.scope.get('http_version', '1.1')}",
                "sourceIp": request.client.host if request.client else "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:20],
            "routeKey": f"{route.method} {route.path}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(time.time() * 1000),
        },
        "pathParameters": dict(request.path_params) or None,
        "isBase64Encoded": text_body is None,
    }
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = text_body if text_body is not None else base64.b64encode(body).decode()
    return {key: value for key, value in event.items() if value is not None}


def to_http_response(result: Any) -> Response:
    if not isinstance(result, dict) or "statusCode" not in result:
        return JSONResponse({"message": "Internal Server Error"}, status_code=500)
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return Response(raw, status_code=int(result["statusCode"]), headers=result.get("headers") or {})


def front_door_app(
    routes: list[tuple[HttpRoute, LocalFunction]],
    log: Callable[[str], None] = print,
    *,
    extra_routes: list[Route] | None = None,
) -> Starlette:
    """The template's HTTP routes, plus `extra_routes` (the local stack's own `/_local/*`)."""

    def endpoint_for(route: HttpRoute, function: LocalFunction) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            if len(body) > API_GATEWAY_MAX_BODY_BYTES:
                return JSONResponse({"message": "Request Entity Too Large"}, status_code=413)
            event = http_api_event(request, route, body)
            try:
                result = await asyncio.to_thread(function.invoke_one_at_a_time, event)
            except Exception as error:
                log(f"front door  {request.method} {request.url.path} -> 500 ({type(error).__name__})")
                return JSONResponse({"message": "Internal Server Error"}, status_code=500)
            response = to_http_response(result)
            log(
                f"front door  {request.method} {request.url.path} -> {response.status_code} "
                f"{bytes(response.body).decode(errors='replace')[:160]}"
            )
            return response

        return endpoint

    starlette_routes = [
        Route(route.path, endpoint_for(route, function), methods=[route.method]) for route, function in routes
    ] + list(extra_routes or [])

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse({"message": "Not Found"}, status_code=404)

    return Starlette(routes=starlette_routes, exception_handlers={404: not_found, 405: not_found})
