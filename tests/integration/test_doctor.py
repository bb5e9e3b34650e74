"""`alert-courier doctor` through the CLI against simulators serving recorded contracts: `--record` writes the
contract (never the key), a recording with a renamed argument, a permissive schema, an empty organisation or no
escalation_create makes doctor fail or warn naming tool and field, the local stack starts on a recording, and
`--smoke --local` passes against the simulator and fails on answers we cannot read."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alert_courier.incident_io.contract import Contract, read_contract, write_contract
from alert_courier.operator_tools import cli

KEY = "local-dev-api-key"
KEY_ENV = "DOCTOR_TEST_API_KEY"
PATH = "01HR716FJW92V81E5128Q6RW31"  # an escalation path of the simulator's organisation


def shipped() -> Contract:
    from alert_courier_local.simulator.schemas import shipped_contract

    return copy.deepcopy(shipped_contract())


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """serve(contract) -> the MCP URL of a simulator serving it; the key comes from KEY_ENV."""
    from alert_courier_local.simulator import start_simulator

    monkeypatch.setenv(KEY_ENV, KEY)
    running: list[Any] = []

    def start(contract: Contract) -> str:
        sim = start_simulator(port=0, contract=contract)
        running.append(sim)
        return str(sim.mcp_url)

    yield start
    for sim in running:
        sim.stop()


def doctor(capsys: pytest.CaptureFixture[str], url: str, *extra: str) -> tuple[int, str]:
    code = cli.main(["doctor", "--mcp-url", url, "--api-key-env", KEY_ENV, *extra])
    return code, capsys.readouterr().out


def tool(contract: Contract, name: str) -> dict[str, Any]:
    return next(entry for entry in contract.tools if entry["name"] == name)


def test_record_writes_tools_resources_and_organisation_but_never_the_key(
    serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contract = shipped()
    contract.organisation["note"] = f"this server echoes the key {KEY} back"  # a careless server
    url = serve(contract)
    for name in ("contract.json", "contract.yaml"):
        code, out = doctor(capsys, url, "--record", str(tmp_path / name))
        assert code == 0, out
        text = (tmp_path / name).read_text()
        assert KEY not in text and "<redacted>" in text and KEY not in out
        recording = read_contract(tmp_path / name)
        assert recording.input_schemas() == contract.input_schemas()
        assert [r["uri"] for r in recording.resources] == ["config://organisation"]
        assert recording.organisation["severities"] == contract.organisation["severities"]
        assert recording.server["url"] == url and recording.server["name"] == "incident-io-local-simulator"
    code, out = doctor(capsys, "unused", "--contract", str(tmp_path / "contract.json"))  # offline: no server
    assert code == 0 and "FAIL" not in out


def test_a_recording_with_a_renamed_argument_fails_naming_tool_and_field(
    serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contract = shipped()
    schema = tool(contract, "incident_update")["inputSchema"]
    schema["properties"]["id"] = schema["properties"].pop("incident_id")
    schema["required"] = ["id"]
    code, out = doctor(capsys, serve(contract), "--json")
    report = json.loads(out)
    failed = [check for check in report["checks"] if not check["ok"]]
    assert code == 1 and report["ok"] is False
    assert {(check["tool"], check["field"]) for check in failed} == {("incident_update", "id")}


def test_a_permissive_recording_warns_naming_the_tool(
    serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contract = shipped()
    tool(contract, "incident_create")["inputSchema"]["additionalProperties"] = True
    tool(contract, "escalation_respond")["inputSchema"] = {"type": "object"}
    code, out = doctor(capsys, serve(contract))
    assert "warn  incident_create: its schema allows additional properties" in out
    assert "warn  escalation_respond: its schema lists no properties" in out
    # with no properties the filter keeps only `id`: the acknowledgement's `response` is a lost guarantee
    assert code == 1 and "FAIL  escalation_respond (acknowledge a page): its schema has no 'response'" in out


def test_an_empty_organisation_fails_naming_the_documents_keys(
    serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contract = shipped()
    contract = Contract(tools=contract.tools, resources=contract.resources, organisation={"data": [], "meta": {}})
    write_contract(contract, tmp_path / "empty.json")
    code, out = doctor(capsys, serve(read_contract(tmp_path / "empty.json")))
    assert code == 1
    assert "FAIL  config://organisation has 0 severities, 0 incident_statuses, 0 incident_types" in out
    assert "(the document's keys: data, meta)" in out


def test_a_recording_without_escalation_create_reports_the_page_fallback(
    serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contract = shipped()
    contract.tools[:] = [entry for entry in contract.tools if entry["name"] != "escalation_create"]
    url = serve(contract)
    code, out = doctor(capsys, url)  # the shipped rules page with an alert source beside each escalate
    assert code == 0 and "rule 'payments' pages through its alert source local-alert-source" in out
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"rules: [{{name: oncall, actions: [open_incident, {{escalate: {{escalation_path_id: {PATH}}}}}]}}]\n"
    )
    code, out = doctor(capsys, url, "--rules", str(rules))
    assert code == 1
    assert "FAIL  the server offers no escalation_create: rule 'oncall''s pages would be dead-lettered" in out


def test_a_recording_without_the_idempotency_key_fails_and_says_what_dispatch_does(
    serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    contract = shipped()
    del tool(contract, "incident_create")["inputSchema"]["properties"]["idempotency_key"]
    code, out = doctor(capsys, serve(contract))
    assert code == 1 and "its schema has no 'idempotency_key'" in out and "re-checked with incident_list" in out


def test_the_local_stack_starts_on_a_recording(
    local_stack: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second stack in this process: the session's stack must be the one that first loads the functions
    # (their modules read the environment at import and stay loaded), hence `local_stack`; and this one,
    # once stopped, puts back what it changed in os.environ (checked below).
    environ_before = dict(os.environ)
    from alert_courier_local.stack import LocalStack, StackConfig
    from alert_courier_local.startup import StackStartError

    contract = shipped()
    contract.tools[:] = [entry for entry in contract.tools if entry["name"] != "alert_show"]
    contract.organisation["severities"][0]["description"] = "as recorded"
    write_contract(contract, tmp_path / "recorded.yaml")
    stack = LocalStack(
        StackConfig(front_door_port=0, simulator_port=0, aws_port=0, quiet=True, schedule_seconds=0,
                    isolated_aws=True, contract_path=str(tmp_path / "recorded.yaml"))
    ).start()  # fmt: skip
    try:
        monkeypatch.setenv(KEY_ENV, KEY)
        assert cli.main(["doctor", "--mcp-url", f"{stack.simulator_url}/mcp", "--api-key-env", KEY_ENV]) == 0
        out = capsys.readouterr().out
        assert "the server offers 15 tools" in out
        organisation = stack.simulator.simulator.organisation_config()
        assert organisation["severities"][0]["description"] == "as recorded"
    finally:
        stack.stop()
    assert {name: value for name, value in os.environ.items() if name != KEY_ENV} == environ_before
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(StackStartError, match=r"LOCAL_SIMULATOR_CONTRACT: .*broken\.json: not valid JSON"):
        LocalStack(StackConfig(front_door_port=0, simulator_port=0, aws_port=0, quiet=True,
                               contract_path=str(tmp_path / "broken.json"))).start()  # fmt: skip


def test_the_simulator_reads_the_recording_the_variable_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alert_courier_local.simulator.simulator import Simulator

    contract = shipped()
    contract.tools[:] = [entry for entry in contract.tools if entry["name"] != "escalation_create"]
    write_contract(contract, tmp_path / "recorded.json")
    monkeypatch.setenv("LOCAL_SIMULATOR_CONTRACT", str(tmp_path / "recorded.json"))
    assert "escalation_create" not in Simulator().tool_catalogue()


# ---- --smoke --------------------------------------------------------------------------------------


def test_smoke_local_passes_against_the_simulator_and_cleans_up(
    local_settings_of: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["doctor", "--local", "--smoke", "--page", PATH])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "smoke test passed" in out and "FAIL" not in out and KEY not in out
    for step in ("open a test incident", "raise its severity", "find it again (re-check)", "show it",
                 "draft a page", "execute the page", "read the page back", "find the page by its key",
                 "acknowledge it (clean up)", "close it (clean up)"):  # fmt: skip
        assert step in out
    state = httpx.get(f"{local_settings_of.simulator_url}/_sim/state", timeout=10).json()
    smoke = [i for i in state["incidents"] if "doctor smoke test" in json.dumps(i)]
    assert len(smoke) == 1 and smoke[0]["mode"] == "test" and smoke[0]["status_category"] == "closed"
    pages = [e for e in state["escalations"] if "doctor smoke test" in json.dumps(e)]
    assert len(pages) == 1 and pages[0]["status"] == "acked"


def test_smoke_fails_on_answers_whose_shape_we_cannot_read(
    local_settings_of: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = f"{local_settings_of.simulator_url}/_sim/faults"
    httpx.post(faults, json={"malformed_rate": 1.0}, timeout=10).raise_for_status()
    try:
        code = cli.main(["doctor", "--local", "--smoke", "--json"])
    finally:
        httpx.post(faults, json={}, timeout=10).raise_for_status()
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["ok"] is False and report["smoke"]["ok"] is False
    first = report["smoke"]["steps"][0]
    assert first["tool"] == "incident_create" and not first["ok"]


def test_smoke_must_say_where(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["doctor", "--smoke", "--api-key-env", KEY_ENV]) == 1
    assert "--smoke opens a real (test) incident: say where" in capsys.readouterr().err


@pytest.mark.parametrize("style", ["structured", "json_text", "prose"])
def test_smoke_reads_every_answer_style_the_simulator_has(style: str) -> None:
    from alert_courier.operator_tools.doctor_smoke import format_steps, run_smoke
    from alert_courier_local.simulator import start_simulator

    with start_simulator(port=0, answer_style=style, error_style="plain_text") as sim:
        server = cli._mcp_server(sim.mcp_url, KEY)
        try:
            run = run_smoke(server, page_path_id=PATH)
        finally:
            server.close()
        assert run.ok, format_steps(run)
        assert len(run.steps) == 10 and sim.simulator.state_snapshot()["incidents"][0]["status_category"] == "closed"


def test_a_file_that_is_not_a_contract_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "rules.yaml").write_text("rules: []\n")
    assert cli.main(["doctor", "--contract", str(tmp_path / "rules.yaml")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"alert-courier: {tmp_path / 'rules.yaml'}: format is None, expected 'alert-courier-contract/1'"
    assert cli.main(["doctor", "--contract", str(tmp_path / "missing.json")]) == 1
    assert "cannot read the contract" in capsys.readouterr().err
