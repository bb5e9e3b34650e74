"""Rules overrides from the parameter store (SSM through Powertools Parameters, in moto): an override replaces only
the top-level sections it contains; an invalid one is refused, the previous rules stay and a metric says so."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from alert_courier.aws.parameter_providers import ssm_provider
from alert_courier.aws.rules_source import RULES_CACHE_SECONDS, RulesSource
from alert_courier.domain.rules import load_rules
from alert_courier.use_cases.telemetry import RecordedTelemetry

PARAMETER = "/alert-courier/rules"
ONLY_RULES = """
rules:
  - name: everything-pages
    actions: [open_incident]
"""


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ssm(in_process_aws: None) -> Iterator[object]:
    yield boto3.client("ssm")


def put(ssm: object, text: str) -> None:
    ssm.put_parameter(Name=PARAMETER, Value=text, Type="String", Overwrite=True)  # type: ignore[attr-defined]


def source(telemetry: RecordedTelemetry, clock: Ticks) -> RulesSource:
    return RulesSource("", PARAMETER, ssm_provider(), telemetry=telemetry, clock=clock)


def test_a_rules_only_override_keeps_the_bundled_heartbeats_and_severity_map(ssm: object) -> None:
    put(ssm, ONLY_RULES)
    rules = RulesSource("", PARAMETER, ssm_provider())()
    bundled = load_rules()
    assert rules.rule_names == ["everything-pages"]
    assert [heartbeat.name for heartbeat in rules.heartbeats] == ["alertmanager-watchdog"]
    assert rules.heartbeats == bundled.heartbeats
    assert rules.severity == bundled.severity and rules.default_actions == bundled.default_actions


def test_an_override_replaces_each_section_it_contains_even_with_an_empty_one(ssm: object) -> None:
    put(ssm, "heartbeats: []\nseverity: {words: {p1: critical}}\n")
    rules = RulesSource("", PARAMETER, ssm_provider())()
    assert rules.heartbeats == [] and dict(rules.severity.words) == {"p1": "critical"}
    assert rules.rule_names == load_rules().rule_names


def test_an_invalid_override_is_refused_counted_and_the_previous_rules_stay(ssm: object) -> None:
    telemetry, clock = RecordedTelemetry(), Ticks()
    rules = source(telemetry, clock)
    put(ssm, ONLY_RULES)
    assert rules().rule_names == ["everything-pages"]
    put(ssm, "rules:\n  - name: broken\n    actions: []\n")
    clock.now += RULES_CACHE_SECONDS + 1
    rules._ssm().clear_cache()  # what the provider's max_age does after a minute
    kept = rules()
    assert kept.rule_names == ["everything-pages"] and kept.heartbeats == load_rules().heartbeats
    assert telemetry.total("RulesOverrideInvalid") == 1
    rules()  # the same invalid text within the minute: counted once
    assert telemetry.total("RulesOverrideInvalid") == 1
    clock.now += RULES_CACHE_SECONDS
    rules()  # still invalid a minute later: counted again, so the alarm stays on until it is fixed
    assert telemetry.total("RulesOverrideInvalid") == 2


def test_an_override_with_an_unknown_section_is_refused(ssm: object) -> None:
    telemetry = RecordedTelemetry()
    put(ssm, "heartbeat: []\n")  # a typo of `heartbeats`
    assert source(telemetry, Ticks())() == load_rules()
    assert telemetry.total("RulesOverrideInvalid") == 1
