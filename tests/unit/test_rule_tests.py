"""`alert-courier test TESTS.yaml`: rule tests through the real command — the shipped examples pass, a wrong
expectation fails naming the case and what differs, and a bad test file is exit 2 with one line naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from alert_courier.operator_tools import cli
from tests.conftest import EVENTS

SHIPPED = EVENTS / "rule-tests.yaml"
FIRING, RESOLVED = str(EVENTS / "alertmanager" / "firing.json"), str(EVENTS / "alertmanager" / "resolved.json")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["test", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_tests(tmp_path: Path, document: Any) -> str:
    path = tmp_path / "TESTS.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document), encoding="utf-8")
    return str(path)


def disk_full_case(**expect: Any) -> dict[str, Any]:
    return {"name": "disk full", "source": "alertmanager", "payloads": [FIRING, RESOLVED], "expect": expect}


def test_the_shipped_examples_pass_against_the_shipped_rules(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(SHIPPED))
    assert code == 0, out
    cases = yaml.safe_load(SHIPPED.read_text())["tests"]
    assert out.count("\nok  ") + out.startswith("ok  ") == len(cases) >= 6
    assert f"{len(cases)} test(s): {len(cases)} passed, 0 failed" in out


def test_the_shipped_examples_fail_against_other_rules(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    quiet = tmp_path / "quiet.yaml"
    quiet.write_text("version: 1\nrules:\n  - name: everything-is-quiet\n    actions: [suppress]\n")
    code, out, _ = run(capsys, str(SHIPPED), "--rules", str(quiet))
    assert code == 1
    assert "FAIL  a critical Alertmanager group opens one incident" in out
    assert "rule: expected ['critical'], got ['everything-is-quiet']" in out
    assert "end.incident: expected 'closed', got 'none'" in out


def test_a_wrong_rule_fails_naming_the_case_and_both_rules(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, write_tests(tmp_path, {"tests": [disk_full_case(rule="payments")]}))
    assert code == 1
    assert "FAIL  disk full" in out and "rule: expected ['payments'], got ['critical']" in out
    assert "1 test(s): 0 passed, 1 failed" in out


def test_a_wrong_call_or_argument_fails_naming_the_call(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    calls = [{"tool": "incident_create", "arguments": {"name": "DiskFull on db-9"}}, "incident_update"]
    code, out, _ = run(capsys, write_tests(tmp_path, {"tests": [disk_full_case(calls=calls)]}))
    assert code == 1
    assert 'call 1 incident_create: name expected "DiskFull on db-9", got "DiskFull on db-1:9100"' in out

    code, out, _ = run(capsys, write_tests(tmp_path, {"tests": [disk_full_case(calls=["incident_create"])]}))
    assert code == 1 and "calls: expected ['incident_create'], got ['incident_create', 'incident_update']" in out

    missing = [{"tool": "incident_create", "arguments": {"nmae": "x"}}, "incident_update"]
    code, out, _ = run(capsys, write_tests(tmp_path, {"tests": [disk_full_case(calls=missing)]}))
    assert code == 1 and "call 1 incident_create: no argument 'nmae'" in out


def test_matching_calls_and_a_regex_pass(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    calls = [{"tool": "incident_create", "arguments": {"name": {"regex": "^DiskFull on db-1"}}}, "incident_update"]
    code, out, _ = run(capsys, write_tests(tmp_path, {"tests": [disk_full_case(calls=calls)]}))
    assert code == 0, out


def test_a_wrong_end_state_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    case = disk_full_case(end={"incident": "open", "pages": 1, "incidents": 1})
    code, out, _ = run(capsys, write_tests(tmp_path, {"tests": [case]}))
    assert code == 1
    assert "end.incident: expected 'open', got 'closed'" in out and "end.pages: expected 1, got 0" in out
    assert "end.incidents" not in out  # what matched is not reported as a failure


def test_the_state_carries_through_the_sequence(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The firing alone leaves the incident open; with its resolve it is closed: the replay has state."""
    firing_only = {
        "name": "firing",
        "source": "alertmanager",
        "payload": FIRING,
        "expect": {"end": {"incident": "open"}},
    }
    both = disk_full_case(end={"incident": "closed"})
    code, out, _ = run(capsys, write_tests(tmp_path, {"tests": [firing_only, both]}))
    assert code == 0, out


def test_json_output_has_each_case_and_what_it_did(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cases = [disk_full_case(rule="critical"), {**disk_full_case(rule="payments"), "name": "wrong"}]
    code, out, _ = run(capsys, write_tests(tmp_path, {"tests": cases}), "--json")
    document = json.loads(out)
    assert code == 1 and document["ok"] is False and (document["passed"], document["failed"]) == (1, 1)
    assert document["tests"][1]["failures"] == ["rule: expected ['payments'], got ['critical']"]
    assert [call["tool"] for call in document["tests"][0]["actual"]["calls"]] == ["incident_create", "incident_update"]


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"tests": [disk_full_case(end={"incident": "shut"})]}, "tests.0.expect.end.incident: Input should be"),
        ({"tests": [disk_full_case()]}, "tests.0.expect: expect nothing can fail"),
        ({"tests": [{**disk_full_case(rule="critical"), "source": "nagios"}]}, "tests.0.source: unknown source"),
        ({"tests": [{**disk_full_case(rule="x"), "payload": FIRING}]}, "tests.0: give either payload"),
        (
            {"tests": [disk_full_case(calls=[{"arguments": {}}])]},
            "tests.0.expect.calls.0: give either tool (an MCP tool name) or rest",
        ),
        ({"tests": [disk_full_case(rule="x", ends={})]}, "tests.0.expect.ends: Extra inputs are not permitted"),
        ({"tests": []}, "tests: List should have at least 1 item"),
        ("tests: [unclosed", "not YAML (line"),
        (
            {"tests": [{**disk_full_case(rule="x"), "payloads": [FIRING, "nowhere.json"]}]},
            "tests.0.payloads.1 (nowhere",
        ),
        ({"tests": [{**disk_full_case(rule="x"), "source": "grafana"}]}, "tests.0.payloads.0 (" + FIRING + "): not a"),
    ],
)
def test_a_bad_test_file_is_exit_2_with_one_line_naming_the_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, document: Any, named: str
) -> None:
    code, out, err = run(capsys, write_tests(tmp_path, document))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and named in err, err


def test_a_missing_test_file_is_exit_2_and_missing_rules_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, str(tmp_path / "absent.yaml"))
    assert code == 2 and "absent.yaml: cannot read it" in err
    code, _, err = run(capsys, str(SHIPPED), "--rules", str(tmp_path / "absent-rules.yaml"))
    assert code == 1 and "cannot read the rules file" in err and "Traceback" not in err


def test_the_test_files_rules_are_relative_to_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "quiet.yaml").write_text("version: 1\nrules:\n  - name: quiet\n    actions: [suppress]\n")
    case = disk_full_case(rule="quiet", calls=[], end={"incident": "none"})
    code, out, _ = run(capsys, write_tests(tmp_path, {"rules": "quiet.yaml", "tests": [case]}))
    assert code == 0, out
