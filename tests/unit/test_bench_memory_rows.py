"""The bench's memory rows judge ingest against half its MemorySize and say where moto ran."""

from __future__ import annotations

from typing import Any

from alert_courier_local.bench.table import ingest_paths


def section(ingest_maxrss: float, *, isolated: bool) -> dict[str, Any]:
    return {
        "handler": {"timeout_seconds": 10, "sizes": {}},
        "stack": {"sizes": {}},
        "ingest_memory": {
            "body_bytes": 6_287_005,
            "alerts": 9411,
            "status": 202,
            "maxrss_before_mb": 99.0,
            "maxrss_mb": ingest_maxrss,
            "handler_peak_mib": 61.3,
            "memory_size_mb": 512,
            "limit_mb": 256.0,
            "within_limit": ingest_maxrss < 256,
        },
        "dispatch_memory": {
            "firing_alerts": 600,
            "message_alerts": 200,
            "state_bytes_before": 6044,
            "state_bytes_after": 8815,
            "state_limit_bytes": 389120,
            "dead_lettered": 0,
            **({"moto": "child process"} if isolated else {}),
            "peak_mib": 4.8,
            "maxrss_before_mb": 136.6,
            "maxrss_mb": 139.4,
            "memory_size_mb": 1024,
        },
    }


def test_ingest_passes_under_half_memory_size_and_fails_above() -> None:
    assert "256 MB: **pass**" in "\n".join(ingest_paths(section(160.0, isolated=True)))
    assert "256 MB: **FAIL**" in "\n".join(ingest_paths(section(300.0, isolated=True)))


def test_dispatch_row_says_whether_moto_was_counted() -> None:
    assert "moto in a child process, not counted" in "\n".join(ingest_paths(section(160.0, isolated=True)))
    assert "moto's share in the same process included" in "\n".join(ingest_paths(section(160.0, isolated=False)))
