"""check-config's semantic lint (issue 16): rules that parse but can never match or contradict themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from alert_courier.domain.rules import RulesError, parse_rules
from alert_courier.domain.templates import TEMPLATE_NAMES, context_for
from alert_courier.operator_tools import cli
from alert_courier.operator_tools.rules_lint import lint

SOURCES = frozenset({"alertmanager", "grafana", "datadog", "generic", "cloudwatch", "heartbeat"})


def findings(text: str) -> list[tuple[str, str]]:
    return [(f.level, f.text) for f in lint(parse_rules(text) if text.strip() else parse_rules("{}"), text, SOURCES)]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ("rules: [{name: r, match: {severity: high}, actions: [open_incident]}]", "severity 'high' can never match"),
        ("rules: [{name: r, match: {status: fring}, actions: [open_incident]}]", "status 'fring' can never match"),
        ("rules: [{name: r, match: {source: alertmanger}, actions: [open_incident]}]", "'alertmanger' can never match"),
        (
            "rules: [{name: r, match: {severity: {not: {any_of: [critical, urgent]}}}, actions: [open_incident]}]",
            "severity 'urgent' can never match",
        ),
        ("rules: [{name: r, actions: [open_incident]}, {name: r, actions: [suppress]}]", "'r' is used 2 times"),
        ("rules: [{name: all, actions: [open_incident]}, {name: later, actions: [suppress]}]", "'later' can never"),
        ("rules: [{name: r, actions: [suppress, open_incident]}]", "suppress with open_incident"),
        (
            "rules: [{name: r, actions: [{open_incident: {name: '{{ lables.x }}'}}]}]",
            "'lables' is not a template name",
        ),
        ("rules: [{name: r, actions: [{open_incident: {name: '{{ alert.titel }}'}}]}]", "alert.titel does not exist"),
        ("", "the rules file is empty"),
    ],
)
def test_each_rule_that_cannot_be_meant_is_an_error(rules: str, expected: str) -> None:
    errors = [text for level, text in findings(rules) if level == "error"]
    assert any(expected in text for text in errors), errors


def test_the_shipped_rules_have_no_findings() -> None:
    from alert_courier.domain.rules import BUNDLED_RULES

    text = BUNDLED_RULES.read_text()
    assert lint(parse_rules(text), text, SOURCES) == []


def test_a_catch_all_that_continues_leaves_later_rules_reachable() -> None:
    assert findings("rules: [{name: all, continue: true, actions: [alert_event: {alert_source_config_id: s}]}, "
                    "{name: later, actions: [open_incident]}]") == []  # fmt: skip


def test_a_per_label_heartbeat_without_instances_is_a_warning() -> None:
    text = "heartbeats: [{name: hb, interval: 5m, per_label: cluster}]"
    assert [level for level, _ in findings(text)] == ["warning"]


def test_an_unknown_action_lists_the_valid_ones() -> None:
    with pytest.raises(RulesError, match="unknown action 'open_ticket'; the actions are open_incident, alert_event"):
        parse_rules("rules: [{name: r, actions: [open_ticket]}]")
    with pytest.raises(RulesError, match="unknown action 'page'"):
        parse_rules("rules: [{name: r, actions: [{page: {}}]}]")


def test_template_names_are_what_templates_are_given() -> None:
    from alert_courier.domain.alert import Alert, AlertStatus

    sample = Alert(source="generic", dedup_key="k", group_key="g", status=AlertStatus.FIRING, title="t")
    assert set(context_for(sample)) == TEMPLATE_NAMES


def test_check_config_exits_1_on_errors_and_strict_makes_warnings_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [{name: r, match: {severity: high}, actions: [open_incident]}]\n")
    assert cli.main(["check-config", str(broken)]) == 1
    assert "FAIL  rule 'r': severity 'high' can never match" in capsys.readouterr().out
    warned = tmp_path / "warned.yaml"
    warned.write_text("heartbeats: [{name: hb, interval: 5m, per_label: cluster}]\n")
    assert cli.main(["check-config", str(warned)]) == 0
    assert "warn  heartbeat 'hb'" in capsys.readouterr().out
    assert cli.main(["check-config", str(warned), "--strict"]) == 1


def test_a_broken_template_is_one_error_not_also_a_name_error() -> None:
    errors = [text for level, text in findings("rules: [{name: r, actions: [{open_incident: {name: '{{ oops'}}]}]")]
    assert len(errors) == 1 and "template error" in errors[0]
