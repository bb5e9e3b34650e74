"""An override of the rules (e.g. from the parameter store) replaces only the top-level sections it contains.

An override of `rules:` alone must not turn off the heartbeats or the severity map of the rules it overrides.
"""

from __future__ import annotations

from typing import Any

import yaml

from alert_courier.domain.rules import RulesError, RuleSet, parse_rules


def override_rules(base: RuleSet, text: str, origin: str = "override") -> RuleSet:
    """`base` with each section the override contains replaced by the override's; raises RulesError if invalid.

    The override is validated on its own first, so its errors name its own lines (an unknown section too).
    """
    override = parse_rules(text, origin)
    given = set(_sections(text))
    merged: dict[str, Any] = {name: getattr(override if name in given else base, name) for name in RuleSet.model_fields}
    return RuleSet.model_validate(merged)


def _sections(text: str) -> list[str]:
    document = yaml.safe_load(text)  # parse_rules has already refused what is not YAML
    if document is None:
        return []
    if not isinstance(document, dict):
        raise RulesError(
            "an override is a mapping of sections: severity, rules, default_actions, heartbeats, inhibit_rules"
        )
    return [str(key) for key in document]
