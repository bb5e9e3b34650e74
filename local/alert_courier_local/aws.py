"""Local AWS: moto in server mode, with the queues and table the template declares and the dev secrets."""

from __future__ import annotations

import functools
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto import backends as moto_backends
from moto.core.botocore_stubber import BotocoreStubber
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from alert_courier.operator_tools.local_settings import AWS_PORT_VARIABLE

from .dev_credentials import DEV_ALERT_SOURCE_TOKEN, DEV_API_KEY, DEV_WEBHOOK_TOKEN
from .simulator import DEFAULT_ALERT_SOURCE_ID, DEFAULT_HEARTBEAT_SOURCE_ID
from .startup import StackStartError
from .template_model import parameter_defaults

DEV_REGION = "us-east-1"
WEBHOOK_SOURCES = ("alertmanager", "grafana", "datadog", "cloudwatch", "generic", "heartbeat", "maintenance")


def use_fake_credentials(endpoint_url: str) -> None:
    """Points every boto3 client in this process (Powertools' too) at moto."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": DEV_REGION,
            "AWS_REGION": DEV_REGION,
            "AWS_ENDPOINT_URL": endpoint_url,
        }
    )


@dataclass
class LocalAws:
    endpoint_url: str
    refs: dict[str, str] = field(default_factory=dict)  # template logical id (and .Attr) → local value
    queues: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (name, attributes), in creation order
    table_names: list[str] = field(default_factory=list)  # every table the template declares
    server: ThreadedMotoServer | None = None
    process: subprocess.Popen[str] | None = None

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=DEV_REGION)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


_DYNAMODB_LOCK = threading.RLock()


def _is_dynamodb(target: str | bytes | None) -> bool:
    if isinstance(target, bytes):
        target = target.decode("ascii", "replace")
    return bool(target) and str(target).startswith("DynamoDB_")


class SerialisedMotoServer(ThreadedMotoServer):
    """moto's server, but DynamoDB requests run one at a time.

    Real DynamoDB applies a conditional write atomically; moto checks the condition and writes without a
    lock, so two concurrent claims can both succeed. Serialising DynamoDB requests restores the guarantee
    our once-only logic relies on. Other services are left concurrent (SQS long polls would block them).
    """

    startup_error: str | None = None

    def _server_entry(self) -> None:
        _list_moto_modules_once()
        app = DomainDispatcherApplication(create_backend_app)

        def serialised(environ: dict[str, Any], start_response: Any) -> Any:
            if _is_dynamodb(environ.get("HTTP_X_AMZ_TARGET")):
                with _DYNAMODB_LOCK:
                    return list(app(environ, start_response))
            return app(environ, start_response)

        try:
            self._server = make_server(
                self._ip_address, self._port, serialised, True, request_handler=MotoRequestHandler
            )
        except (OSError, SystemExit) as error:  # werkzeug exits on a busy port; moto's start() would wait forever
            self.startup_error = f"{type(error).__name__}: {error}"
            self._server_ready_event.set()
            return
        self._server_ready_event.set()
        self._server.serve_forever()


def _list_moto_modules_once() -> None:
    """moto's server lists its package directory (about 200 `isdir` calls) on every request to find the backend a
    host name means, though the listing cannot change while it runs: a fifth of moto's time in the storm bench."""
    if getattr(moto_backends.list_of_moto_modules, "cache_info", None) is not None:
        return
    listed = tuple(moto_backends.list_of_moto_modules())
    moto_backends.list_of_moto_modules = functools.cache(lambda: listed)


@contextmanager
def serialised_dynamodb_in_process() -> Iterator[None]:
    """The same guarantee for in-process `mock_aws()` tests that use threads."""
    original = BotocoreStubber.__call__

    def locked(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        if _is_dynamodb(request.headers.get("X-Amz-Target")):
            with _DYNAMODB_LOCK:
                return original(self, event_name, request, **kwargs)
        return original(self, event_name, request, **kwargs)

    BotocoreStubber.__call__ = locked  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.__call__ = original  # type: ignore[method-assign]


def start_moto(host: str, port: int, *, isolated: bool = False) -> LocalAws:
    """moto in this process, or (`isolated`) in a child process.

    moto keeps its state in module globals: any in-process `mock_aws()` in the same process (a test, say)
    resets it on exit and would wipe the stack's queues and tables. Tests therefore isolate it.
    """
    if isolated:
        process = subprocess.Popen(
            [sys.executable, "-m", "alert_courier_local.aws", host, str(port)], stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        endpoint = process.stdout.readline().strip()
        if not endpoint.startswith("http"):
            process.kill()
            raise StackStartError(
                f"moto (AWS) did not start on {host}:{port} in its child process ({AWS_PORT_VARIABLE})"
            )
        aws = LocalAws(endpoint_url=endpoint, process=process)
    else:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
        server = SerialisedMotoServer(ip_address=host, port=port, verbose=False)
        server.start()
        if server.startup_error:
            raise StackStartError(
                f"moto (AWS) did not start on {host}:{port} ({AWS_PORT_VARIABLE}): {server.startup_error}"
            )
        aws = LocalAws(endpoint_url=f"http://{host}:{server.get_host_and_port()[1]}", server=server)
    use_fake_credentials(aws.endpoint_url)
    return aws


def _serve_forever(host: str, port: int) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = SerialisedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    print(f"http://{host}:{server.get_host_and_port()[1]}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    _serve_forever(sys.argv[1], int(sys.argv[2]))


def provision(aws: LocalAws, template: dict[str, Any], *, webhook_token: str = DEV_WEBHOOK_TOKEN) -> None:
    """Creates what the template declares (queues, table) and seeds the dev secrets; fills aws.refs."""
    resources = template.get("Resources") or {}
    params = {name: str(value) for name, value in parameter_defaults(template).items() if value is not None}
    aws.refs.update(params)
    sqs = aws.client("sqs")
    queues = {name: res for name, res in resources.items() if res.get("Type") == "AWS::SQS::Queue"}
    # Dead-letter queues first, so redrive policies can point at them.
    ordered = sorted(queues, key=lambda name: "RedrivePolicy" in (queues[name].get("Properties") or {}))
    for name in ordered:
        props = queues[name].get("Properties") or {}
        fifo = bool(props.get("FifoQueue"))
        attributes = {"VisibilityTimeout": str(props.get("VisibilityTimeout", 30))}
        if fifo:
            attributes.update({"FifoQueue": "true", "ContentBasedDeduplication": "false"})
        if "MessageRetentionPeriod" in props:
            attributes["MessageRetentionPeriod"] = str(props["MessageRetentionPeriod"])
        redrive = props.get("RedrivePolicy")
        if redrive:
            target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": aws.refs[f"{target}.Arn"], "maxReceiveCount": int(redrive["maxReceiveCount"])}
            )
        queue_name = f"alert-courier-{name}" + (".fifo" if fifo else "")
        url = sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        aws.refs.update({name: url, f"{name}.Arn": arn, f"{name}.QueueName": queue_name, f"{name}.QueueUrl": url})
        aws.queues.append((queue_name, attributes))
    dynamodb = aws.client("dynamodb")
    for name, res in resources.items():
        if res.get("Type") != "AWS::DynamoDB::Table":
            continue
        props = res.get("Properties") or {}
        table_name = f"alert-courier-{name}"
        indexes = (
            {"GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"]} if "GlobalSecondaryIndexes" in props else {}
        )
        dynamodb.create_table(
            TableName=table_name,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
            **indexes,
        )
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
        aws.refs.update(
            {name: table_name, f"{name}.Arn": f"arn:aws:dynamodb:{DEV_REGION}:123456789012:table/{table_name}"}
        )
        aws.table_names.append(table_name)
    secrets = aws.client("secretsmanager")
    secrets.create_secret(
        Name=params.get("IncidentIoApiKeySecretName", "alert-courier/incident-io-api-key"), SecretString=DEV_API_KEY
    )
    prefix = params.get("WebhookSecretPrefix", "alert-courier/webhooks/")
    for source in WEBHOOK_SOURCES:
        secrets.create_secret(Name=f"{prefix}{source}", SecretString=json.dumps({"current": webhook_token}))
    alert_source_prefix = params.get("AlertSourceSecretPrefix", "alert-courier/alert-sources/")
    for config_id in (DEFAULT_ALERT_SOURCE_ID, DEFAULT_HEARTBEAT_SOURCE_ID):  # the simulator's alert sources
        secrets.create_secret(
            Name=f"{alert_source_prefix}{config_id}", SecretString=json.dumps({"current": DEV_ALERT_SOURCE_TOKEN})
        )


def clear_state(aws: LocalAws) -> dict[str, int]:
    """Empties what alert-courier keeps in local AWS: every item of the template's tables (group states, claims,
    history, timers, heartbeats) and every message of its queues (the alert queue and the DLQ). Returns counts."""
    sqs = aws.client("sqs")
    messages = 0
    # Deleted and created again (same name, URL and attributes, dead-letter queues first): PurgeQueue may be
    # called once a minute per queue only. A webhook arriving in between is answered 503, as an SQS outage is.
    for queue_name, _ in aws.queues:
        url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        messages += sum(int(value) for value in attributes.values())
        sqs.delete_queue(QueueUrl=url)
    for queue_name, attributes in aws.queues:
        sqs.create_queue(QueueName=queue_name, Attributes=attributes)
    items = 0
    dynamodb = boto3.resource("dynamodb", endpoint_url=aws.endpoint_url, region_name=DEV_REGION)
    for name in aws.table_names:
        table = dynamodb.Table(name)
        keys = [key["AttributeName"] for key in table.key_schema]
        scan: dict[str, Any] = {"ProjectionExpression": ", ".join(f"#k{i}" for i in range(len(keys)))}
        scan["ExpressionAttributeNames"] = {f"#k{i}": key for i, key in enumerate(keys)}
        with table.batch_writer() as batch:
            while True:
                page = table.scan(**scan)
                for item in page.get("Items", []):
                    batch.delete_item(Key={key: item[key] for key in keys})
                    items += 1
                if "LastEvaluatedKey" not in page:
                    break
                scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {"items_deleted": items, "messages_purged": messages}
