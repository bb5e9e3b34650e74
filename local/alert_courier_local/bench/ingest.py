"""Ingest throughput: one 1,000-alert Alertmanager notification through `read_webhook`, in process.

Three measurements of the same request body, each repeated until a minimum time has passed:
- ``validate_only``: `AlertmanagerNotification.model_validate_json(body)`, the floor any parser pays;
- ``json_loads_then_validate``: `model_validate(json.loads(body))`, the two steps `read_webhook` takes
  (it needs the parsed document before the model, to name the first bad field or check a body credential);
- ``read_webhook``: what the ingest handler does with a request: source lookup, size limit, bearer check,
  content type, `json.loads`, model validation and normalisation into 1,000 `Alert` objects;
- ``read_webhook_and_pack``: plus one `AlertEnvelope` per alert and the packed SQS messages and batches
  (`alert_queue.pack` / `batches`) the handler would send, without calling SQS.
API Gateway, the Powertools resolver and the SQS round trips are not included.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import repeat_for, summary

TOKEN = "bench-token"


def notification(alerts: int) -> dict[str, Any]:
    """A realistic firing notification: one group, `alerts` instances, labels and annotations as Prometheus sends."""
    entries = []
    for index in range(alerts):
        instance = f"node-{index:04d}.prod.example.com:9100"
        entries.append(
            {
                "status": "firing",
                "labels": {
                    "alertname": "HighRequestLatency",
                    "severity": "critical",
                    "job": "api",
                    "instance": instance,
                    "service": "checkout",
                    "env": "production",
                    "region": "eu-west-1",
                },
                "annotations": {
                    "summary": f"p99 latency above 2s on {instance}",
                    "description": f"{instance}: p99 request latency has been above 2 s for 5 minutes.",
                    "runbook_url": "https://runbooks.example.com/high-latency",
                },
                "startsAt": f"2026-11-25T03:{index // 60 % 60:02d}:{index % 60:02d}.000Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=latency_p99+%3E+2",
                "fingerprint": f"{index:016x}",
            }
        )
    return {
        "version": "4",
        "groupKey": '{}/{severity="critical"}:{alertname="HighRequestLatency"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "alert-courier",
        "groupLabels": {"alertname": "HighRequestLatency"},
        "commonLabels": {"alertname": "HighRequestLatency", "severity": "critical", "job": "api"},
        "commonAnnotations": {"runbook_url": "https://runbooks.example.com/high-latency"},
        "externalURL": "http://alertmanager.example.com:9093",
        "alerts": entries,
    }


def run(*, alerts: int = 1000, min_seconds: float = 1.0, progress: Callable[[str], None] = print) -> dict[str, Any]:
    from alert_courier.aws.alert_queue import batches, pack, read_message
    from alert_courier.domain.alert import AlertEnvelope
    from alert_courier.ingress.intake import read_webhook
    from alert_courier.ingress.webhook import WebhookRequest
    from alert_courier.sources.alertmanager import AlertmanagerNotification

    body = json.dumps(notification(alerts)).encode()
    request = WebhookRequest(
        source="alertmanager",
        headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
        body=body,
        correlation_id="bench",
    )

    def secrets(_source: str) -> tuple[str, ...]:
        return (TOKEN,)

    def validate_only() -> None:
        AlertmanagerNotification.model_validate_json(body)

    def validate_python() -> None:
        AlertmanagerNotification.model_validate(json.loads(body))

    def read() -> int:
        intake = read_webhook(request, secrets, len(body) + 1)
        assert len(intake.alerts) == alerts, "every alert must come out normalised"
        return len(intake.alerts)

    def read_and_pack() -> int:
        intake = read_webhook(request, secrets, len(body) + 1)
        envelopes = [AlertEnvelope(alert=a, correlation_id=request.correlation_id) for a in intake.alerts]
        entries = [{"Id": str(index), **entry} for index, entry in enumerate(pack(envelopes))]
        return sum(len(read_message(entry["MessageBody"])) for batch in batches(entries) for entry in batch)

    assert read_and_pack() == alerts
    section: dict[str, Any] = {"alerts": alerts, "body_bytes": len(body), "measurements": {}}
    steps: dict[str, Callable[[], object]] = {
        "validate_only": validate_only,
        "json_loads_then_validate": validate_python,
        "read_webhook": read,
        "read_webhook_and_pack": read_and_pack,
    }
    for name, fn in steps.items():
        progress(f"ingest: {name}")
        samples = repeat_for(fn, min_seconds=min_seconds)
        stats = summary(samples)
        section["measurements"][name] = {
            "ms_per_notification": {k: round(v * 1000, 2) if k != "n" else v for k, v in stats.items()},
            "alerts_per_second": round(alerts / stats["median"]),
        }
    floor = section["measurements"]["validate_only"]["ms_per_notification"]["median"]
    for measurement in section["measurements"].values():
        measurement["cost_vs_validate_only"] = round(measurement["ms_per_notification"]["median"] / floor, 2)
    return section


def run_sizes(
    *,
    sizes: tuple[int, ...] = (1000, 10_000, 50_000),
    peak_bytes: int = 6 * 1024 * 1024,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Intake of growing notifications, `read_webhook` + envelopes + `pack` (what the handler does before it calls
    SQS): seconds, SQS messages, and the 10,000 : 1,000 time ratio (linear ≈ 10, the issue's bound 12); and the
    peak Python memory (tracemalloc) of that path for a notification of about `peak_bytes`."""
    import time
    import tracemalloc

    from alert_courier.aws.alert_queue import pack
    from alert_courier.domain.alert import AlertEnvelope
    from alert_courier.ingress.intake import read_webhook
    from alert_courier.ingress.webhook import WebhookRequest

    def request_of(alerts: int) -> WebhookRequest:
        return WebhookRequest(
            source="alertmanager",
            headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
            body=json.dumps(notification(alerts)).encode(),
            correlation_id="bench",
        )

    def intake(request: WebhookRequest) -> list[dict[str, Any]]:
        alerts = read_webhook(request, lambda _source: (TOKEN,), len(request.body) + 1).alerts
        return pack([AlertEnvelope(alert=alert, correlation_id=request.correlation_id) for alert in alerts])

    section: dict[str, Any] = {"sizes": {}}
    for alerts in sizes:
        progress(f"ingest: {alerts:,}-alert notification")
        request = request_of(alerts)
        best, messages = float("inf"), 0
        for _ in range(3 if alerts <= 10_000 else 1):
            started = time.perf_counter()
            messages = len(intake(request))
            best = min(best, time.perf_counter() - started)
        section["sizes"][str(alerts)] = {
            "body_bytes": len(request.body),
            "seconds": round(best, 3),
            "sqs_messages": messages,
        }
    if "1000" in section["sizes"] and "10000" in section["sizes"]:
        section["ratio_10k_to_1k"] = round(
            section["sizes"]["10000"]["seconds"] / section["sizes"]["1000"]["seconds"], 2
        )
    per_alert = len(request_of(1000).body) / 1000
    request = request_of(max(1, int(peak_bytes / per_alert)))
    progress(f"ingest: peak memory for a {len(request.body) / 1e6:.1f} MB notification")
    tracemalloc.start()
    intake(request)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    section["peak_memory"] = {"body_bytes": len(request.body), "peak_mib": round(peak / 2**20, 1)}
    return section


def in_child(kind: str, args: list[int], *, out_dir: Path, timeout: float, progress: Callable[[str], None]) -> Any:
    """One part of `intake_child` in a fresh process (see there); its output goes to `<out_dir>/<kind>.log`."""
    progress(f"ingest: {kind.replace('_', ' ')} {' '.join(map(str, args))} (a fresh process)")
    out = out_dir / f"{kind}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "alert_courier_local.bench.intake_child", kind, str(out), *map(str, args)]
    with (out_dir / f"{kind}.log").open("w") as log:
        completed = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False)
    if completed.returncode != 0 or not out.exists():
        tail = (out_dir / f"{kind}.log").read_text(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"the {kind} process failed ({completed.returncode}): {' | '.join(tail)}")
    return json.loads(out.read_text())


def with_ratio(section: dict[str, Any]) -> dict[str, Any]:
    sizes = section["sizes"]
    if "1000" in sizes and "10000" in sizes and sizes["1000"]["status"] == sizes["10000"]["status"] == 202:
        section["ratio_10k_to_1k"] = round(sizes["10000"]["seconds"] / sizes["1000"]["seconds"], 2)
    return section


def run_paths(
    *, sizes: tuple[int, ...], quick: bool, out_dir: Path, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    """Intake through the ingest handler and through the local stack, and the peak memory of ingest and dispatch
    (`intake_child`): each in a fresh process."""
    grow = [200, 600] if quick else [2000, 24_000]  # dispatch: alerts per message, most alerts in the group
    return {
        "handler": with_ratio(in_child("handler", list(sizes), out_dir=out_dir, timeout=900, progress=progress)),
        "stack": with_ratio(in_child("stack", list(sizes), out_dir=out_dir, timeout=900, progress=progress)),
        "ingest_memory": in_child("ingest_memory", [], out_dir=out_dir, timeout=300, progress=progress),
        "dispatch_memory": in_child("dispatch_memory", grow, out_dir=out_dir, timeout=1200, progress=progress),
    }
