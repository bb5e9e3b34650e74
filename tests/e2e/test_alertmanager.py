"""A real Prometheus Alertmanager sends real webhooks through the local stack into the simulator."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import wait_until
from tests.integration.test_pipeline import queue_depth, sim

pytestmark = pytest.mark.slow
BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def alertmanager(local_stack: Any, tmp_path: Path) -> Iterator[str]:
    if BINARY is None:
        pytest.fail(
            "prometheus-alertmanager is not installed: `make test` installs it as root, else"
            " `sudo apt-get install prometheus-alertmanager`"
        )
    config = {
        "route": {
            "receiver": "alert-courier",
            "group_by": ["alertname", "e2e_run"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "alert-courier",
                "webhook_configs": [
                    {
                        "url": f"{local_stack.front_door_url}/webhooks/alertmanager",
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": "local-dev-token"}},
                    }
                ],
            }
        ],
    }
    with running_alertmanager(config, tmp_path) as url:
        yield url


@contextlib.contextmanager
def running_alertmanager(config: dict[str, Any], tmp_path: Path) -> Iterator[str]:
    """The real Alertmanager on a free port with `config`, ready; its URL. Stopped afterwards."""
    assert BINARY is not None
    (tmp_path / "alertmanager.yml").write_text(json.dumps(config))  # JSON is valid YAML
    port = free_port()
    process = subprocess.Popen(
        [
            BINARY,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, timeout=30, what="Alertmanager to start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def post_alerts(alertmanager_url: str, alerts: list[dict[str, Any]]) -> None:
    httpx.post(f"{alertmanager_url}/api/v2/alerts", json=alerts, timeout=10).raise_for_status()


def alert(run: str, name: str, instance: str, *, ends_at: datetime | None = None) -> dict[str, Any]:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "labels": {"alertname": name, "instance": instance, "severity": "critical", "e2e_run": run},
        "annotations": {"summary": f"{name} on {instance}"},
        "startsAt": (now - timedelta(minutes=5)).isoformat(),
        "generatorURL": "http://prometheus.local/graph",
    }
    body["endsAt"] = (ends_at or now + timedelta(hours=1)).isoformat()
    return body


def incidents_of_run(stack: Any, run: str) -> list[dict[str, Any]]:
    return [i for i in sim(stack, "state")["incidents"] if run in json.dumps(i["arguments"]) or run in i["name"]]


def test_one_incident_per_alert_group_resolved_when_the_alerts_resolve(local_stack: Any, alertmanager: str) -> None:
    run = uuid.uuid4().hex[:8]
    firing = [
        alert(run, f"HighLatency{run}", "api-1:8080"),
        alert(run, f"HighLatency{run}", "api-2:8080"),
        alert(run, f"QueueBacklog{run}", "worker-1:9000"),
    ]
    post_alerts(alertmanager, firing)
    post_alerts(alertmanager, firing)  # Alertmanager dedups; repeated notifications must not double anyway

    wait_until(lambda: len(incidents_of_run(local_stack, run)) >= 2, timeout=30, what="two incidents")
    wait_until(lambda: queue_depth(local_stack) == 0, what="the queue to drain")
    incidents = incidents_of_run(local_stack, run)
    assert len(incidents) == 2, [i["name"] for i in incidents]
    assert all(i["status_category"] == "triage" for i in incidents)

    ended = datetime.now(UTC) - timedelta(seconds=1)
    post_alerts(alertmanager, [{**a, "endsAt": ended.isoformat()} for a in firing])
    wait_until(
        lambda: all(i["status_category"] == "closed" for i in incidents_of_run(local_stack, run)),
        timeout=30,
        what="both incidents to be resolved",
    )
    wait_until(lambda: queue_depth(local_stack) == 0, what="the queue to drain")
    assert len(incidents_of_run(local_stack, run)) == 2
