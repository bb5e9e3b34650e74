"""The local incident.io MCP simulator over real HTTP: an `mcp.Client` for /mcp, plain httpx for the rest."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import httpx
import httpx2
import mcp_types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from alert_courier_local.simulator import (
    DEFAULT_ALERT_SOURCE_ID,
    DEFAULT_ALERT_SOURCE_TOKEN,
    DEFAULT_API_KEY,
    DEFAULT_HEARTBEAT_SOURCE_ID,
    RunningSimulator,
    SimEvent,
    Simulator,
    start_simulator,
)

OFFICIAL_TOOLS = {
    "incident_create",
    "incident_update",
    "incident_list",
    "incident_show",
    "alert_list",
    "alert_show",
    "escalation_create",
    "escalation_list",
    "escalation_show",
    "escalation_respond",
    "escalation_path_list",
    "escalation_path_show",
    "schedule_list",
    "schedule_show",
    "team_list",
    "user_list",
}
STATUS = {  # organisation.json's incident statuses
    "triage": "01HR71DDZCZNWJ47TAN9ZT24MN",
    "investigating": "01HR71JX4EPZX45HY43KWJRP1X",
    "fixing": "01HR718243A7Z3DJ8FSSZ5AWSH",
    "documenting": "01HR71554DJ09TQM83XSSSS6YS",
    "closed": "01HR70YRSQC4DWA7N36096Q14D",
}
CRITICAL = "01HR716WVB9S346Q3D25VT4F5V"
PLATFORM_PATH = "01HR7108MRG59S2S1KKE59RMZ9"
ADA = "01HR71FVX7X9YP981068VCD1GD"
SOURCE_AUTH = {"Authorization": f"Bearer {DEFAULT_ALERT_SOURCE_TOKEN}"}


# ---- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    running = start_simulator(port=0)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def fresh(sim: RunningSimulator) -> None:
    sim.simulator.on_event = None
    assert httpx.post(f"{sim.url}/_sim/reset").status_code == 200


def set_faults(sim: RunningSimulator, faults: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{sim.url}/_sim/faults", json=faults)
    assert response.status_code == 200, response.text
    return dict(response.json())


def sim_get(sim: RunningSimulator, what: str) -> dict[str, Any]:
    return dict(httpx.get(f"{sim.url}/_sim/{what}").json())


@asynccontextmanager
async def connect(
    sim: RunningSimulator,
    *,
    key: str = DEFAULT_API_KEY,
    mode: str = "auto",
    timeout: float = 5.0,
    wire: list[httpx2.Response] | None = None,
) -> AsyncIterator[Client]:
    """An `mcp.Client` on a custom httpx2 client carrying the bearer key; `wire` collects HTTP responses."""

    async def record(response: httpx2.Response) -> None:
        if wire is not None:
            wire.append(response)

    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {key}"}, timeout=httpx2.Timeout(5.0), event_hooks={"response": [record]}
    )
    transport = streamable_http_client(sim.mcp_url, http_client=http)
    async with http, Client(transport, mode=mode, read_timeout_seconds=timeout) as client:
        yield client


def call(sim: RunningSimulator, tool: str, arguments: dict[str, Any], **options: Any) -> mcp_types.CallToolResult:
    async def once() -> mcp_types.CallToolResult:
        async with connect(sim, **options) as client:
            return await client.call_tool(tool, arguments)

    return asyncio.run(once())


def ok(result: mcp_types.CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    text = result.content[0]
    assert isinstance(text, mcp_types.TextContent)
    document = json.loads(text.text)
    assert result.structured_content == document
    return dict(document)


def error(result: mcp_types.CallToolResult) -> dict[str, Any]:
    assert result.is_error
    text = result.content[0]
    assert isinstance(text, mcp_types.TextContent)
    document = dict(json.loads(text.text))
    assert set(document) >= {"type", "status", "request_id", "errors"}
    return document


def failures(sim: RunningSimulator, tool: str, arguments: dict[str, Any], **options: Any) -> list[BaseException]:
    """The leaf exceptions of a call that must fail (the SDK wraps them in exception groups)."""
    try:
        call(sim, tool, arguments, **options)
    except Exception as raised:
        return leaves(raised)
    pytest.fail(f"{tool} was expected to fail")


def leaves(raised: BaseException) -> list[BaseException]:
    if isinstance(raised, BaseExceptionGroup):
        return [leaf for inner in raised.exceptions for leaf in leaves(inner)]
    return [raised]


def tool_statuses(wire: list[httpx2.Response]) -> list[int]:
    return [r.status_code for r in wire if r.request.headers.get("mcp-method") == "tools/call"]


# ---- authentication ---------------------------------------------------------------------------


def test_missing_or_wrong_key_is_401_before_any_json_rpc(sim: RunningSimulator) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    missing = httpx.post(sim.mcp_url, json=ping)
    wrong = httpx.post(sim.mcp_url, json=ping, headers={"Authorization": "Bearer nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        body = response.json()
        assert body["type"] == "authentication_error" and body["status"] == 401 and body["request_id"]
        assert body["errors"][0]["code"] == "missing_authorization_material"
        assert "nope" not in response.text
    assert any(isinstance(e, MCPError) for e in failures(sim, "team_list", {}, key="nope"))
    assert sim_get(sim, "stats")["http_requests"] == 4  # two raw, then discover + initialize fallback
    assert sim_get(sim, "stats")["tool_calls"] == {}


def test_accepted_keys_can_change_at_run_time(sim: RunningSimulator) -> None:
    sim.simulator.api_keys.add("second-key")
    try:
        assert ok(call(sim, "team_list", {}, key="second-key"))["teams"]
    finally:
        sim.simulator.api_keys.discard("second-key")
    assert failures(sim, "team_list", {}, key="second-key")


# ---- tools/list, resource, happy paths ----------------------------------------------------------


def test_tools_list_advertises_the_contract_file_verbatim_and_the_organisation_resource(sim: RunningSimulator) -> None:
    package = resources.files("alert_courier_local.simulator")
    contract = json.loads(package.joinpath("contract.json").read_text())
    assert contract["format"] == "alert-courier-contract/1" and "unknown" in contract["_note"]
    schema_file = {tool["name"]: tool for tool in contract["tools"]}

    async def scenario() -> tuple[list[mcp_types.Tool], str]:
        async with connect(sim) as client:
            listed = await client.list_tools()
            organisation = await client.read_resource("config://organisation")
            content = organisation.contents[0]
            assert isinstance(content, mcp_types.TextResourceContents)
            return listed.tools, content.text

    tools, organisation_text = asyncio.run(scenario())
    assert {tool.name for tool in tools} == OFFICIAL_TOOLS == set(schema_file)
    for tool in tools:
        assert tool.input_schema == schema_file[tool.name]["inputSchema"]
        assert tool.description == schema_file[tool.name]["description"]
    organisation = json.loads(organisation_text)
    assert organisation == contract["organisation"]
    assert [s["name"] for s in organisation["severities"]] == ["Critical", "Major", "Minor"]
    categories = {s["name"]: s["category"] for s in organisation["incident_statuses"]}
    assert categories["Triage"] == "triage" and categories["Fixing"] == "live" and categories["Closed"] == "closed"
    assert organisation["incident_types"][0]["name"] == "Default" and organisation["custom_fields"] == []
    assert all(len(s["id"]) == 26 for s in organisation["severities"])


def test_every_tool_has_a_happy_path(sim: RunningSimulator) -> None:
    httpx.post(
        f"{sim.url}/v2/alert_events/http/{DEFAULT_ALERT_SOURCE_ID}",
        headers=SOURCE_AUTH,
        json={"title": "CPU hot", "status": "firing", "deduplication_key": "cpu-1"},
    )

    async def scenario() -> dict[str, dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        async with connect(sim) as client:

            async def run(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
                seen[tool] = ok(await client.call_tool(tool, arguments))
                return seen[tool]

            created = await run("incident_create", {"name": "Disk full", "severity_id": CRITICAL, "summary": "db-1"})
            reference = created["incident"]["reference"]
            await run("incident_update", {"incident_id": reference, "incident_status_id": STATUS["fixing"]})
            await run("incident_show", {"id": reference})
            await run("incident_list", {})
            alerts = await run("alert_list", {"deduplication_key": "cpu-1"})
            await run("alert_show", {"id": alerts["alerts"][0]["id"]})
            draft = await run("escalation_create", {"title": "Disk full", "escalation_path_id": PLATFORM_PATH})
            page = await run("escalation_create", {"action": "execute", "suggestion_id": draft["suggestion_id"]})
            await run("escalation_list", {})
            await run("escalation_show", {"id": page["escalation"]["id"]})
            await run("escalation_respond", {"id": page["escalation"]["id"], "response": "acknowledge"})
            paths = await run("escalation_path_list", {})
            await run("escalation_path_show", {"id": paths["escalation_paths"][0]["id"]})
            schedules = await run("schedule_list", {})
            await run("schedule_show", {"id": schedules["schedules"][0]["id"]})
            await run("team_list", {})
            await run("user_list", {})
        return seen

    seen = asyncio.run(scenario())
    assert set(seen) == OFFICIAL_TOOLS
    incident = seen["incident_show"]["incident"]
    assert incident["reference"] == "INC-1" and len(incident["id"]) == 26
    assert incident["incident_status"] == {**incident["incident_status"], "name": "Fixing", "category": "live"}
    assert incident["severity"]["name"] == "Critical" and incident["summary"] == "db-1"
    assert {"mode", "visibility", "created_at", "updated_at"} <= set(incident)
    assert seen["incident_list"]["incidents"][0]["id"] == incident["id"]
    assert seen["alert_show"]["alert"]["status"] == "firing"
    assert seen["escalation_respond"]["escalation"]["status"] == "acked"
    levels = seen["escalation_path_show"]["escalation_path"]["levels"]
    assert levels[0]["targets"][0]["current_on_call"][0]["name"]
    assert seen["schedule_show"]["schedule"]["current_shifts"][0]["user"]["email"].endswith("@example.com")
    assert [t["name"] for t in seen["team_list"]["teams"]] == ["Platform", "Payments"]
    assert all(u["state"] == "active" for u in seen["user_list"]["users"])
    assert len(ok(call(sim, "user_list", {"include_inactive": True}))["users"]) == 5


# ---- incidents ------------------------------------------------------------------------------------


def test_incident_create_replays_an_idempotency_key(sim: RunningSimulator) -> None:
    first = ok(call(sim, "incident_create", {"name": "Disk full", "idempotency_key": "alert-group-1"}))
    again = ok(call(sim, "incident_create", {"name": "Disk full (retry)", "idempotency_key": "alert-group-1"}))
    other = ok(call(sim, "incident_create", {"name": "Other", "idempotency_key": "alert-group-2"}))
    assert again["incident"]["id"] == first["incident"]["id"] and again["incident"]["name"] == "Disk full"
    assert other["incident"]["reference"] == "INC-2"
    incidents = sim_get(sim, "state")["incidents"]
    assert [i["arguments"]["idempotency_key"] for i in incidents] == ["alert-group-1", "alert-group-2"]
    assert incidents[0]["status"] == "Triage" and incidents[0]["severity"] is None  # severity is optional here


def test_incident_arguments_are_checked_against_the_advertised_schema(sim: RunningSimulator) -> None:
    missing = error(call(sim, "incident_create", {"summary": "no name"}))
    unknown = error(call(sim, "incident_create", {"name": "x", "title": "not a field"}))
    bad_enum = error(call(sim, "incident_create", {"name": "x", "mode": "drill"}))
    bad_id = error(call(sim, "incident_create", {"name": "x", "severity_id": "01NOPE"}))
    assert missing["errors"][0] == {**missing["errors"][0], "code": "is_required", "source": {"field": "name"}}
    assert unknown["errors"][0]["source"] == {"field": "title"}
    assert bad_enum["status"] == 422 and bad_enum["errors"][0]["source"] == {"field": "mode"}
    assert bad_id["type"] == "validation_error" and bad_id["errors"][0]["source"] == {"field": "severity_id"}
    assert error(call(sim, "incident_show", {"id": "INC-404"}))["type"] == "not_found"


def test_incident_status_transitions_follow_the_lifecycle(sim: RunningSimulator) -> None:
    async def scenario() -> list[mcp_types.CallToolResult]:
        async with connect(sim) as client:
            created = ok(await client.call_tool("incident_create", {"name": "Lifecycle"}))
            ref = created["incident"]["reference"]

            async def move(status: str) -> mcp_types.CallToolResult:
                return await client.call_tool(
                    "incident_update", {"incident_id": ref, "incident_status_id": STATUS[status]}
                )

            return [await move(s) for s in ("investigating", "fixing", "triage", "documenting", "closed", "fixing")]

    to_investigating, to_fixing, back_to_triage, to_documenting, to_closed, reopen = asyncio.run(scenario())
    assert ok(to_investigating)["incident"]["incident_status"]["category"] == "live"
    assert ok(to_fixing)["incident"]["incident_status"]["name"] == "Fixing"
    assert error(back_to_triage)["errors"][0]["source"] == {"field": "incident_status_id"}
    assert ok(to_documenting)["incident"]["incident_status"]["category"] == "learning"
    assert ok(to_closed)["incident"]["incident_status"]["category"] == "closed"
    assert error(reopen)["status"] == 422
    assert len(sim_get(sim, "state")["incidents"][0]["updates"]) == 4  # only the accepted moves


def test_incident_list_filters_modes_categories_and_pages(sim: RunningSimulator) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with connect(sim) as client:
            for name in ("one", "two", "three"):
                ok(await client.call_tool("incident_create", {"name": name}))
            ok(await client.call_tool("incident_create", {"name": "drill", "mode": "test"}))
            ok(
                await client.call_tool(
                    "incident_update", {"incident_id": "INC-1", "incident_status_id": STATUS["closed"]}
                )
            )
            calls: list[dict[str, Any]] = [
                {},
                {"mode": ["test"]},
                {"status_category": ["closed"]},
                {"status_category": ["triage", "active"], "page_size": 1},
                {"created_after": "2001-01-01"},
                {"created_after": "2999-01-01T00:00:00Z"},
            ]
            return [ok(await client.call_tool("incident_list", arguments)) for arguments in calls]

    default, tests, closed, first_page, after_2001, after_2999 = asyncio.run(scenario())
    assert [i["name"] for i in default["incidents"]] == ["three", "two", "one"]  # newest first, no test mode
    assert [i["name"] for i in tests["incidents"]] == ["drill"]
    assert [i["name"] for i in closed["incidents"]] == ["one"]
    assert [i["name"] for i in first_page["incidents"]] == ["three"]
    assert first_page["pagination_meta"] == {
        "page_size": 1,
        "total_record_count": 2,
        "after": first_page["incidents"][0]["id"],
    }
    next_page = ok(call(sim, "incident_list", {"page_size": 1, "after": first_page["pagination_meta"]["after"]}))
    assert [i["name"] for i in next_page["incidents"]] == ["two"]
    assert len(after_2001["incidents"]) == 3 and after_2999["incidents"] == []


def test_require_severity_is_an_organisation_rule_without_http() -> None:
    strict = Simulator(require_severity=True)
    with pytest.raises(Exception) as raised:
        strict.call_tool("incident_create", {"name": "no severity"})
    assert getattr(raised.value, "body")()["errors"][0]["code"] == "is_required"  # noqa: B009
    assert strict.call_tool("incident_create", {"name": "ok", "severity_id": CRITICAL})["incident"]["severity"]


# ---- escalations --------------------------------------------------------------------------------


def test_escalation_create_is_two_step_and_idempotent(sim: RunningSimulator) -> None:
    async def scenario() -> dict[str, Any]:
        results: dict[str, Any] = {}
        async with connect(sim) as client:
            request = {"title": "DB down", "escalation_path_id": PLATFORM_PATH, "idempotency_key": "page-1"}
            draft = ok(await client.call_tool("escalation_create", request))
            results["draft"] = draft
            results["state_after_draft"] = sim_get(sim, "state")["escalations"]
            execute = {"action": "execute", "suggestion_id": draft["suggestion_id"]}
            results["sent"] = ok(await client.call_tool("escalation_create", execute))
            results["again"] = ok(await client.call_tool("escalation_create", execute))
            by_key = {"idempotency_key": "page-1"}
            results["listed"] = ok(await client.call_tool("escalation_list", by_key))
            direct = ok(await client.call_tool("escalation_create", {"title": "Direct", "user_ids": [ADA]}))
            once = {"action": "execute", "suggestion_id": direct["suggestion_id"]}
            results["direct"] = ok(await client.call_tool("escalation_create", once))
            results["direct_again"] = error(await client.call_tool("escalation_create", once))
            both = {"title": "x", "escalation_path_id": PLATFORM_PATH, "user_ids": [ADA]}
            results["both"] = error(await client.call_tool("escalation_create", both))
            results["neither"] = error(await client.call_tool("escalation_create", {"title": "x"}))
            unknown_draft = {"action": "execute", "suggestion_id": "01NOPE"}
            results["no_draft"] = error(await client.call_tool("escalation_create", unknown_draft))
        return results

    results = asyncio.run(scenario())
    draft = results["draft"]
    assert draft["card_posted"] is False and draft["suggestion_id"]
    assert draft["suggestion"]["escalation_path"]["id"] == PLATFORM_PATH and draft["suggestion"]["would_page"]
    assert results["state_after_draft"] == []  # a draft pages nobody
    sent = results["sent"]["escalation"]
    assert sent["status"] == "triggered" and results["again"]["escalation"]["id"] == sent["id"]
    assert [e["id"] for e in results["listed"]["escalations"]] == [sent["id"]]
    assert results["direct"]["escalation"]["priority"] == {"name": "High"}
    assert results["direct_again"]["type"] == "conflict"
    assert results["both"]["errors"][0]["source"] == {"field": "escalation_path_id"}
    assert results["neither"]["status"] == 422 and results["no_draft"]["type"] == "not_found"
    state = sim_get(sim, "state")["escalations"]
    assert [(e["title"], e["status"]) for e in state] == [("DB down", "triggered"), ("Direct", "triggered")]
    assert state[0]["arguments"]["escalation_path_id"] == PLATFORM_PATH


def test_escalation_respond_acks_or_refuses_a_service_actor(sim: RunningSimulator) -> None:
    async def page(client: Client) -> str:
        draft = ok(await client.call_tool("escalation_create", {"title": "x", "user_ids": [ADA]}))
        execute = {"action": "execute", "suggestion_id": draft["suggestion_id"]}
        sent = ok(await client.call_tool("escalation_create", execute))
        return str(sent["escalation"]["id"])

    async def scenario() -> tuple[mcp_types.CallToolResult, mcp_types.CallToolResult]:
        async with connect(sim) as client:
            escalation_id = await page(client)
            set_faults(sim, {"refuse_respond": True})
            refused = await client.call_tool("escalation_respond", {"id": escalation_id})
            set_faults(sim, {"refuse_respond": False})
            return refused, await client.call_tool("escalation_respond", {"id": escalation_id})

    refused, acked = asyncio.run(scenario())
    assert error(refused)["type"] == "resource_forbidden" and error(refused)["status"] == 403
    assert ok(acked)["escalation"]["status"] == "acked"
    assert sim_get(sim, "state")["escalations"][0]["status"] == "acked"


# ---- errors as isError results or JSON-RPC errors ------------------------------------------------


def test_jsonrpc_errors_switch_turns_is_error_results_into_json_rpc_errors(sim: RunningSimulator) -> None:
    as_result = error(call(sim, "incident_show", {"id": "INC-9"}))
    set_faults(sim, {"jsonrpc_errors": True})
    raised = [e for e in failures(sim, "incident_show", {"id": "INC-9"}) if isinstance(e, MCPError)]
    assert raised and raised[0].code == -32603
    as_error = json.loads(raised[0].message)
    assert as_error["type"] == as_result["type"] == "not_found" and as_error["errors"][0]["code"] == "not_found"


# ---- faults ---------------------------------------------------------------------------------------


def test_fault_settings_merge_clear_and_reject_unknown_keys(sim: RunningSimulator) -> None:
    set_faults(sim, {"latency_ms": 5, "error_rate": 0.5, "rotate_key": {"new_key": "secret-2"}})
    assert set_faults(sim, {"error_rate": 0}) == {"latency_ms": 5, "rotate_key": {"new_key": "<redacted>"}}
    assert sim_get(sim, "faults") == {"latency_ms": 5, "rotate_key": {"new_key": "<redacted>"}}
    assert set_faults(sim, {}) == {}
    bad = httpx.post(f"{sim.url}/_sim/faults", json={"eror_rate": 1})
    assert bad.status_code == 400 and "eror_rate" in bad.json()["error"]


def test_latency_fault_delays_tool_calls(sim: RunningSimulator) -> None:
    set_faults(sim, {"latency_ms": 300})
    started = time.monotonic()
    ok(call(sim, "team_list", {}))
    assert time.monotonic() - started >= 0.3


def test_error_rate_alternates_503_429_and_an_is_error_5xx(sim: RunningSimulator) -> None:
    set_faults(sim, {"error_rate": 1, "retry_after": 2, "seed": 7})
    wire: list[httpx2.Response] = []
    first = failures(sim, "team_list", {}, wire=wire)
    second = failures(sim, "team_list", {}, wire=wire)
    third = error(call(sim, "team_list", {}, wire=wire))
    assert tool_statuses(wire) == [503, 429, 200]
    assert any(isinstance(e, MCPError) for e in first + second)
    assert wire[3].headers["retry-after"] == "2" and wire[3].json()["rate_limit"]["limit"] == 1200
    assert wire[1].json()["type"] == "service_unavailable"
    assert third["status"] == 500 and third["type"] == "internal_error"
    set_faults(sim, {"error_kinds": ["tool_5xx"]})
    assert error(call(sim, "team_list", {}))["status"] == 500
    assert sim_get(sim, "stats")["tool_calls"] == {"team_list": 4}  # faulted calls count too


def test_status_429_and_5xx_faults_answer_the_next_calls_then_stop(sim: RunningSimulator) -> None:
    set_faults(sim, {"status_429": 1, "retry_after": 3})
    wire: list[httpx2.Response] = []
    failures(sim, "team_list", {}, wire=wire)
    assert tool_statuses(wire) == [429] and wire[-1].headers["retry-after"] == "3"
    set_faults(sim, {"status_5xx": 2, "status_5xx_code": 502})
    failures(sim, "team_list", {}, wire=wire)
    failures(sim, "team_list", {}, wire=wire)
    ok(call(sim, "team_list", {}, wire=wire))
    assert tool_statuses(wire) == [429, 502, 502, 200]


def test_drop_connection_answers_nothing_and_does_not_act(sim: RunningSimulator) -> None:
    set_faults(sim, {"drop_connection_rate": 1})
    dropped = failures(sim, "incident_create", {"name": "never"})
    assert any(isinstance(e, httpx2.RemoteProtocolError) for e in dropped)
    assert sim_get(sim, "state")["incidents"] == []
    assert sim_get(sim, "stats")["tool_calls"] == {"incident_create": 1}


def test_act_then_timeout_performs_the_call_but_the_client_times_out(sim: RunningSimulator) -> None:
    set_faults(sim, {"act_then_timeout_rate": 1, "stall_ms": 1500})
    timed_out = failures(sim, "incident_create", {"name": "ambiguous"}, timeout=0.3)
    assert any(isinstance(e, MCPError) and e.code == -32001 for e in timed_out)
    assert [i["name"] for i in sim_get(sim, "state")["incidents"]] == ["ambiguous"]


def test_malformed_results_break_the_contract(sim: RunningSimulator) -> None:
    set_faults(sim, {"malformed_rate": 1})
    results = [call(sim, "team_list", {}) for _ in range(3)]
    assert all(not r.is_error for r in results)
    texts = [
        r.content[0].text if r.content and isinstance(r.content[0], mcp_types.TextContent) else None for r in results
    ]
    assert texts[0] is not None and not texts[0].startswith("{")
    assert texts[1] is not None and "teams" not in json.loads(texts[1])
    assert texts[2] is None


def test_tool_errors_fail_permanently_when_the_arguments_match(sim: RunningSimulator) -> None:
    spec = {"status": 422, "code": "invalid_value", "field": "severity_id", "message": "Severity is archived"}
    set_faults(sim, {"tool_errors": {"incident_create": {**spec, "when": {"severity_id": CRITICAL}}}})
    failed = error(call(sim, "incident_create", {"name": "x", "severity_id": CRITICAL}))
    assert failed["errors"][0] == {
        "code": "invalid_value",
        "message": "Severity is archived",
        "source": {"field": "severity_id"},
    }
    assert ok(call(sim, "incident_create", {"name": "no severity"}))["incident"]["reference"] == "INC-1"


def test_rotate_key_makes_the_old_key_401(sim: RunningSimulator) -> None:
    set_faults(sim, {"rotate_key": {"new_key": "rotated-key"}})
    assert httpx.post(sim.mcp_url, json={}, headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}).status_code == 401
    assert ok(call(sim, "team_list", {}, key="rotated-key"))["teams"]


def test_session_expiry_404s_legacy_sessions_only(sim: RunningSimulator) -> None:
    wire: list[httpx2.Response] = []

    async def legacy() -> None:
        async with connect(sim, mode="legacy", wire=wire) as client:
            ok(await client.call_tool("team_list", {}))
            set_faults(sim, {"session_expiry": True})
            await client.call_tool("team_list", {})

    with pytest.raises(Exception) as raised:
        asyncio.run(legacy())
    assert any(isinstance(e, MCPError) for e in leaves(raised.value))
    assert 404 in [r.status_code for r in wire]  # legacy requests carry no Mcp-Method header
    assert ok(call(sim, "team_list", {}, mode="legacy"))["teams"]  # a new session is not expired
    assert ok(call(sim, "team_list", {}))["teams"]  # stateless 2026-07-28 requests carry no session


# ---- rate limits --------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_per_key(sim: RunningSimulator) -> None:
    set_faults(sim, {"rate_limit_per_minute": 3})
    auth = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    allowed = [
        httpx.post(sim.mcp_url, json={"jsonrpc": "2.0", "id": n, "method": "ping"}, headers=auth) for n in range(3)
    ]
    limited = httpx.post(sim.mcp_url, json={"jsonrpc": "2.0", "id": 4, "method": "ping"}, headers=auth)
    assert [r.status_code == 429 for r in allowed] == [False, False, False]
    assert allowed[0].headers["x-ratelimit-remaining"] == "2"
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) == 20  # 3/min refills one per 20 s
    body = limited.json()
    assert body["type"] == "too_many_requests" and body["rate_limit"]["limit"] == 3
    assert body["rate_limit"]["retry_after"].endswith("Z")
    sim.simulator.api_keys.add("other-key")
    try:
        other_auth = {"Authorization": "Bearer other-key"}
        other = httpx.post(sim.mcp_url, json={"jsonrpc": "2.0", "id": 5, "method": "ping"}, headers=other_auth)
        assert other.status_code != 429
    finally:
        sim.simulator.api_keys.discard("other-key")


def test_escalation_creation_has_its_own_bucket(sim: RunningSimulator) -> None:
    set_faults(sim, {"escalation_limit_per_minute": 1})
    wire: list[httpx2.Response] = []

    async def scenario() -> None:
        async with connect(sim, wire=wire) as client:
            for _ in range(2):
                draft = ok(await client.call_tool("escalation_create", {"title": "x", "user_ids": [ADA]}))
                execute = {"action": "execute", "suggestion_id": draft["suggestion_id"]}
                await client.call_tool("escalation_create", execute)

    with pytest.raises(Exception):  # noqa: B017 - the 429 surfaces as an SDK exception group
        asyncio.run(scenario())
    limited = [r for r in wire if r.status_code == 429]
    assert len(limited) == 1 and limited[0].json()["rate_limit"]["name"] == "escalation_create"
    assert int(limited[0].headers["retry-after"]) == 60
    assert len(sim_get(sim, "state")["escalations"]) == 1


# ---- request counting and the event hook -------------------------------------------------------


MODERN_TWO_CALLS = {"server/discover": 1, "tools/call": 2, "tools/list": 1}
LEGACY_TWO_CALLS = {"initialize": 1, "notifications/initialized": 1, "GET": 1, "tools/call": 2, "tools/list": 1}


@pytest.mark.parametrize(
    ("mode", "expected"), [("auto", MODERN_TWO_CALLS), ("legacy", LEGACY_TWO_CALLS | {"DELETE": 1})]
)
def test_requests_are_counted_per_json_rpc_method(sim: RunningSimulator, mode: str, expected: dict[str, int]) -> None:
    async def two_calls() -> None:
        async with connect(sim, mode=mode) as client:
            ok(await client.call_tool("team_list", {}))
            ok(await client.call_tool("user_list", {}))

    asyncio.run(two_calls())
    stats = sim_get(sim, "stats")
    assert stats["http_requests_by_method"] == expected
    assert stats["http_requests"] == sum(expected.values())
    assert stats["tool_calls"] == {"team_list": 1, "user_list": 1}


def test_on_event_prints_one_line_per_tool_call(sim: RunningSimulator) -> None:
    events: list[SimEvent] = []
    sim.simulator.on_event = events.append
    ok(call(sim, "incident_create", {"name": "Disk full"}))
    error(call(sim, "incident_show", {"id": "INC-7"}))
    assert [e.line for e in events] == [
        'sim  tool incident_create name="Disk full" -> INC-1',
        'sim  tool incident_show id="INC-7" -> error 404 not_found',
    ]


def test_reset_clears_state_stats_and_faults(sim: RunningSimulator) -> None:
    ok(call(sim, "incident_create", {"name": "x"}))
    set_faults(sim, {"latency_ms": 1})
    httpx.post(f"{sim.url}/_sim/reset")
    assert sim_get(sim, "state") == {"incidents": [], "alerts": [], "escalations": [], "heartbeats": []}
    empty = {"http_requests": 0, "http_requests_by_method": {}, "tool_calls": {}, "rest_requests": {}}
    assert sim_get(sim, "stats") == empty
    assert sim_get(sim, "faults") == {}


# ---- REST: alert events and heartbeats ------------------------------------------------------------


def test_alert_events_use_the_source_token_and_dedupe_by_key(sim: RunningSimulator) -> None:
    url = f"{sim.url}/v2/alert_events/http/{DEFAULT_ALERT_SOURCE_ID}"
    firing = {"title": "Disk full", "status": "firing", "deduplication_key": "disk-1", "metadata": {"host": "db-1"}}
    accepted = httpx.post(url, headers=SOURCE_AUTH, json=firing)
    assert accepted.status_code == 202
    assert accepted.json() == {
        "status": "success",
        "message": "Event accepted for processing",
        "deduplication_key": "disk-1",
    }
    assert httpx.post(url, headers=SOURCE_AUTH, json=firing).status_code == 202
    resolved = httpx.post(f"{url}?token={DEFAULT_ALERT_SOURCE_TOKEN}", json={**firing, "status": "resolved"})
    assert resolved.status_code == 202

    api_key = httpx.post(url, headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}, json=firing)
    assert api_key.status_code == 401 and api_key.json()["type"] == "authentication_error"
    assert httpx.post(url, json=firing).status_code == 401
    no_key = httpx.post(url, headers=SOURCE_AUTH, json={"title": "x", "status": "firing"})
    assert no_key.status_code == 422 and no_key.json()["errors"][0]["source"] == {"field": "deduplication_key"}
    bad_status = httpx.post(url, headers=SOURCE_AUTH, json={**firing, "status": "ok"})
    assert bad_status.json()["errors"][0]["source"] == {"field": "status"}
    assert httpx.post(f"{sim.url}/v2/alert_events/http/nope", headers=SOURCE_AUTH, json=firing).status_code == 404

    alerts = sim_get(sim, "state")["alerts"]
    assert len(alerts) == 1 and alerts[0]["status"] == "resolved" and alerts[0]["events"] == 3
    assert alerts[0]["arguments"]["metadata"] == {"host": "db-1"}
    listed = ok(call(sim, "alert_list", {"deduplication_key": "disk-1", "status": ["resolved"]}))["alerts"]
    assert listed[0]["resolved_at"] and listed[0]["alert_source_id"] == DEFAULT_ALERT_SOURCE_ID
    assert sim_get(sim, "stats")["rest_requests"] == {"alert_events": 8}


def test_heartbeat_ping_with_the_source_token(sim: RunningSimulator) -> None:
    url = f"{sim.url}/v2/heartbeat/{DEFAULT_HEARTBEAT_SOURCE_ID}/ping"
    assert httpx.post(url, headers=SOURCE_AUTH).status_code == 204
    assert httpx.get(url, headers=SOURCE_AUTH).status_code == 204
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"{sim.url}/v2/heartbeat/{DEFAULT_ALERT_SOURCE_ID}/ping", headers=SOURCE_AUTH).status_code == 404
    beats = sim_get(sim, "state")["heartbeats"]
    assert [(b["name"], b["arguments"]["method"]) for b in beats] == [
        (DEFAULT_HEARTBEAT_SOURCE_ID, "POST"),
        (DEFAULT_HEARTBEAT_SOURCE_ID, "GET"),
    ]
    assert sim_get(sim, "stats")["rest_requests"] == {"heartbeat": 4}


# ---- standalone -----------------------------------------------------------------------------------


def test_python_dash_m_serves_and_prints_one_line_per_call() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "alert_courier_local.simulator", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        url = banner.split(" on ", 1)[1].split(" ", 1)[0]
        assert DEFAULT_API_KEY not in banner
        body = {"title": "Disk full", "status": "firing", "deduplication_key": "disk-1"}
        event_url = f"{url}/v2/alert_events/http/{DEFAULT_ALERT_SOURCE_ID}"
        assert httpx.post(event_url, headers=SOURCE_AUTH, json=body).status_code == 202
        assert process.stdout.readline().startswith(f"sim  alert_event {DEFAULT_ALERT_SOURCE_ID} title=")
    finally:
        process.terminate()
        process.wait(5)
