"""The parts of the ingest section that run in a fresh process each (`python -m alert_courier_local.bench.intake_child
KIND OUT.json`), so that one's modules, environment and peak memory (`ru_maxrss`) are not another's:

- ``handler``: 1,000 / 10,000 / 50,000-alert notifications through the ingest Lambda handler in process (HTTP API
  event → Powertools resolver → `read_webhook` → `AlertQueue.enqueue`), on the function's own timeout from
  `template.yaml` (so its time budget is in force) and an SQS double that accepts every batch; the body limit is
  raised, so that what is measured is the parsing (on AWS, a body over 6 MB never reaches the function);
- ``stack``: the same sizes posted over HTTP to the local front door (front door → ingest → moto's SQS), in a
  notification without descriptions (the realistic one is over ingest's 6 MiB limit from 10,000 alerts);
- ``ingest_memory``: ingest's peak RSS for the largest notification under its body limit (about 6 MB); the body is
  built by another process (``ingest_body``), so that the measuring process only reads its bytes;
- ``dispatch_memory``: dispatch's peak memory (tracemalloc, `ru_maxrss`) applying a message to the largest group
  state, with moto in a child process of its own, so that the measuring process holds no moto state.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from .ingest import TOKEN, notification

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/alert-courier-alerts.fifo"
RAISED_BODY_LIMIT = 64 * 1024 * 1024


def maxrss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def template_function(logical_id: str) -> dict[str, Any]:
    from ..template_model import load_template

    properties: dict[str, Any] = load_template()["Resources"][logical_id]["Properties"]
    return properties


def lean(alerts: int) -> bytes:
    """The bench's notification without descriptions: 10,000 alerts fit under ingest's 6 MiB limit."""
    document = notification(alerts)
    for entry in document["alerts"]:
        entry["annotations"].pop("description")
    return json.dumps(document).encode()


def under_limit(limit: int) -> bytes:
    """The largest realistic notification (the bench's, with descriptions) whose body is within `limit` bytes."""
    per_alert = len(json.dumps(notification(1000))) / 1000
    alerts = int(limit / per_alert)
    body = json.dumps(notification(alerts)).encode()
    while len(body) > limit:
        alerts -= 50
        body = json.dumps(notification(alerts)).encode()
    return body


class AcceptingSqs:
    """SendMessageBatch that accepts everything: the handler's own cost, without moto's."""

    def __init__(self) -> None:
        self.calls = 0
        self.messages = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        self.messages += len(Entries)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries]}


def http_event(body: bytes) -> dict[str, Any]:
    path = "/webhooks/alertmanager"
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/{source}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"},
        "requestContext": {
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "b"},
            "requestId": "bench",
            "routeKey": "POST /webhooks/{source}",
            "stage": "$default",
            "timeEpoch": 0,
        },
        "pathParameters": {"source": "alertmanager"},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def ingest_handler(max_body_bytes: int) -> Any:
    """functions/ingest/app.py imported as the Lambda runtime would, its webhook secret and SQS client replaced."""
    from ..lambda_runtime import LOCAL_ENVIRONMENT, function_module_name, load_function
    from ..template_model import functions, load_template

    os.environ.update(LOCAL_ENVIRONMENT)
    os.environ.update(
        {
            "ALERT_QUEUE_URL": QUEUE_URL,
            "WEBHOOK_SECRET_PREFIX": "/alert-courier/webhooks/",
            "MAX_BODY_BYTES": str(max_body_bytes),
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "AWS_LAMBDA_LOG_LEVEL": "ERROR",
        }
    )
    spec = next(s for s in functions(load_template()) if s.logical_id == "IngestFunction")
    function = load_function(spec)
    module: Any = sys.modules[function_module_name("IngestFunction")]

    class Secrets:
        def valid_values(self, _source: str) -> tuple[str, ...]:
            return (TOKEN,)

        def reread(self, _source: str) -> None:
            return None

    module.webhook_secrets = Secrets()
    return function, module


def handler(sizes: list[int]) -> dict[str, Any]:
    from alert_courier.aws.alert_queue import AlertQueue

    from ..lambda_runtime import FakeLambdaContext

    function, module = ingest_handler(RAISED_BODY_LIMIT)
    timeout = int(template_function("IngestFunction")["Timeout"])
    result: dict[str, Any] = {"timeout_seconds": timeout, "sizes": {}}
    for alerts in sizes:
        body = json.dumps(notification(alerts)).encode()
        event = http_event(body)
        best: dict[str, Any] | None = None
        for _ in range(3 if alerts <= 10_000 else 1):
            sqs = AcceptingSqs()
            module.queue = AlertQueue(sqs, QUEUE_URL)
            started = time.perf_counter()
            answer = function.handler(event, FakeLambdaContext("IngestFunction", timeout))
            seconds = time.perf_counter() - started
            if best is None or seconds < best["seconds"]:
                best = {
                    "body_bytes": len(body),
                    "status": answer["statusCode"],
                    "retry_after": (answer.get("headers") or {}).get("Retry-After"),
                    "seconds": round(seconds, 3),
                    "sqs_messages": sqs.messages,
                    "sqs_calls": sqs.calls,
                }
        result["sizes"][str(alerts)] = best
    return result


def stack(sizes: list[int]) -> dict[str, Any]:
    import httpx

    from ..dev_credentials import DEV_WEBHOOK_TOKEN
    from ..lambda_runtime import function_module_name
    from ..stack import LocalStack, StackConfig

    config = StackConfig(front_door_port=0, simulator_port=0, aws_port=0, quiet=True, schedule_seconds=0)
    local = LocalStack(config).start()
    try:
        for poller in local.pollers:  # intake alone: nothing is dispatched meanwhile
            poller.stop()
        queue = sys.modules[function_module_name("IngestFunction")].queue
        headers = {"Authorization": f"Bearer {DEV_WEBHOOK_TOKEN}", "Content-Type": "application/json"}
        url = f"{local.front_door_url}/webhooks/alertmanager"
        result: dict[str, Any] = {"sizes": {}}
        with httpx.Client(timeout=120) as client:
            client.post(url, content=lean(10), headers=headers)  # warm-up: the source's module, the clients
            for alerts in sizes:
                body = lean(alerts)
                best: dict[str, Any] | None = None
                for run in range(3 if alerts <= 10_000 else 1):
                    # another run id each time: a copy SQS de-duplicates costs moto less than a new message
                    varied = body.replace(b'"fingerprint": "', f'"fingerprint": "{run}'.encode())
                    sent_before = queue.messages_sent
                    started = time.perf_counter()
                    answer = client.post(url, content=varied, headers=headers)
                    seconds = time.perf_counter() - started
                    if best is None or seconds < best["seconds"]:
                        best = {
                            "body_bytes": len(varied),
                            "status": answer.status_code,
                            "seconds": round(seconds, 3),
                            "sqs_messages": queue.messages_sent - sent_before,
                        }
                result["sizes"][str(alerts)] = best
    finally:
        local.stop()
    return result


def ingest_body(out: Path, limit: int) -> dict[str, Any]:
    """Writes the largest realistic notification within `limit` bytes to `out` (building it by trial sizes costs
    this process hundreds of MB, which is why the measuring process does not build it)."""
    body = under_limit(limit)
    out.write_bytes(body)
    return {"body_bytes": len(body)}


def ingest_memory() -> dict[str, Any]:
    from alert_courier.aws.alert_queue import AlertQueue

    from ..lambda_runtime import FakeLambdaContext

    properties = template_function("IngestFunction")
    limit = int(properties["Environment"]["Variables"]["MAX_BODY_BYTES"])
    with tempfile.TemporaryDirectory() as scratch:
        body_file = Path(scratch) / "body.json"
        built = Path(scratch) / "built.json"
        cmd = [sys.executable, "-m", "alert_courier_local.bench.intake_child", "ingest_body", str(built)]
        subprocess.run([*cmd, str(body_file), str(limit)], check=True, timeout=300)
        function, module = ingest_handler(limit)
        module.queue = AlertQueue(AcceptingSqs(), QUEUE_URL)
        function.handler(http_event(lean(10)), FakeLambdaContext("IngestFunction", 60))  # warm: imports done
        body = body_file.read_bytes()
    # What API Gateway hands the function: the base64 event (built here, before the first reading: on Lambda the
    # runtime holds the event before the handler runs).
    event = http_event(body)
    before = maxrss_mb()
    # A long timeout: the peak of the whole path is wanted, not where a loaded machine's budget would stop it.
    answer = function.handler(event, FakeLambdaContext("IngestFunction", 600))
    after = maxrss_mb()
    # The handler's own Python allocations, a second call under tracemalloc (which costs memory of its own, so it
    # does not run during the `ru_maxrss` reading above).
    module.queue = AlertQueue(AcceptingSqs(), QUEUE_URL)
    tracemalloc.start()
    function.handler(event, FakeLambdaContext("IngestFunction", 600))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    memory_size = int(properties["MemorySize"])
    return {
        "body_bytes": len(body),
        "alerts": body.count(b'"fingerprint"'),
        "status": answer["statusCode"],
        "maxrss_before_mb": before,
        "maxrss_mb": after,
        "handler_peak_mib": round(peak / 2**20, 1),
        "memory_size_mb": memory_size,
        "limit_mb": memory_size / 2,
        "within_limit": after < memory_size / 2,
    }


def dispatch_memory(chunk: int = 2000, most: int = 40_000) -> dict[str, Any]:
    """Grows one group's state by notifications of `chunk` new alerts until the next would pass the store's limit,
    then measures dispatch applying that last one (tracemalloc over the poll: load, decide, save).

    moto runs in a child process (`isolated_aws`): this process holds the front door, ingest, the simulator and
    dispatch, and during the measured poll only dispatch (and the simulator answering its calls) is working."""
    import httpx

    from alert_courier.aws import dynamodb_stores

    from ..dev_credentials import DEV_WEBHOOK_TOKEN
    from ..stack import LocalStack, StackConfig

    config = StackConfig(
        front_door_port=0, simulator_port=0, aws_port=0, quiet=True, schedule_seconds=0, isolated_aws=True
    )
    local = LocalStack(config).start()
    try:
        aws = local.aws
        assert aws is not None
        poller = local.pollers[0]
        for running in local.pollers:
            running.stop()  # this process polls itself, so that one message's handling can be measured alone
        sqs = aws.client("sqs")
        dynamodb = aws.client("dynamodb")
        headers = {"Authorization": f"Bearer {DEV_WEBHOOK_TOKEN}", "Content-Type": "application/json"}
        url = f"{local.front_door_url}/webhooks/alertmanager"
        template = notification(chunk)
        limit = dynamodb_stores.MAX_STORED_STATE_BYTES

        def post(start: int) -> None:
            document = json.loads(json.dumps(template))
            for index, entry in enumerate(document["alerts"]):
                # as random as Alertmanager's: sequential ones would compress the state far below a real one
                entry["fingerprint"] = hashlib.sha256(str(start + index).encode()).hexdigest()[:16]
                entry["labels"]["instance"] = f"node-{start + index:05d}.prod.example.com:9100"
                entry["annotations"].pop("description")
            answer = httpx.post(url, content=json.dumps(document).encode(), headers=headers, timeout=120)
            assert answer.status_code == 202, answer.text

        def drain() -> None:
            while poller.poll_once(wait_seconds=0):
                pass

        state_keys: list[dict[str, Any]] = []

        def stored_bytes() -> int:
            if not state_keys:  # found once: a scan reads every history item too, slower at each notification
                pages = dynamodb.get_paginator("scan").paginate(
                    TableName=aws.refs["StateTable"],
                    FilterExpression="begins_with(pk, :group) AND sk = :state",
                    ExpressionAttributeValues={":group": {"S": "group#"}, ":state": {"S": "state"}},
                )
                (found,) = [item for page in pages for item in page["Items"]]  # the one group of this run
                state_keys.append({"pk": found["pk"], "sk": found["sk"]})
            state = dynamodb.get_item(TableName=aws.refs["StateTable"], Key=state_keys[0])["Item"]
            value = state.get("state_z", state.get("state", {}))
            return len(value.get("B", b"")) if "B" in value else len(value.get("S", "").encode())

        firing, size, growth = 0, 0, 0
        while True:
            post(firing)  # queued; dispatched below, or measured when it is the last one that fits
            if firing + 2 * chunk > most or (growth and size + 2 * growth > limit):
                break
            drain()
            firing += chunk
            previous, size = size, stored_bytes()
            growth = size - previous
        before = maxrss_mb()
        tracemalloc.start()
        drain()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        after = maxrss_mb()
        firing += chunk
        dead = int(
            sqs.get_queue_attributes(
                QueueUrl=aws.refs["AlertDeadLetterQueue"], AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
        )
        return {
            "firing_alerts": firing,
            "message_alerts": chunk,
            "state_bytes_before": size,
            "state_bytes_after": stored_bytes(),
            "state_limit_bytes": limit,
            "dead_lettered": dead,
            "moto": "child process",
            "peak_mib": round(peak / 2**20, 1),
            "maxrss_before_mb": before,
            "maxrss_mb": after,
            "memory_size_mb": int(template_function("DispatchFunction")["MemorySize"]),
        }
    finally:
        local.stop()


def main(argv: list[str]) -> int:
    kind, out = argv[0], Path(argv[1])
    sizes = [int(size) for size in argv[2:]] if kind != "ingest_body" else []
    runs = {
        "handler": lambda: handler(sizes),
        "stack": lambda: stack(sizes),
        "ingest_body": lambda: ingest_body(Path(argv[2]), int(argv[3])),
        "ingest_memory": ingest_memory,
        "dispatch_memory": lambda: dispatch_memory(*sizes),
    }
    out.write_text(json.dumps(runs[kind](), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
