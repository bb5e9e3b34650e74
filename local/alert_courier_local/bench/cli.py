"""Command line of `make bench`: runs the sections, prints the table, writes `.bench/bench-results.json`."""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import DEFAULT_OUT_DIR, RESULTS_FILE, load_average, machine

SECTIONS = ("coldstart", "ingest", "dispatch", "storm", "budget", "storm500")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m alert_courier_local.bench",
        description="Benchmarks of alert-courier on this machine (not part of `make test`).",
    )
    p.add_argument("--quick", action="store_true", help="a fast sanity run: fewer processes, calls and alerts")
    p.add_argument("--only", action="append", choices=SECTIONS, help="run only this section (repeatable)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR, help=f"results directory (default {DEFAULT_OUT_DIR})")
    p.add_argument("--runs", type=int, help="cold start: fresh processes per subject and variant (default 5, quick 1)")
    p.add_argument(
        "--variants",
        nargs="+",
        choices=("dev", "artefact-nopyc", "artefact-compiled"),
        help="cold start variants (default: all three)",
    )
    p.add_argument("--ingest-alerts", type=int, default=1000, help="alerts in the ingest notification (1000)")
    p.add_argument("--dispatch-calls", type=int, help="warm calls per tool (default 200, quick 30)")
    p.add_argument("--mcp-mode", help="MCP protocol mode for the dispatch section (default: the settings' default)")
    p.add_argument("--storm-alerts", type=int, help="alerts in the storm (default 10000, quick 500)")
    p.add_argument("--storm-keys", type=int, default=100, help="distinct dedup keys in the storm (100)")
    p.add_argument("--storm-groups", type=int, default=100, help="Alertmanager groups the keys fall in (100)")
    p.add_argument("--storm-senders", type=int, default=4, help="concurrent webhook senders (4)")
    p.add_argument("--storm-workers", type=int, default=2, help="dispatch workers (SQS pollers) (2)")
    p.add_argument("--budget-groups", type=int, help="groups in the call-budget section (600, quick 150)")
    p.add_argument("--storm500-groups", type=int, help="new groups in the storm-collapse section (500, quick 100)")
    p.add_argument("--storm-child", type=Path, help=argparse.SUPPRESS)
    return p


def _progress(line: str) -> None:
    print(f"… {line}", file=sys.stderr, flush=True)


def _guarded(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A section that breaks (the code under test is changing) is reported, not fatal to the others."""
    started = time.perf_counter()
    try:
        result = fn()
    except Exception as error:
        _progress(f"{name} failed:\n{traceback.format_exc()}")
        result = {"error": f"{type(error).__name__}: {error}"}
    result["section_seconds"] = round(time.perf_counter() - started, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    quick = args.quick
    storm_alerts = args.storm_alerts or (500 if quick else 10_000)
    if args.storm_child is not None:
        from . import storm

        return storm.child(
            args.storm_child,
            alerts=storm_alerts,
            keys=args.storm_keys,
            groups=args.storm_groups,
            senders=args.storm_senders,
            workers=args.storm_workers,
        )

    wanted = [s for s in SECTIONS if not args.only or s in args.only]
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine(), "quick": quick, "sections": {}}
    sections = results["sections"]
    started = time.perf_counter()

    if "coldstart" in wanted:
        from . import coldstart

        runs = args.runs or (1 if quick else 5)
        variants = args.variants or coldstart.VARIANTS
        sections["coldstart"] = _guarded(
            "coldstart",
            lambda: coldstart.run(runs=runs, variants=variants, diagnosis_runs=1 if quick else 3, progress=_progress),
        )
    if "ingest" in wanted:
        from . import ingest

        sections["ingest"] = _guarded(
            "ingest",
            lambda: ingest.run(alerts=args.ingest_alerts, min_seconds=0.3 if quick else 2.0, progress=_progress),
        )
        sizes = (100, 1000) if quick else (1000, 10_000, 50_000)
        sections["ingest_sizes"] = _guarded("ingest_sizes", lambda: ingest.run_sizes(sizes=sizes, progress=_progress))
        sections["ingest_paths"] = _guarded(
            "ingest_paths", lambda: ingest.run_paths(sizes=sizes, quick=quick, out_dir=out_dir, progress=_progress)
        )
    if "dispatch" in wanted:
        from . import dispatch

        calls = args.dispatch_calls or (30 if quick else 200)
        sections["dispatch"] = _guarded(
            "dispatch", lambda: dispatch.run(calls=calls, mode=args.mcp_mode, progress=_progress)
        )
    if "storm" in wanted:
        from . import storm

        sections["storm"] = _guarded(
            "storm",
            lambda: storm.run(
                alerts=storm_alerts,
                keys=args.storm_keys,
                groups=args.storm_groups,
                senders=args.storm_senders,
                workers=args.storm_workers,
                out_dir=out_dir,
                progress=_progress,
            ),
        )
    if "budget" in wanted:
        from . import budget

        # incident.io's limits scaled to what one process (moto, the simulator and every container share one GIL)
        # pushes on a small machine: a quarter (a tenth for --quick), so that the limits bind.
        scale = 10 if quick else 4
        sections["budget"] = _guarded(
            "budget",
            lambda: budget.run(
                groups=args.budget_groups or (150 if quick else 600),
                server_per_minute=1200 // scale,
                budget_per_minute=1000 // scale,
                progress=_progress,
            ),
        )
    if "storm500" in wanted:
        from . import storm_collapse

        # Limits scaled as in the budget section (a quarter, a tenth for --quick), so that they bind on one process.
        scale = 10 if quick else 4
        sections["storm500"] = _guarded(
            "storm500",
            lambda: storm_collapse.run(
                groups=args.storm500_groups or (100 if quick else 500),
                server_per_minute=1200 // scale,
                budget_per_minute=1000 // scale,
                progress=_progress,
            ),
        )
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    results["machine"]["load_average_at_end"] = load_average()

    from .table import render

    path = out_dir / RESULTS_FILE
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(render(results))
    print(f"(raw results: {path}; {results['total_seconds']:.0f} s in all)")
    return 1 if any("error" in section for section in sections.values()) else 0
