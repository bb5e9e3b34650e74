"""What each function loads at cold start, and what it leaves for the request that needs it.

- ingest never loads the MCP SDK, and loads a monitoring source's module (or the CloudWatch/SNS machinery) only
  when a request for it arrives;
- dispatch leaves the MCP SDK, httpx2, jsonschema and httpx to the first tool call or REST request: containers that
  only record alerts joining open groups never pay for them (README "Benchmarks").

Each function is imported the way Lambda does it (`app` from the function's directory, the layer's code on the
path) in a fresh interpreter with the environment the template gives it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "layers" / "common"
AWS_ENV = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_SERVICE_NAME": "alert-courier",
    "POWERTOOLS_METRICS_NAMESPACE": "AlertCourier",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
FUNCTION_ENV = {
    "ingest": {
        "ALERT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/alert-courier-alerts.fifo",
        "WEBHOOK_SECRET_PREFIX": "alert-courier/webhooks/",
        "STATE_TABLE_NAME": "alert-courier-state",
    },
    "dispatch": {
        "STATE_TABLE_NAME": "alert-courier-state",
        "INCIDENT_IO_API_KEY_SECRET": "alert-courier/incident-io-api-key",
        "DEAD_LETTER_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/alert-courier-dlq.fifo",
    },
}
PROBE = "import json, sys; sys.path[:0] = sys.argv[1:3]; import app; print(json.dumps(sorted(sys.modules)))"
PROBE_AND_USE = PROBE.replace("import app;", "import app; exec(sys.argv[3]);")
MCP_STACK = ("mcp", "mcp_types", "httpx2", "jsonschema")
SOURCE_MODULES = tuple(
    f"alert_courier.sources.{name}" for name in ("alertmanager", "grafana", "datadog", "generic", "cloudwatch")
)


def loaded_modules(function: str, then: str = "") -> list[str]:
    """sys.modules after `import app` (and after running `then` in the same process, when given)."""
    directory = REPO / "functions" / function
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env |= AWS_ENV | FUNCTION_ENV[function]
    command = [sys.executable, "-c", PROBE_AND_USE if then else PROBE, str(directory), str(LAYER)]
    completed = subprocess.run(
        [*command, then] if then else command,
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    modules: list[str] = json.loads(completed.stdout.strip().splitlines()[-1])
    return modules


def under(modules: list[str], packages: tuple[str, ...]) -> list[str]:
    return [m for m in modules if m in packages or m.startswith(tuple(f"{name}." for name in packages))]


def test_ingest_never_imports_the_mcp_sdk_and_no_source_before_its_first_webhook() -> None:
    modules = loaded_modules("ingest")
    assert "app" in modules and "alert_courier.ingress.intake" in modules  # the probe really loaded the function
    assert under(modules, MCP_STACK) == []
    assert under(modules, SOURCE_MODULES) == []
    assert "alert_courier.ingress.aws_events" not in modules
    assert "pydantic_settings" not in modules


def test_a_source_is_loaded_by_its_first_use_and_only_it() -> None:
    modules = loaded_modules("ingest", "from alert_courier.sources import SOURCES; SOURCES['datadog']")
    assert under(modules, SOURCE_MODULES) == ["alert_courier.sources.datadog"]


def test_dispatch_leaves_the_mcp_sdk_and_httpx_to_the_first_call() -> None:
    modules = loaded_modules("dispatch")
    assert (
        "app" in modules
        and "alert_courier.use_cases.courier" in modules
        and "alert_courier.incident_io.mcp_client" in modules
    )
    assert under(modules, (*MCP_STACK, "httpx")) == []


def test_the_first_tool_call_loads_the_sdk_before_its_timeout_starts() -> None:
    """`load_sdk` is what `call_tool` runs before timing anything; this shows it really brings the SDK in."""
    modules = loaded_modules("dispatch", "from alert_courier.incident_io.mcp_client import load_sdk; load_sdk()")
    assert {"mcp", "mcp_types", "httpx2", "jsonschema"} <= set(modules)
