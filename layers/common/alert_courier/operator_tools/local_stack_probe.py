"""`--local` acts only on an alert-courier local stack: what answers at the LOCAL_* endpoints must be one."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from alert_courier.operator_tools.cli_errors import CliError
from alert_courier.operator_tools.local_settings import SIMULATOR_PORT_VARIABLE, LocalEndpoints

LOCAL_ACCOUNT = "123456789012"  # moto's account: a queue URL under any other is a real AWS account's
QUEUE_NAME = "alert-courier-AlertQueue.fifo"
DEAD_LETTER_QUEUE_NAME = "alert-courier-AlertDeadLetterQueue.fifo"
TABLE_NAME = "alert-courier-StateTable"
PROBE_TIMEOUT_SECONDS = 3


@dataclass(frozen=True)
class LocalQueues:
    queue_url: str
    dead_letter_queue_url: str


def find_local_queues(endpoints: LocalEndpoints) -> LocalQueues:
    """The local stack's queues, asked of moto at `endpoints.aws_endpoint`; CliError when it is not there."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import EndpointConnectionError

    endpoint = endpoints.aws_endpoint
    sqs: Any = boto3.client(
        "sqs",
        endpoint_url=endpoint,
        config=Config(
            connect_timeout=PROBE_TIMEOUT_SECONDS,
            read_timeout=PROBE_TIMEOUT_SECONDS,
            retries={"total_max_attempts": 1},
        ),
    )
    try:
        urls = [sqs.get_queue_url(QueueName=name)["QueueUrl"] for name in (QUEUE_NAME, DEAD_LETTER_QUEUE_NAME)]
    except EndpointConnectionError:
        raise CliError(
            f"no local stack answers at {endpoint}: start it with `make run`, "
            f"or set {endpoints.aws_endpoint_setting} to where it runs"
        ) from None
    except Exception as error:  # an HTML page, a 404, another service's error: anything but our queues
        raise _not_a_local_stack(endpoints, f"no queue {QUEUE_NAME}: {type(error).__name__}") from None
    if not all(f"/{LOCAL_ACCOUNT}/" in url for url in urls):
        raise _not_a_local_stack(endpoints, f"its queues are not in moto's account {LOCAL_ACCOUNT}")
    return LocalQueues(*urls)


def ensure_local_simulator(endpoints: LocalEndpoints) -> str:
    """The simulator's MCP URL, once its `/_sim/stats` has answered as the simulator does."""
    stats_url = f"{endpoints.simulator_url}/_sim/stats"
    try:
        with urllib.request.urlopen(stats_url, timeout=PROBE_TIMEOUT_SECONDS) as response:
            stats = json.loads(response.read())
    except urllib.error.HTTPError:  # something answers, but has no simulator endpoints
        stats = None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CliError(
            f"no incident.io simulator answers at {stats_url} ({reason}): start the stack with `make run`, "
            f"or set {SIMULATOR_PORT_VARIABLE} to its port"
        ) from None
    except ValueError:
        stats = None
    if not (isinstance(stats, dict) and "tool_calls" in stats):  # the simulator's counters, published
        raise CliError(
            f"what answers at {endpoints.simulator_url} is not the local stack's incident.io simulator "
            f"({stats_url} is not its JSON); check {SIMULATOR_PORT_VARIABLE}"
        )
    return f"{endpoints.simulator_url}/mcp"


def _not_a_local_stack(endpoints: LocalEndpoints, why: str) -> CliError:
    return CliError(
        f"what answers at {endpoints.aws_endpoint} is not an alert-courier local stack ({why}); "
        f"refusing to act on it: check {endpoints.aws_endpoint_setting}"
    )
