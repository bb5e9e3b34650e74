"""The model-based end-state test (tests/end_state_model.py) on the in-memory ports: the CI profile.

`make soak` runs the same machine for ≥ 10,000 sequences (HYPOTHESIS_PROFILE=soak).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from alert_courier.domain.rules import RuleSet
from tests.budget_fakes import ShortBudget
from tests.end_state_model import RULES, T0, EndStateMachine
from tests.fakes import DrivenClock, SimulatedIncidentTools, World

# CI explores the same 500 sequences every run (derandomised: a green run stays green for the same code); the
# soak explores new ones each time.
settings.register_profile(
    "ci",
    max_examples=500,
    stateful_step_count=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "soak", max_examples=10_000, stateful_step_count=60, deadline=None, suppress_health_check=list(HealthCheck)
)
PROFILE = os.environ.get("END_STATE_PROFILE", "ci")


class InMemoryEndStates(EndStateMachine):
    rules: RuleSet = RULES

    def make_world(self, keyed: bool) -> World:
        dropped = {} if keyed else {"incident_create": ["idempotency_key"]}
        return World(
            RULES, clock=DrivenClock(T0), tools=SimulatedIncidentTools(drop_arguments=dropped), budget=ShortBudget()
        )


InMemoryEndStates.TestCase.settings = settings.get_profile(PROFILE)
TestEndStatesOnInMemoryPorts = InMemoryEndStates.TestCase
