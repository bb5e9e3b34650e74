"""The ingest Lambda handler in this process with a recording SQS double: what was queued is checked per answer."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import sys
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError

from alert_courier.aws.alert_queue import AlertQueue, read_message
from alert_courier.domain.alert import AlertEnvelope
from tests.conftest import REPO_ROOT

TOKEN = "harness-token-7e2a"
QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/alert-courier-alerts.fifo"
_ENVIRONMENT = {
    "ALERT_QUEUE_URL": QUEUE_URL,
    "AWS_DEFAULT_REGION": "eu-west-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "AlertCourier",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
}


SECRETS = [TOKEN]
"""What every source accepts; a test may add one (e.g. a signing secret) with monkeypatch."""


class Secrets:
    def valid_values(self, _source: str) -> tuple[str, ...]:
        return tuple(SECRETS)

    def reread(self, _source: str) -> tuple[str, ...] | None:
        return None  # nothing rotates here: the cached values are the values


@dataclass
class RecordingSqs:
    """SendMessageBatch that records what it queued; `fail` makes batch number `fail_from` on fail (all after)."""

    fail: str = ""
    """"": never; "QueueDoesNotExist"/"ThrottlingException"/…: a ClientError; "connection": unreachable;
    "entries": every entry reported Failed; "slow": each call takes `delay` seconds."""
    fail_from: int = 0
    delay: float = 0.0
    calls: int = 0
    queued: list[dict[str, Any]] = field(default_factory=list)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        number, self.calls = self.calls, self.calls + 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail and number >= self.fail_from:
            if self.fail == "connection":
                raise EndpointConnectionError(endpoint_url=QueueUrl)
            if self.fail == "entries":
                return {"Failed": [{"Id": entry["Id"], "Code": "InternalError"} for entry in Entries]}
            if self.fail != "slow":
                raise ClientError({"Error": {"Code": self.fail, "Message": "injected"}}, "SendMessageBatch")
        for entry in Entries:
            body = entry["MessageBody"]
            assert len(body.encode("utf-8")) <= 256 * 1024, "SQS refuses a message over 256 KiB"
            self.queued.append(entry)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries]}

    def envelopes(self) -> list[AlertEnvelope]:
        """The alerts queued, as dispatch reads them back (packed messages unpacked)."""
        return [envelope for entry in self.queued for envelope in read_message(entry["MessageBody"])]


class Context:
    aws_request_id = "harness-request"
    function_name = "IngestFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:IngestFunction"

    def __init__(self, seconds: float = 10.0) -> None:
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_module: ModuleType | None = None


def ingest_module() -> ModuleType:
    global _module
    if _module is None:
        from alert_courier.settings import ingest_settings

        # The handler reads its settings at import; they must not leak to a local stack started later in this
        # process (its ingest would queue to the harness's queue URL): environment restored, settings cache cleared.
        saved = {name: os.environ.get(name) for name in ("ALERT_QUEUE_URL",)}  # Powertools' stay: read per call
        for name, value in _ENVIRONMENT.items():
            os.environ.setdefault(name, value)
        ingest_settings.cache_clear()
        try:
            path = REPO_ROOT / "functions" / "ingest" / "app.py"
            spec = importlib.util.spec_from_file_location("tests_ingest_harness_app", path)
            assert spec is not None and spec.loader is not None
            _module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = _module
            spec.loader.exec_module(_module)
        finally:
            for name, previous in saved.items():
                if previous is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = previous
            ingest_settings.cache_clear()
        _module.webhook_secrets = Secrets()
    return _module


def http_event(
    source: str, body: bytes, headers: dict[str, str] | None = None, as_base64: bool = True
) -> dict[str, Any]:
    path = f"/webhooks/{source}"
    encoded = base64.b64encode(body).decode() if as_base64 else body.decode("utf-8", "replace")
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "authorization": f"Bearer {TOKEN}", **(headers or {})},
        "requestContext": {
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "t"},
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 0,
        },
        "pathParameters": {"source": source},
        "body": encoded,
        "isBase64Encoded": as_base64,
    }


def invoke(event: Any, sqs: RecordingSqs | None = None, seconds: float = 10.0) -> tuple[Any, RecordingSqs]:
    """(the handler's answer, the SQS double it sent to)."""
    module = ingest_module()
    sqs = sqs or RecordingSqs()
    module.queue = AlertQueue(sqs, QUEUE_URL)
    return module.lambda_handler(event, Context(seconds)), sqs


def post(
    source: str, document: Any, sqs: RecordingSqs | None = None, **headers: str
) -> tuple[dict[str, Any], RecordingSqs]:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return invoke(http_event(source, body, headers), sqs)


def answer_body(answer: dict[str, Any]) -> Any:
    return json.loads(answer["body"])
