"""The front door's `/_local/*` routes: what only a local stack can do.

- `POST /_local/reset`: clears alert-courier's state (the tables, the queue and the DLQ) and the simulator's.
- `POST /_local/sns/{topic}`: publishes the body to a template SNS topic: every function subscribed to it is
  invoked with the SNS event Lambda would receive (one record, the body as `Message`).
- `POST /_local/eventbridge`: puts the body (an EventBridge event) on the bus: every function with an
  `EventBridgeRule` whose pattern matches is invoked with the event unchanged, as EventBridge delivers it.
  Locally every rule is on, and the parts of a pattern that depend on deployment parameters (the alarm-name
  prefix of `CloudWatchEventBridgeAlarmPrefix`) are not applied.

Refusals are JSON `{"error": {"code", "reason"}}` with a 4xx; a function that raises (AWS would retry the
event) is a 503 with `Retry-After`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .lambda_runtime import LocalFunction

LOCAL_ACCOUNT = "123456789012"
LOCAL_REGION = "us-east-1"
MAX_EVENT_BYTES = 256 * 1024  # what SNS and EventBridge accept in one message or event


def topic_arn(topic: str) -> str:
    return f"arn:aws:sns:{LOCAL_REGION}:{LOCAL_ACCOUNT}:alert-courier-{topic}"


def sns_lambda_event(topic: str, message: str, subject: str | None = None) -> dict[str, Any]:
    """What Lambda receives from an SNS subscription: one record carrying the published message."""
    arn = topic_arn(topic)
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{arn}:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": arn,
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                    "SignatureVersion": "1",
                    "Signature": "local",
                    "SigningCertUrl": f"https://sns.{LOCAL_REGION}.amazonaws.com/local.pem",
                    "UnsubscribeUrl": f"https://sns.{LOCAL_REGION}.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": {},
                },
            }
        ]
    }


def _is_intrinsic(value: Any) -> bool:
    """A CloudFormation function left in the pattern (a deployment parameter's value): not applied locally."""
    return isinstance(value, Mapping) and any(str(key).startswith("Fn::") or key == "Ref" for key in value)


def _value_matches(allowed: list[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for option in allowed:
        if _is_intrinsic(option):
            return True
        if isinstance(option, Mapping):
            if "prefix" in option:
                prefix = option["prefix"]
                if _is_intrinsic(prefix) or any(isinstance(v, str) and v.startswith(str(prefix)) for v in values):
                    return True
            elif "exists" in option:
                if bool(option["exists"]) == (value is not None):
                    return True
            elif "anything-but" in option:
                excluded = option["anything-but"]
                excluded = excluded if isinstance(excluded, list) else [excluded]
                if value is not None and not any(v in excluded for v in values):
                    return True
        elif option in values:
            return True
    return False


def pattern_matches(pattern: Mapping[str, Any], event: Any) -> bool:
    """EventBridge's matching for what the template's patterns use: value lists, nested fields, prefix,
    exists and anything-but."""
    if not isinstance(event, Mapping):
        return False
    for key, allowed in pattern.items():
        value = event.get(key)
        if _is_intrinsic(allowed):
            continue
        if isinstance(allowed, Mapping):
            if not pattern_matches(allowed, value if isinstance(value, Mapping) else {}):
                return False
        elif isinstance(allowed, list) and not _value_matches(allowed, value):
            return False
    return True


def _refusal(status: int, code: str, reason: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "reason": reason}}, status_code=status)


Targets = list[tuple[str, LocalFunction]]  # (the template's event name, the function it invokes)


def local_routes(
    functions: list[LocalFunction],
    reset: Callable[[], dict[str, Any]],
    log: Callable[[str], None] = print,
) -> list[Route]:
    subscribers: dict[str, Targets] = {}
    rules: list[tuple[str, dict[str, Any], LocalFunction]] = []
    for function in functions:
        for event_name, topic in function.spec.sns_topics.items():
            subscribers.setdefault(topic, []).append((event_name, function))
        for name, pattern in function.spec.eventbridge_rules.items():
            rules.append((name, pattern, function))

    async def deliver(request: Request, targets: Targets, event: dict[str, Any]) -> Response:
        delivered = []
        for event_name, function in targets:
            try:
                result = await asyncio.to_thread(function.invoke_one_at_a_time, event)
            except Exception as error:  # AWS retries an asynchronous invocation that raised
                log(f"front door  POST {request.url.path} -> {function.spec.logical_id} raised {type(error).__name__}")
                return JSONResponse(
                    {
                        "error": {
                            "code": "function_failed",
                            "reason": f"{function.spec.logical_id}: {type(error).__name__}",
                        }
                    },
                    status_code=503,
                    headers={"Retry-After": "1"},
                )
            delivered.append({"function": function.spec.logical_id, "event": event_name, "result": result})
            log(f"front door  POST {request.url.path} -> {function.spec.logical_id} {json.dumps(result)[:160]}")
        return JSONResponse({"delivered": delivered})

    async def reset_endpoint(request: Request) -> Response:
        cleared = await asyncio.to_thread(reset)
        log(f"front door  POST /_local/reset -> {json.dumps(cleared)[:160]}")
        return JSONResponse({"reset": True, **cleared})

    async def publish_to_topic(request: Request) -> Response:
        topic = request.path_params["topic"]
        if topic not in subscribers:
            known = ", ".join(sorted(subscribers)) or "none"
            return _refusal(
                404, "unknown_topic", f"no function of template.yaml is subscribed to {topic!r}; known: {known}"
            )
        body = await request.body()
        if not body.strip():
            return _refusal(400, "empty_message", "the body is the message to publish (e.g. a CloudWatch alarm's JSON)")
        if len(body) > MAX_EVENT_BYTES:
            return _refusal(413, "message_too_large", f"SNS messages are at most {MAX_EVENT_BYTES} bytes")
        try:
            message = body.decode("utf-8")
        except UnicodeDecodeError:
            return _refusal(400, "not_utf8", "an SNS message is UTF-8 text")
        event = sns_lambda_event(topic, message, request.query_params.get("subject"))
        return await deliver(request, subscribers[topic], event)

    async def put_event(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_EVENT_BYTES:
            return _refusal(413, "event_too_large", f"EventBridge events are at most {MAX_EVENT_BYTES} bytes")
        try:
            event = json.loads(body)
        except ValueError:
            return _refusal(400, "invalid_json", "the body is an EventBridge event, as JSON")
        if not isinstance(event, dict) or not isinstance(event.get("source"), str) or "detail-type" not in event:
            return _refusal(422, "invalid_event", "an EventBridge event is an object with source, detail-type, detail")
        targets = [(name, function) for name, pattern, function in rules if pattern_matches(pattern, event)]
        if not targets:
            known = ", ".join(name for name, _, _ in rules) or "none"
            reason = (
                f"no EventBridge rule of template.yaml matches source {event['source']!r}, detail-type "
                f"{event['detail-type']!r} (rules: {known})"
            )
            return _refusal(422, "no_matching_rule", reason)
        return await deliver(request, targets, event)

    return [
        Route("/_local/reset", reset_endpoint, methods=["POST"]),
        Route("/_local/sns/{topic}", publish_to_topic, methods=["POST"]),
        Route("/_local/eventbridge", put_event, methods=["POST"]),
    ]
