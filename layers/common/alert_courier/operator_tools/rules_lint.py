"""`check-config`'s reading of a rules file for what parses but cannot be meant: values that can never match,
duplicate names, unreachable rules, contradictory actions, broken templates and names the alert does not have,
an empty file, and heartbeats that are never watched. Errors fail the check; warnings are printed (`--strict`:
they fail too).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from alert_courier.domain.alert import AlertStatus, Severity
from alert_courier.domain.rules import ActionSpec, Condition, Rule, RuleSet
from alert_courier.domain.templates import TEMPLATE_NAMES, check_template, template_names

ALERT_FIELDS = frozenset(
    {"source", "dedup_key", "group_key", "status", "severity", "title", "description", "labels", "annotations"}
    | {"links", "started_at", "ended_at", "received_at", "raw"}
)
SEVERITIES = frozenset(severity.value for severity in Severity)
STATUSES = frozenset(status.value for status in AlertStatus)


@dataclass(frozen=True)
class Finding:
    level: str  # "error" | "warning"
    text: str


def lint(rules: RuleSet, text: str, sources: frozenset[str]) -> list[Finding]:
    findings = list(_empty(rules, text))
    findings += _duplicates(rules)
    findings += _unreachable(rules)
    for rule in rules.rules:
        findings += _never_matching(rule, sources)
        findings += _contradictions(rule)
        findings += _time_condition(rule)
        findings += _template_names(f"rule {rule.name!r}", rule.actions)
    findings += _template_names("default_actions", rules.default_actions)
    findings += _heartbeats(rules)
    findings += _inhibit_rules(rules)
    return findings


def _inhibit_rules(rules: RuleSet) -> Iterator[Finding]:
    for inhibit in rules.inhibit_rules:
        if not inhibit.equal:
            yield Finding(
                "warning",
                f"inhibit rule {inhibit.name!r} has no equal labels: any firing source inhibits every target "
                "(give equal, e.g. [cluster], to inhibit only the source's own)",
            )


def _empty(rules: RuleSet, text: str) -> Iterator[Finding]:
    meaningful = [line for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    if not meaningful:
        yield Finding("error", "the rules file is empty: every alert would get the default actions, no heartbeat")
    elif not rules.rules and not rules.heartbeats:
        yield Finding("warning", "no rules and no heartbeats: every alert gets the default actions")


def _duplicates(rules: RuleSet) -> Iterator[Finding]:
    names = [rule.name for rule in rules.rules]
    for name in sorted({name for name in names if names.count(name) > 1}):
        yield Finding("error", f"rule name {name!r} is used {names.count(name)} times (history and follow-ups use it)")


def _unreachable(rules: RuleSet) -> Iterator[Finding]:
    for index, rule in enumerate(rules.rules):
        catch_all = rule.match.model_dump(exclude_defaults=True) == {}
        if catch_all and not rule.continue_ and index + 1 < len(rules.rules):
            later = ", ".join(repr(r.name) for r in rules.rules[index + 1 :])
            yield Finding("error", f"rule {rule.name!r} matches everything and stops: {later} can never match")
            return


def _never_matching(rule: Rule, sources: frozenset[str]) -> Iterator[Finding]:
    for field, known in (("severity", SEVERITIES), ("status", STATUSES), ("source", sources)):
        condition = getattr(rule.match, field)
        for value in _literal_values(condition):
            if value not in known:
                yield Finding(
                    "error",
                    f"rule {rule.name!r}: {field} {value!r} can never match (one of {', '.join(sorted(known))})",
                )


def _literal_values(condition: Condition | None) -> Iterator[str]:
    if condition is None:
        return
    if condition.equals is not None:
        yield condition.equals
    yield from condition.any_of or []
    yield from _literal_values(condition.not_)


def _contradictions(rule: Rule) -> Iterator[Finding]:
    kinds = [action.kind for action in rule.actions]
    if "suppress" in kinds and len(set(kinds)) > 1:
        others = ", ".join(kind for kind in kinds if kind != "suppress")
        yield Finding("error", f"rule {rule.name!r}: suppress with {others}: the others still run; pick one")
    if kinds.count("open_incident") > 1:
        yield Finding("warning", f"rule {rule.name!r}: two open_incident actions: the first one decides")


def _time_condition(rule: Rule) -> Iterator[Finding]:
    """What parses (a bad time zone or range does not: the file's error names the line) but says nothing."""
    condition = rule.match.time
    if condition is None:
        return
    if len(condition.weekdays) == 7 and condition.hours == ((0, 1440),):
        yield Finding("warning", f"rule {rule.name!r}: time matches every day at every hour: leave it out")
    for (_, end), (start, _) in zip(condition.hours, condition.hours[1:], strict=False):
        if start < end:
            yield Finding("warning", f"rule {rule.name!r}: time hours overlap ({condition.explain()}): merge them")
            return


def _template_names(where: str, actions: list[ActionSpec]) -> Iterator[Finding]:
    for index, action in enumerate(actions):
        spec = action.open_incident or action.alert_event or action.escalate
        if spec is None:
            continue
        for name, value in spec.model_dump().items():
            if not isinstance(value, str) or "{" not in value:
                continue
            if error := check_template(value):
                yield Finding("error", f"{where} action {index} {name}: template error: {error}")
                continue
            unknown = template_names(value) - TEMPLATE_NAMES
            for bad in sorted(unknown):
                yield Finding(
                    "error",
                    f"{where} action {index} {name}: {bad!r} is not a template name "
                    f"(known: {', '.join(sorted(TEMPLATE_NAMES))}); it would render empty",
                )
            for attribute in sorted(_alert_attributes(value) - ALERT_FIELDS):
                yield Finding("error", f"{where} action {index} {name}: alert.{attribute} does not exist")


def _alert_attributes(template: str) -> set[str]:
    return set(re.findall(r"\balert\.([A-Za-z_]\w*)", template))


def _heartbeats(rules: RuleSet) -> Iterator[Finding]:
    for heartbeat in rules.heartbeats:
        if heartbeat.per_label and not heartbeat.instances and heartbeat.match is None:
            yield Finding(
                "warning",
                f"heartbeat {heartbeat.name!r} is per {heartbeat.per_label!r} with no declared instances: an "
                "instance that never pings is never missed (declare `instances`)",
            )
