"""The rules file: matching semantics, templates, and errors that point at the line."""

from __future__ import annotations

import pytest

from alert_courier.domain.alert import Alert, AlertStatus, Severity
from alert_courier.domain.rules import RulesError, load_rules, parse_rules, plan_for
from alert_courier.domain.templates import render


def alert(**fields: object) -> Alert:
    base: dict[str, object] = {
        "source": "alertmanager",
        "dedup_key": "k",
        "group_key": "g",
        "status": AlertStatus.FIRING,
        "title": "Disk full",
    }
    return Alert(**{**base, **fields})  # type: ignore[arg-type]


RULES = parse_rules("""
rules:
  - name: tag-db
    match: {labels: {service: {regex: "db-[0-9]+"}}}
    set_severity: critical
    continue: true
    actions: [{alert_event: {alert_source_config_id: src}}]
  - name: not-staging
    match: {labels: {env: {not: staging}}, severity: {any_of: [critical, error]}}
    actions: [open_incident]
  - name: catch-all
    actions: [suppress]
""")


def matched(a: Alert) -> list[str]:
    return [m.rule for m in plan_for(a, RULES).matched]


def test_first_match_wins_and_continue_keeps_going() -> None:
    assert matched(alert(labels={"service": "db-12", "env": "prod"})) == ["tag-db", "not-staging"]
    assert matched(alert(labels={"service": "web", "env": "prod"}, severity=Severity.ERROR)) == ["not-staging"]


def test_set_severity_applies_to_later_rules() -> None:
    plan = plan_for(alert(labels={"service": "db-1", "env": "prod"}, severity=Severity.INFO), RULES)
    assert plan.alert.severity is Severity.CRITICAL and [m.rule for m in plan.matched] == ["tag-db", "not-staging"]


def test_regex_is_anchored_and_not_excludes() -> None:
    assert matched(alert(labels={"service": "db-12x", "env": "staging"}, severity=Severity.CRITICAL)) == ["catch-all"]


def test_a_missing_label_matches_not() -> None:
    assert matched(alert(severity=Severity.CRITICAL)) == ["not-staging"]


def test_the_explanation_says_why_each_rule_matched_or_not() -> None:
    plan = plan_for(alert(labels={"service": "web"}, severity=Severity.INFO), RULES)
    assert plan.explanation[0].startswith("rule 'tag-db': skipped (labels.service 'web' does not match ~ /db-[0-9]+/")
    assert "severity 'info' does not match in ['critical', 'error']" in plan.explanation[1]


def test_no_rule_matched_uses_the_default_actions() -> None:
    plan = plan_for(alert(), parse_rules("rules: [{name: x, match: {source: grafana}, actions: [suppress]}]"))
    assert plan.matched[0].rule == "(default)" and plan.actions[0].kind == "open_incident"


def test_templates_render_labels_and_missing_ones_render_empty() -> None:
    a = alert(labels={"alertname": "DiskFull"})
    assert render("{{ labels.alertname }} on {{ labels.instance }}", a) == "DiskFull on"
    assert render("{{ labels.instance | default('unknown host', true) }}", a) == "unknown host"
    assert render("{{ labels.missing.deeper }}!", a) == "!"


def test_a_broken_template_renders_as_text_instead_of_losing_the_alert() -> None:
    assert render("{{ labels.alertname ", alert()) == "{{ labels.alertname "


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules:\n  - name: a\n    actions: []\n", "rules:3: rules.0.actions: List should have at least 1 item"),
        (
            "rules:\n  - name: a\n    match:\n      labels:\n        x: {regex: '('}\n    actions: [suppress]\n",
            "rules:5: rules.0.match.labels.x.regex",
        ),
        ("rules:\n  - name: a\n    actions:\n      - page_everyone\n", "rules:4: rules.0.actions.0"),
        (
            "rules:\n  - name: a\n    actions:\n      - escalate: {escalation_path_id: p, user_ids: [u]}\n",
            "exactly one of escalation_path_id or user_ids",
        ),
        ("rules: [\n", "rules:2: not valid YAML"),
        ("version: 2\n", "rules:1: version"),
    ],
)
def test_invalid_rules_files_name_the_line(text: str, expected: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "rules")
    assert expected in str(caught.value)


def test_the_bundled_rules_are_valid_and_cover_the_common_cases() -> None:
    rules = load_rules()
    names = [rule.name for rule in rules.rules]
    assert {"watchdog", "informational", "critical"} <= set(names)
    watchdog = plan_for(alert(labels={"alertname": "Watchdog"}), rules)
    assert [action.kind for action in watchdog.actions] == ["suppress"]
    critical = plan_for(alert(severity=Severity.CRITICAL), rules)
    assert critical.incident_spec is not None and critical.incident_spec.on_resolve == "resolve"
