"""`alert-courier test TESTS.yaml`: rule tests, in the spirit of promtool's and amtool's.

Each case replays a payload (or a sequence of payloads) of one source through `explain.replay` — the dispatch
function's own `decide_alert`, with state carried from one alert to the next — and compares what it decided with
what the case expects: the rules matched, the tool calls (names and the arguments named), and the end state (the
incident open, closed or never opened; the pages sent and still pending). No AWS, no MCP server.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alert_courier.domain.rules import RuleSet
from alert_courier.operator_tools.explain import ExplainError, Replay, alerts_from_document, replay
from alert_courier.sources import SOURCES


class RuleTestFileError(Exception):
    """The test file (or a payload it names) cannot be read as rule tests; the message is one line naming the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExpectedCall(_Strict):
    """One call: an MCP tool (`tool`) or a REST request (`rest`, e.g. `POST /v2/alert_events/http/<id>`), with
    the arguments (or REST body) that must have these values; arguments not named are not compared. A value may
    be `{regex: PATTERN}`, searched in the actual value's text."""

    tool: str | None = None
    rest: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _name_alone(cls, value: Any) -> Any:
        return {"tool": value} if isinstance(value, str) else value  # `- incident_create`

    @model_validator(mode="after")
    def _one_name(self) -> ExpectedCall:
        if (self.tool is None) == (self.rest is None):
            raise ValueError("give either tool (an MCP tool name) or rest (e.g. 'POST /v2/alert_events/http/ID')")
        return self

    @property
    def name(self) -> str:
        return self.tool or self.rest or ""


class ExpectedEnd(_Strict):
    """The state the sequence leaves, over every group it touched."""

    incident: Literal["open", "closed", "none"] | None = None
    incidents: int | None = Field(default=None, ge=0, description="incidents opened by the sequence")
    pages: int | None = Field(default=None, ge=0, description="escalation levels paged by the sequence")
    pending_pages: int | None = Field(default=None, ge=0, description="delayed levels left for the scheduler")


class Expectation(_Strict):
    rule: list[str] | None = None
    calls: list[ExpectedCall] | None = None
    end: ExpectedEnd | None = None

    @field_validator("rule", mode="before")
    @classmethod
    def _one_rule(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _something(self) -> Expectation:
        if self.rule is None and self.calls is None and self.end is None:
            raise ValueError("expect nothing can fail: give at least one of rule, calls, end")
        return self


class RuleTestCase(_Strict):
    name: str = Field(min_length=1)
    source: str
    payload: str | None = None
    payloads: list[str] | None = Field(default=None, min_length=1)
    expect: Expectation

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if value not in SOURCES:
            raise ValueError(f"unknown source {value!r}; known: {', '.join(SOURCES)}")
        return value

    @model_validator(mode="after")
    def _payload_or_payloads(self) -> RuleTestCase:
        if (self.payload is None) == (self.payloads is None):
            raise ValueError("give either payload (one file) or payloads (a sequence of files)")
        return self

    @property
    def files(self) -> list[str]:
        return [self.payload] if self.payload is not None else list(self.payloads or [])


class RuleTestFile(_Strict):
    rules: str | None = Field(default=None, description="the rules file under test, relative to this file")
    tests: list[RuleTestCase] = Field(min_length=1)


@dataclass(frozen=True)
class LoadedTests:
    path: Path
    spec: RuleTestFile
    alerts: list[list[Any]]  # each case's alerts, read from its payloads in order

    @property
    def rules_path(self) -> Path | None:
        return None if self.spec.rules is None else self.path.parent / self.spec.rules


def load_rule_tests(path: Path) -> LoadedTests:
    """The test file and every payload it names, read and checked; RuleTestFileError names what is wrong."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise RuleTestFileError(f"{path}: cannot read it: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise RuleTestFileError(f"{path}: not YAML{where}: {getattr(error, 'problem', None) or error}") from None
    try:
        spec = RuleTestFile.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(the document)"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise RuleTestFileError(f"{path}: {where}: {message}") from None
    alerts = []
    for index, case in enumerate(spec.tests):
        field_name = "payload" if case.payload is not None else "payloads"
        case_alerts: list[Any] = []
        for position, name in enumerate(case.files):
            where = f"tests.{index}.{field_name}" + ("" if case.payload is not None else f".{position}")
            case_alerts += _alerts_of(path.parent / name, case.source, f"{path}: {where} ({name})")
        alerts.append(case_alerts)
    return LoadedTests(path, spec, alerts)


def _alerts_of(payload: Path, source: str, where: str) -> list[Any]:
    try:
        document = json.loads(payload.read_text(encoding="utf-8"))
    except OSError as error:
        raise RuleTestFileError(f"{where}: cannot read it: {error.strerror or error}") from None
    except ValueError as error:
        raise RuleTestFileError(f"{where}: not JSON: {error}") from None
    try:
        return alerts_from_document(source, document)
    except ExplainError as error:
        raise RuleTestFileError(f"{where}: not a {source} payload: {error}") from None


# ---- running and comparing ---------------------------------------------------------------------------------


@dataclass
class CaseResult:
    name: str
    failures: list[str] = field(default_factory=list)
    actual: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def run_rule_tests(loaded: LoadedTests, rules: RuleSet) -> list[CaseResult]:
    return [
        check_case(case, replay(alerts, rules)) for case, alerts in zip(loaded.spec.tests, loaded.alerts, strict=True)
    ]


def actual_outcome(outcome: Replay) -> dict[str, Any]:
    """What a sequence did, in the terms a test expects."""
    rules: list[str] = []
    for entry in outcome.report:
        rules += [name for name in entry["matched_rules"] if name not in rules]
    calls = [call for entry in outcome.report for call in entry["calls"]]
    states = list(outcome.states.values())
    opened, closed = outcome.incidents_opened, outcome.incidents_closed
    incident = "open" if opened > closed else ("closed" if opened else "none")
    end = {
        "incident": incident,  # as incident.io would show it: an `on_resolve: update` leaves it open
        "incidents": opened,
        "pages": outcome.pages,
        "pending_pages": sum(len(state.pending_escalations) for state in states),
    }
    return {"rules": rules, "calls": calls, "end": end}


def check_case(case: RuleTestCase, outcome: Replay) -> CaseResult:
    actual = actual_outcome(outcome)
    result = CaseResult(case.name, actual=actual)
    expect = case.expect
    if expect.rule is not None and expect.rule != actual["rules"]:
        result.failures.append(f"rule: expected {expect.rule}, got {actual['rules']}")
    if expect.calls is not None:
        result.failures += _call_differences(expect.calls, actual["calls"])
    if expect.end is not None:
        for name, wanted in expect.end.model_dump(exclude_none=True).items():
            if actual["end"][name] != wanted:
                result.failures.append(f"end.{name}: expected {wanted!r}, got {actual['end'][name]!r}")
    return result


def _call_name(call: dict[str, Any]) -> str:
    return str(call.get("tool") or call.get("rest") or f"(cannot call: {call.get('error')})")


def _call_differences(expected: list[ExpectedCall], actual: list[dict[str, Any]]) -> list[str]:
    differences = []
    if [call.name for call in expected] != [_call_name(call) for call in actual]:
        differences.append(
            f"calls: expected {[call.name for call in expected]}, got {[_call_name(call) for call in actual]}"
        )
    for number, (wanted, made) in enumerate(zip(expected, actual, strict=False), 1):
        if wanted.name != _call_name(made):
            continue  # already in the list above
        arguments = made.get("arguments", made.get("body")) or {}
        for key, value in wanted.arguments.items():
            if key not in arguments:
                differences.append(f"call {number} {wanted.name}: no argument {key!r} (it has {sorted(arguments)})")
            elif not _matches(value, arguments[key]):
                differences.append(
                    f"call {number} {wanted.name}: {key} expected {_shown(value)}, got {_shown(arguments[key])}"
                )
    return differences


def _matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict) and set(expected) == {"regex"}:
        text = actual if isinstance(actual, str) else json.dumps(actual, sort_keys=True)
        return re.search(str(expected["regex"]), text) is not None
    return bool(expected == actual)


def _shown(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def format_results(results: list[CaseResult]) -> str:
    lines = []
    for result in results:
        lines.append(f"{'ok  ' if result.ok else 'FAIL'}  {result.name}")
        lines += [f"      - {failure}" for failure in result.failures]
    failed = sum(not result.ok for result in results)
    lines.append(f"{len(results)} test(s): {len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)


def results_document(results: list[CaseResult]) -> dict[str, Any]:
    failed = sum(not result.ok for result in results)
    return {
        "ok": not failed,
        "passed": len(results) - failed,
        "failed": failed,
        "tests": [{"name": r.name, "ok": r.ok, "failures": r.failures, "actual": r.actual} for r in results],
    }


# ---- the command ---------------------------------------------------------------------------------------------

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_TEST_FILE = 0, 1, 2


def run_test_command(tests_file: str, rules_file: str | None, *, as_json: bool) -> int:
    """`alert-courier test`: 0 when every case passes, 1 when one fails (or the rules do not load), 2 when the test
    file is not rule tests (one line on stderr naming the field)."""
    import sys

    from alert_courier.domain.rules import RulesError, load_rules
    from alert_courier.operator_tools.cli_errors import CliError

    try:
        loaded = load_rule_tests(Path(tests_file))
    except RuleTestFileError as error:
        print(f"alert-courier: {error}", file=sys.stderr)
        return EXIT_BAD_TEST_FILE
    rules_path = rules_file or (str(loaded.rules_path) if loaded.rules_path else None)
    try:
        rules = load_rules(rules_path)
    except RulesError as error:
        raise CliError(str(error)) from None
    except OSError as error:
        raise CliError(f"cannot read the rules file {rules_path}: {error.strerror or error}") from None
    results = run_rule_tests(loaded, rules)
    print(json.dumps(results_document(results), indent=2, default=str) if as_json else format_results(results))
    return EXIT_PASSED if all(result.ok for result in results) else EXIT_FAILED
