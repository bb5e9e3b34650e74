"""Renders bench results as Markdown tables (pasteable into the README) from the JSON the sections return."""

from __future__ import annotations

from typing import Any

from .coldstart import FUNCTION_IDS, SUBJECTS, VARIANTS

MODULE_LABELS = {"app": "app.py's own body (module-level clients, Tracer patching, settings)"}


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def header(machine: dict[str, Any]) -> list[str]:
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
    return [
        f"## alert-courier benchmarks: {machine['date']}, revision {machine['revision']}",
        "",
        f"Machine: {machine['cpus']} CPUs ({machine['cpu_model']}), {machine['os']}, {machine['python']}; "
        f"load average {machine['load_average_at_start']} at the start, "
        f"{machine.get('load_average_at_end', '?')} at the end.",
        f"Packages: {packages}.",
    ]


def coldstart(section: dict[str, Any]) -> list[str]:
    variants = [v for v in VARIANTS if v in section["variants"]]
    lines = [
        "",
        f"### Cold start: import + module-level init, ms (median / min of {section['runs']} fresh processes)",
        "",
        "| | " + " | ".join(section["variants"][v]["title"] for v in variants) + " |",
        "|---" * (len(variants) + 1) + "|",
    ]
    labels = {
        "baseline": "baseline: `import boto3` + one client",
        "ingest-floor": "ingest's libraries alone (no code of ours)¹",
        "ingest": "ingest",
        "dispatch": "dispatch",
        "dispatch+sdk": "dispatch + the MCP SDK its first tool call loads²",
    }
    for subject in SUBJECTS:
        cells = []
        for variant in variants:
            data = section["variants"][variant]["subjects"][subject]
            if "import_init_ms" not in data:
                cells.append(f"failed: {data.get('error', '?')}")
                continue
            stats = data["import_init_ms"]
            cell = f"{_n(stats['median'])} / {_n(stats['min'])}"
            if "target" in data:
                verdict = "met" if data["target_met"] else "missed"
                cell += f" (**{data['ratio']:.2f}×**, target ≤ {data['target']}×: {verdict})"
            elif "ratio" in data:
                cell += f" ({data['ratio']:.2f}×)"
            cells.append(cell)
        lines.append(f"| {labels[subject]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Each sample: a new interpreter with the function's template environment and Lambda's variables (so the",
        "Tracer is on and patches, as in AWS), timed from its first line to the end of `import app` (all",
        "module-level objects built; interpreter start-up excluded). Ratio: function median / baseline median of",
        "the same column.",
        "",
        "¹ boto3 + an SQS client, Powertools Logger, Metrics, Tracer (patching botocore) and the HTTP API resolver,",
        "Parameters' SecretsProvider and one pydantic model: the least an ingest built on them can cost.",
        "² `import app` then `alert_courier.incident_io.mcp_client.load_sdk()`: the import dispatch defers to its",
        "first tool call (containers that only record alerts joining open groups never make one).",
    ]
    diagnosis = section.get("diagnosis")
    if diagnosis:
        lines.append("")
        for subject in FUNCTION_IDS:
            top = diagnosis["top_added_over_baseline_ms"].get(subject)
            if top:
                listed = ", ".join(f"{MODULE_LABELS.get(pkg, pkg)} {ms:.0f}" for pkg, ms in top)
                lines.append(f"- {subject} adds over the baseline (`-X importtime` self ms by package): {listed}")
        connects = diagnosis["network_connects_during_init"]
        made = {s: c for s, c in connects.items() if c}
        lines.append(f"- network connections during init: {made if made else 'none'}")
    built = section.get("aws_sam_build")
    if built:
        lines.append(f"- `.aws-sam/build`: {built}")
    artefact = section.get("artefact")
    if artefact:
        missing = f"; not installed here: {', '.join(artefact['missing'])}" if artefact["missing"] else ""
        lines.append(
            f"- layer copy: {len(artefact['distributions'])} distributions (the layer's requirements + boto3), "
            f"{artefact['megabytes']} MB, {artefact['pyc_files']} .pyc before compileall{missing}"
        )
    return lines


def ingest(section: dict[str, Any]) -> list[str]:
    labels = {
        "validate_only": "only `AlertmanagerNotification.model_validate_json`",
        "json_loads_then_validate": "`json.loads` + `model_validate` (no normalising)",
        "read_webhook": "`read_webhook` (auth, JSON, validate, normalise)",
        "read_webhook_and_pack": "`read_webhook` + envelopes + `pack`/`batches`",
    }
    lines = [
        "",
        f"### Ingest: one {_n(section['alerts'])}-alert Alertmanager notification "
        f"({_n(section['body_bytes'] / 1024)} KiB), in process",
        "",
        "| step | ms per notification (median) | alerts/s | cost × validate-only |",
        "|---|---|---|---|",
    ]
    for name, m in section["measurements"].items():
        lines.append(
            f"| {labels[name]} | {m['ms_per_notification']['median']:.1f} | {_n(m['alerts_per_second'])} "
            f"| {m['cost_vs_validate_only']:.2f} |"
        )
    lines += [
        "",
        "Medians of repeated runs; API Gateway, the Powertools resolver and the SQS calls are not included.",
    ]
    return lines


def dispatch(section: dict[str, Any]) -> list[str]:
    connect = section["connect"]
    methods = ", ".join(f"{k} {v}" for k, v in connect["by_method"].items())
    lines = [
        "",
        f"### Dispatch: `IncidentIoMcp` → MCP simulator over local HTTP (mode `{section['mode']}`)",
        "",
        f"Connect (first use in a container): {connect['http_requests']} HTTP requests ({methods}), "
        f"{connect['ms']:.0f} ms.",
        "",
        "| tool | warm calls/s | ms per call | HTTP requests per call, warm | HTTP requests, first call |",
        "|---|---|---|---|---|",
    ]
    for name, tool in section["tools"].items():
        warm = tool["warm"]
        lines.append(
            f"| `{name}` ×{warm['calls']} | {warm['calls_per_second']:.0f} | {warm['ms_per_call']:.1f} "
            f"| {warm['http_requests_per_call']:.2f} | {tool['first_call']['http_requests']} |"
        )
    lines += [
        "",
        "Requests counted by the simulator (`/_sim/stats`). It runs in the same process (one GIL), so calls/s is a",
        "floor for the client and says nothing of incident.io's latency; requests per call is what carries over.",
    ]
    return lines


def storm(section: dict[str, Any]) -> list[str]:
    shape = section["plan"]
    title = (
        f"### Storm: {_n(shape['alerts'])} alerts ({shape['keys']} dedup keys in {shape['groups']} groups, "
        f"{shape['rounds']} sends of each group: {shape['firing_rounds']} firing, {shape['resolved_rounds']} "
        "resolved) through the local stack"
    )
    posted = section["posted"]
    statuses = ", ".join(f"{k}: {_n(v)}" for k, v in sorted(posted["statuses"].items()))
    tools = ", ".join(f"{k} {v}" for k, v in sorted(section["tool_calls"].items())) or "none"
    needed = ", ".join(f"{k} {v}" for k, v in section["distinct_actions_needed"].items())
    methods = ", ".join(f"{k} {v}" for k, v in sorted(section["mcp_http_requests_by_method"].items()))
    by_status = ", ".join(f"{k} {v}" for k, v in sorted(section["incidents_by_status"].items()))
    dispatch_line = section["dispatch"]
    rest = section.get("rest_requests") or {}
    rows = [
        ("webhooks posted", f"{_n(posted['requests'])} ({statuses}) by {section['senders']} concurrent senders"),
        ("alerts accepted by ingest", _n(posted["alerts_accepted"])),
        (
            "posting time",
            f"{posted['firing_seconds'] + posted['resolved_seconds']:.1f} s "
            f"({_n(posted['requests_per_second'])} webhooks/s, {_n(posted['alerts_per_second'])} alerts/s)",
        ),
        (
            "SQS messages dispatched",
            f"{_n(dispatch_line['records'])} in {_n(dispatch_line['invocations'])} invocations "
            f"({section['dispatch_workers']} workers), {dispatch_line['batch_item_failures']} batch item failures",
        ),
        *_storm_costs(section),
        ("incidents opened", f"**{section['incidents_opened']}** ({by_status})"),
        *_tool_call_rows(section, tools, needed),
        ("MCP HTTP requests", f"{section['mcp_http_requests']} ({methods})"),
        ("REST requests to incident.io", str(sum(rest.values())) + (f" ({rest})" if rest else "")),
        ("dead-lettered", str(section["dead_lettered"])),
        (
            "wall time",
            f"{section['wall_seconds']:.1f} s, of which {section['drain_after_last_post_seconds']:.1f} s draining "
            f"after the last post{'' if section['drained'] else ' (**queue not drained before the timeout**)'}; "
            f"stack start {section['stack_start_seconds']:.1f} s before that",
        ),
        (
            "peak memory (`ru_maxrss`)",
            f"{section['maxrss_mb']:.0f} MB for the whole local stack in one process "
            f"({section['maxrss_after_start_mb']:.0f} MB right after start)",
        ),
    ]
    notes = [
        "",
        "moto drops a FIFO duplicate only while its first copy is still queued (AWS remembers deduplication ids",
        "for 5 minutes), so more re-sends reach dispatch here than in AWS; dispatch's per-group state absorbs",
        "them. Every component (front door, ingest, moto, pollers, dispatch, simulator) shares one process and",
        "one GIL: posting speed is moto's and this machine's, not Lambda's.",
    ]
    return ["", title, "", "| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows] + notes


def _tool_call_rows(section: dict[str, Any], tools: str, needed: str) -> list[tuple[str, str]]:
    """The calls the storm's actions made, against those it needs; the reconcile pass's reads of open incidents
    apart (results of versions that did not count them compare every call)."""
    checks = section.get("reconcile_checks")
    acting = section.get("action_tool_calls_total", section["tool_calls_total"])
    verdict = "equal" if acting == section["distinct_actions_needed_total"] else "**differs**"
    rows = [
        (
            "tool calls",
            f"{section['tool_calls_total']} ({tools}); for actions **{acting}**, distinct actions needed: "
            f"{section['distinct_actions_needed_total']} ({needed}): {verdict}",
        )
    ]
    if checks is not None:
        rows.append(
            (
                "reconcile's reads (`incident_show`)",
                f"{_n(checks['incident_show'])} in {_n(checks['scheduler_runs'])} scheduler runs: each open incident "
                "checked for a person's close, at the lowest budget priority; locally every tick of the schedule, "
                "on AWS every `ReconcileMinutes` (default 5)",
            )
        )
    return rows


def _storm_costs(section: dict[str, Any]) -> list[tuple[str, str]]:
    """Per notification: SQS messages ingest sent, dispatch's DynamoDB calls and write units; the end state's time."""
    if "sqs_messages_sent" not in section:
        return []  # results of a version that did not count them
    notifications = max(1, section["posted"]["statuses"].get("202", 0))
    dynamodb = section["dispatch_dynamodb"]
    calls = sum(dynamodb["calls"].values())
    by_operation = ", ".join(f"{k} {v / notifications:.2f}" for k, v in sorted(dynamodb["calls"].items()))
    seconds = section["end_state_after_last_post_seconds"]
    reached = "not reached before the timeout" if seconds is None else f"{seconds:.1f} s after the last webhook"
    verdict = "correct" if section["end_state_correct"] else "**wrong**"
    return [
        (
            "SQS messages sent by ingest",
            f"{_n(section['sqs_messages_sent'])} ({section['sqs_messages_sent'] / notifications:.2f} per notification)",
        ),
        (
            "DynamoDB calls by dispatch",
            f"{_n(calls)} ({calls / notifications:.2f} per notification: {by_operation})",
        ),
        (
            "DynamoDB write units by dispatch",
            f"{_n(dynamodb['write_units'])} ({dynamodb['write_units'] / notifications:.2f} per notification)",
        ),
        ("end state (every group's incident closed)", f"{verdict}, {reached}"),
    ]


def ingest_sizes(section: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "### Ingest: growing notifications, `read_webhook` + envelopes + `pack`, in process",
        "",
        "| alerts | body MB | s | SQS messages |",
        "|---|---|---|---|",
    ]
    for alerts, m in section["sizes"].items():
        lines.append(f"| {_n(int(alerts))} | {m['body_bytes'] / 1e6:.1f} | {m['seconds']:.3f} | {m['sqs_messages']} |")
    if "ratio_10k_to_1k" in section:
        lines += ["", f"10,000 : 1,000 time ratio {section['ratio_10k_to_1k']} (linear ≈ 10; bound 12)."]
    peak = section["peak_memory"]
    lines.append(f"Peak Python memory for a {peak['body_bytes'] / 1e6:.1f} MB notification: {peak['peak_mib']} MiB.")
    return lines


def ingest_paths(section: dict[str, Any]) -> list[str]:
    handler, stack = section["handler"], section["stack"]
    lines = [
        "",
        "### Ingest: growing notifications through the ingest handler and through the local stack",
        "",
        "| alerts | handler: body MB | answer | s | SQS messages | local stack: body MB | answer | s | SQS messages |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for alerts in handler["sizes"]:
        cells = []
        for path in (handler, stack):
            m = path["sizes"].get(alerts)
            cells += (
                ["–"] * 4
                if m is None
                else [f"{m['body_bytes'] / 1e6:.1f}", str(m["status"]), f"{m['seconds']:.3f}", str(m["sqs_messages"])]
            )
        lines.append(f"| {_n(int(alerts))} | " + " | ".join(cells) + " |")
    ratios = []
    for name, path in (("handler", handler), ("local stack", stack)):
        ratio = path.get("ratio_10k_to_1k")
        if ratio is not None:
            ratios.append(f"{name} {ratio}{'' if ratio <= 12 else ' (**over the bound**)'}")
    if ratios:
        lines += ["", f"10,000 : 1,000 time ratio: {', '.join(ratios)} (linear ≈ 10; bound 12)."]
    lines += [
        "",
        f"Handler: the ingest Lambda handler in process on the function's {handler['timeout_seconds']} s timeout (its "
        "time budget in force), an SQS double that accepts every batch, the body limit raised to 64 MiB so that the "
        "parsing is measured (on AWS a body over 6 MB never reaches the function). Local stack: HTTP to the front "
        "door → ingest → moto's SQS, nothing dispatched meanwhile, notifications without descriptions; ingest's 6 MiB "
        "body limit applies (413 above it). Best of 3 up to 10,000 alerts, one run above.",
    ]
    memory = section["ingest_memory"]
    half = memory["memory_size_mb"] / 2
    within = memory.get("within_limit", memory["maxrss_mb"] < half)
    handler_peak = memory.get("handler_peak_mib")
    lines.append(
        f"Ingest's peak memory (`ru_maxrss` of a fresh process that only reads a body another process built, imports "
        f"included) for a {memory['body_bytes'] / 1e6:.1f} MB notification of {_n(memory['alerts'])} alerts (answer "
        f"{memory['status']}): {memory['maxrss_mb']:.0f} MB ({memory['maxrss_before_mb']:.0f} MB before it"
        + ("" if handler_peak is None else f"; the handler call's tracemalloc peak {handler_peak} MiB")
        + f"); MemorySize {memory['memory_size_mb']} MB, limit half of it, {half:.0f} MB: "
        f"{'**pass**' if within else '**FAIL**'}."
    )
    dispatch = section["dispatch_memory"]
    isolated = dispatch.get("moto") == "child process"
    moto = "moto in a child process, not counted" if isolated else "moto's share in the same process included"
    delta = dispatch["maxrss_mb"] - dispatch["maxrss_before_mb"]
    lines.append(
        f"Dispatch applying a {_n(dispatch['message_alerts'])}-alert message to one group, growing it to "
        f"{_n(dispatch['firing_alerts'])} firing alerts (stored state {dispatch['state_bytes_before'] / 1024:.0f} → "
        f"{dispatch['state_bytes_after'] / 1024:.0f} KiB of the store's {dispatch['state_limit_bytes'] / 1024:.0f} KiB "
        f"limit, {dispatch['dead_lettered']} dead-lettered): peak Python memory (tracemalloc over that poll, {moto}) "
        f"{dispatch['peak_mib']} MiB; the measuring process's `ru_maxrss` {dispatch['maxrss_before_mb']:.0f} → "
        f"{dispatch['maxrss_mb']:.0f} MB (+{delta:.0f} MB); MemorySize {dispatch['memory_size_mb']} MB: "
        f"{'**under**' if dispatch['maxrss_mb'] < dispatch['memory_size_mb'] else '**over**'}."
    )
    return lines


def render(results: dict[str, Any]) -> str:
    lines = header(results["machine"])
    sections = results["sections"]
    from .budget import render as budget
    from .storm_collapse import render as storm_collapse

    renderers = (
        ("coldstart", coldstart),
        ("ingest", ingest),
        ("ingest_sizes", ingest_sizes),
        ("ingest_paths", ingest_paths),
        ("dispatch", dispatch),
        ("storm", storm),
    )
    for name, renderer in (*renderers, ("budget", budget), ("storm500", storm_collapse)):
        if name in sections:
            if "error" in sections[name]:
                lines += ["", f"### {name}", "", f"failed: {sections[name]['error']}"]
            else:
                lines += renderer(sections[name])
    return "\n".join(lines) + "\n"
