"""Dispatch against the simulator: warm MCP tool calls per second and HTTP requests per tool call.

`IncidentIoMcp` (the client the dispatch function keeps per container) talks to `start_simulator(port=0)`
over real HTTP on localhost. The simulator's `/_sim/stats` counts every request that reaches `/mcp`, so
deltas around each phase give requests per call exactly. The simulator runs in this process (a uvicorn
thread), so calls per second include the server's own work under the same GIL: it is a lower bound for
the client and says nothing about incident.io's real latency; requests per call is the number that carries.
The simulator's rate limit is raised for the run (its default, 1,200 a minute, would throttle the loop).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

API_KEY = "bench-api-key"
SECRET_NAME = "alert-courier/incident-io-api-key"


class FakeSecrets:
    """Stands in for Powertools' SecretsProvider: `.get(name, max_age=, force_fetch=)`, counting reads."""

    def __init__(self, value: str) -> None:
        self._value = value
        self.reads = 0

    def get(self, name: str, max_age: int | None = None, force_fetch: bool = False, **_: Any) -> str:
        self.reads += 1
        return self._value


def _stats(url: str) -> dict[str, Any]:
    import httpx

    document: dict[str, Any] = httpx.get(f"{url}/_sim/stats", timeout=10).json()
    return document


def _delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    methods = Counter(after["http_requests_by_method"])
    methods.subtract(before["http_requests_by_method"])
    tools = Counter(after["tool_calls"])
    tools.subtract(before["tool_calls"])
    return {
        "http_requests": after["http_requests"] - before["http_requests"],
        "by_method": {k: v for k, v in methods.items() if v},
        "tool_calls": sum(v for v in tools.values() if v > 0),
    }


def run(*, calls: int = 200, mode: str | None = None, progress: Callable[[str], None] = print) -> dict[str, Any]:
    from alert_courier.aws.api_key import ApiKeySource
    from alert_courier.incident_io.mcp_client import IncidentIoMcp
    from alert_courier.settings import DispatchSettings
    from alert_courier_local.simulator import start_simulator

    protocol_mode = mode or str(DispatchSettings.model_fields["mcp_protocol_mode"].default)
    run_id = uuid.uuid4().hex[:8]
    counter = iter(range(10**9))
    workloads: dict[str, Callable[[], dict[str, Any]]] = {}
    section: dict[str, Any] = {"mode": protocol_mode, "warm_calls_per_tool": calls, "tools": {}}

    with start_simulator(port=0, api_keys={API_KEY}, rate_limit_per_minute=10**7) as sim:
        secrets = FakeSecrets(API_KEY)
        client = IncidentIoMcp(sim.mcp_url, ApiKeySource(SECRET_NAME, provider=secrets), mode=protocol_mode)

        def create() -> dict[str, Any]:
            n = next(counter)
            arguments = {"name": f"bench incident {n}", "idempotency_key": f"bench-{run_id}-{n}", "mode": "test"}
            return client.call_tool("incident_create", arguments, retry_ambiguous=True)

        def list_one() -> dict[str, Any]:
            return client.call_tool("incident_list", {"page_size": 1}, retry_ambiguous=True)

        workloads = {"incident_create": create, "incident_list": list_one}

        progress(f"dispatch: connect (mode {protocol_mode})")
        before = _stats(sim.url)
        started = time.perf_counter()
        client.input_schemas()  # what the first use of the client in a container triggers
        section["connect"] = {**_delta(before, _stats(sim.url)), "ms": round((time.perf_counter() - started) * 1000, 1)}

        for name, call in workloads.items():
            progress(f"dispatch: {name} ×{calls} warm")
            before = _stats(sim.url)
            started = time.perf_counter()
            call()
            first_ms = (time.perf_counter() - started) * 1000
            first = _delta(before, _stats(sim.url))
            before = _stats(sim.url)
            started = time.perf_counter()
            for _ in range(calls):
                call()
            elapsed = time.perf_counter() - started
            warm = _delta(before, _stats(sim.url))
            section["tools"][name] = {
                "first_call": {"http_requests": first["http_requests"], "ms": round(first_ms, 2)},
                "warm": {
                    "calls": calls,
                    "tool_calls_seen_by_server": warm["tool_calls"],
                    "http_requests": warm["http_requests"],
                    "http_requests_per_call": round(warm["http_requests"] / calls, 3),
                    "by_method": warm["by_method"],
                    "calls_per_second": round(calls / elapsed, 1),
                    "ms_per_call": round(elapsed / calls * 1000, 2),
                },
            }
        section["connects"] = client.connects
        section["secret_reads"] = secrets.reads
    return section
