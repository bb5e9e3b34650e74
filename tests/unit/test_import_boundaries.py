"""The ingest function must not pay the MCP SDK's import cost: loading it imports no `mcp`, `mcp_types` or `httpx2`.

Each function is imported the way Lambda does it (`app` from the function's directory, the layer's code on the
path) in a fresh interpreter with the environment the template gives it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
MCP_STACK = ("mcp", "mcp_types", "httpx2")


def loaded_modules(function: str) -> list[str]:
    directory = REPO / "functions" / function
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env |= AWS_ENV | FUNCTION_ENV[function]
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, str(directory), str(LAYER)],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    modules: list[str] = json.loads(completed.stdout.strip().splitlines()[-1])
    return modules


def mcp_stack(modules: list[str]) -> list[str]:
    return [m for m in modules if m in MCP_STACK or m.startswith(tuple(f"{name}." for name in MCP_STACK))]


def test_ingest_never_imports_the_mcp_sdk() -> None:
    modules = loaded_modules("ingest")
    assert "app" in modules and "alert_courier.intake" in modules  # the probe really loaded the function
    assert "mcp" not in modules
    assert mcp_stack(modules) == []


@pytest.mark.parametrize("function", ["dispatch"])
def test_dispatch_does_load_it_so_the_probe_can_see_it(function: str) -> None:
    modules = loaded_modules(function)
    assert "mcp" in modules and "httpx2" in modules
