"""A real Prometheus Alertmanager configured with `send_resolved: false`: alert-courier never hears of the resolve,
so the only way the incident can close is the reconcile pass reading Alertmanager's API v2 (`GET /api/v2/alerts
?active=true`). The pass runs on the session stack's scheduler wiring every period, as the local stack's ticker
would every LOCAL_SCHEDULE_SECONDS; the incident must close within two passes of Alertmanager resolving it."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from alert_courier.aws.alertmanager_api import AlertmanagerActiveAlerts
from alert_courier.domain.rules import ReconcileSpec
from alert_courier.use_cases.reconciliation import Reconciler
from tests.conftest import wait_until
from tests.e2e.test_alertmanager import BINARY, alert, incidents_of_run, post_alerts, running_alertmanager
from tests.integration.test_pipeline import queue_depth

pytestmark = pytest.mark.slow
PERIOD_SECONDS = 2.0


@pytest.fixture
def quiet_alertmanager(local_stack: Any, tmp_path: Path) -> Iterator[str]:
    """Alertmanager that sends firing notifications only (`send_resolved: false`)."""
    if BINARY is None:
        pytest.fail("prometheus-alertmanager is not installed: `sudo apt-get install prometheus-alertmanager`")
    receiver = {
        "url": f"{local_stack.front_door_url}/webhooks/alertmanager",
        "send_resolved": False,
        "http_config": {"authorization": {"type": "Bearer", "credentials": "local-dev-token"}},
    }
    config = {
        "route": {
            "receiver": "alert-courier",
            "group_by": ["alertname", "e2e_run"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "alert-courier", "webhook_configs": [receiver]}],
    }
    with running_alertmanager(config, tmp_path) as url:
        yield url


class Ticker:
    """The scheduler's reconcile pass every PERIOD_SECONDS (the local stack's ticker, on this test's rules)."""

    def __init__(self, reconciler: Reconciler) -> None:
        self.reconciler = reconciler
        self.passes = 0
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(PERIOD_SECONDS):
            report = self.reconciler.run()
            self.lines += [change.line() for change in report.changes]
            self.passes += 1

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def test_a_resolve_alertmanager_never_sends_closes_the_incident_within_two_reconcile_periods(
    local_stack: Any, quiet_alertmanager: str
) -> None:
    module = sys.modules["alert_courier_function_SchedulerFunction"]  # the scheduler as the local stack wired it
    edge = module.edge
    rules = edge.rules().model_copy(
        update={"reconcile": ReconcileSpec.model_validate({"alertmanager": {"url": quiet_alertmanager, "every": "1s"}})}
    )
    reconciler = Reconciler(  # as `wiring.reconciler_on` builds it, with this Alertmanager in the rules
        courier=edge.courier,
        states=edge.groups,
        open_groups=edge.groups,
        history=edge.history,
        rules=lambda: rules,
        truths=[AlertmanagerActiveAlerts("alertmanager", lambda: rules)],
    )

    run = uuid.uuid4().hex[:8]
    firing = [alert(run, f"DiskFull{run}", "db-1:9100"), alert(run, f"DiskFull{run}", "db-2:9100")]
    post_alerts(quiet_alertmanager, firing)
    [incident] = wait_until(lambda: incidents_of_run(local_stack, run), timeout=30, what="the incident")
    wait_until(lambda: queue_depth(local_stack) == 0, what="the queue to drain")
    assert incident["status_category"] == "triage"

    with Ticker(reconciler) as ticker:
        wait_until(lambda: ticker.passes >= 2, timeout=30, what="two passes")
        assert incidents_of_run(local_stack, run)[0]["status_category"] == "triage"  # still firing: left alone
        ended = datetime.now(UTC) - timedelta(seconds=1)
        post_alerts(quiet_alertmanager, [{**a, "endsAt": ended.isoformat()} for a in firing])
        wait_until(
            lambda: not [a for a in httpx.get(f"{quiet_alertmanager}/api/v2/alerts", timeout=5).json()
                         if run in json.dumps(a["labels"])],
            timeout=30,
            what="Alertmanager to resolve the alerts",
        )  # fmt: skip
        resolved_at_pass = ticker.passes
        wait_until(
            lambda: incidents_of_run(local_stack, run)[0]["status_category"] == "closed",
            timeout=30,
            what="the reconcile pass to close the incident",
        )
        closed_at_pass = ticker.passes
    assert closed_at_pass - resolved_at_pass <= 2, (resolved_at_pass, closed_at_pass)
    assert any(f"Alertmanager at {quiet_alertmanager} no longer lists it as active" in line for line in ticker.lines)
    assert len(incidents_of_run(local_stack, run)) == 1
