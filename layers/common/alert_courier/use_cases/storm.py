"""Storm collapse in dispatch (decisions in `domain.storm`): in front of the courier, behind the maintenance gate.

For an alert of a rule with `storm`: one read of the group's storm membership and of the storm's state; for a
firing that would start a new group while no storm is on, also one read of its own group's state and one
conditional counter update (`StormCounter.count`: distinct group keys per window, shared by every container and
every FIFO message group). A group counted beyond the rule's `groups` joins the storm (a membership item), and its
alerts from then on are decided as the storm group's (`domain.storm.into_storm`) by the ordinary courier.
Alerts of rules without `storm` cost nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from alert_courier.domain.alert import AlertEnvelope
from alert_courier.domain.decisions import state_id_of
from alert_courier.domain.flap_control import STORM_WAIT_MARK
from alert_courier.domain.group_state import GroupState, state_id_for
from alert_courier.domain.rules import RuleSet, plan_for
from alert_courier.domain.storm import (
    after_count,
    into_storm,
    join_storm,
    member_generation,
    route,
    storm_group_key,
    storm_rule,
    waits,
    window_of,
)
from alert_courier.use_cases.courier import ManyOutcome
from alert_courier.use_cases.ports import Clock, GroupStates, Remaining, Telemetry
from alert_courier.use_cases.telemetry import NoTelemetry

logger = logging.getLogger("alert_courier")


class StormStore(Protocol):
    """Counters and memberships (the real one is `aws.storm_store.StormStore`)."""

    def count(self, rule: str, window: str, group_key: str, limit: int) -> int:
        """Adds the group to the window's distinct groups and says how many there are (stops counting past
        `limit + 1`: beyond that the answer is `limit + 1`)."""
        ...

    def member(self, rule: str, group_key: str) -> int | None:
        """The storm episode (generation) the group joined, if any."""
        ...

    def join(self, rule: str, group_key: str, generation: int) -> None: ...


class Handler(Protocol):
    def handle(self, envelope: AlertEnvelope, remaining_seconds: Remaining = None) -> dict[str, Any]: ...

    def handle_many(self, envelopes: Sequence[AlertEnvelope], remaining_seconds: Remaining = None) -> ManyOutcome: ...


class StormGate:
    def __init__(
        self,
        inner: Handler,
        store: StormStore,
        states: GroupStates,
        rules: Callable[[], RuleSet],
        *,
        clock: Clock = lambda: datetime.now(UTC),
        telemetry: Telemetry | None = None,
    ) -> None:
        self._inner = inner
        self._store = store
        self._states = states
        self._rules = rules
        self._clock = clock
        self._telemetry: Telemetry = telemetry or NoTelemetry()

    def handle(self, envelope: AlertEnvelope, remaining_seconds: Remaining = None) -> dict[str, Any]:
        routed, storm = self._route(envelope, self._rules())
        outcome = self._inner.handle(routed, remaining_seconds)
        return {**outcome, "storm": storm} if storm else outcome

    def handle_many(self, envelopes: Sequence[AlertEnvelope], remaining_seconds: Remaining = None) -> ManyOutcome:
        """One queued message's alerts: each routed alone (its own group or the storm's), in the message's order,
        then decided together by the courier (which reads each group's state once)."""
        rules = self._rules()
        if not any(rule.storm for rule in rules.rules):
            return self._inner.handle_many(envelopes, remaining_seconds)
        routed = [self._route(envelope, rules)[0] for envelope in envelopes]
        return self._inner.handle_many(routed, remaining_seconds)

    def _route(self, envelope: AlertEnvelope, rules: RuleSet) -> tuple[AlertEnvelope, str | None]:
        """Where the alert goes: itself (its own group), or into the storm group of its rule (and that rule)."""
        alert = envelope.alert
        rule = storm_rule(plan_for(alert, rules), rules) if any(r.storm for r in rules.rules) else None
        if rule is None or rule.storm is None:
            return envelope, None
        storm = self._states.load(state_id_for(alert.source, storm_group_key(rule)))
        member = self._store.member(rule.name, alert.group_key)
        own = self._states.load(state_id_of(alert, rules))
        where = route(alert, member_of=member, storm=storm, own=own)
        if where == "count":
            window = window_of(self._clock(), rule.storm.within)
            counted = self._store.count(rule.name, window, alert.group_key, rule.storm.groups)
            where = after_count(counted, rule)
            if where == "own" and waits(rule):  # one of the first N: it waits to see whether a storm follows
                marked = alert.model_copy(update={"raw": {**alert.raw, STORM_WAIT_MARK: rule.name}})
                return envelope.model_copy(update={"alert": marked}), None
        if where == "own":
            return envelope, None
        if member != member_generation(storm):  # not yet a member of this storm episode
            self._store.join(rule.name, alert.group_key, member_generation(storm))
            self._telemetry.count("StormGroupsCollapsed", rule=rule.name)
            logger.info("group joins a storm", extra={"group_key": alert.group_key, "rule": rule.name})
        return envelope.model_copy(update={"alert": into_storm(alert, rule)}), rule.name


class StormMoves(Protocol):
    """Group states that can also save two groups in one transaction (`aws.dynamodb_stores.GroupStateStore`)."""

    def load(self, group_id: str) -> GroupState: ...

    def save_together(self, first: GroupState, second: GroupState) -> None:
        """Both or neither, each only if its version is still the one read (else StaleState)."""
        ...


class StormJoins:
    """The scheduler's half of `storm.wait`: when a waiting group's hold ends, it joins the storm of its rule if one
    is on (`domain.storm.join_storm`), instead of opening its own incident."""

    def __init__(
        self,
        store: StormStore,
        states: StormMoves,
        rules: Callable[[], RuleSet],
        *,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._store = store
        self._states = states
        self._rules = rules
        self._telemetry: Telemetry = telemetry or NoTelemetry()

    def join_if_storm(self, state: GroupState, now: datetime) -> tuple[str, GroupState] | None:
        """The note and the storm's state if the group joined it (both saved), else None. Raises StaleState if
        either group changed since it was read (the caller reads both again)."""
        rule = next((r for r in self._rules().rules if r.name == state.flap.storm_rule and r.storm), None)
        if rule is None:
            return None  # the rule changed: the group opens as its hold says
        storm = self._states.load(state_id_for(state.source, storm_group_key(rule)))
        joined = join_storm(state, storm, now)
        if joined is None:
            return None
        own, storm_next, note = joined
        if self._store.member(rule.name, state.group_key) != member_generation(storm):
            self._store.join(rule.name, state.group_key, member_generation(storm))  # its next alerts go there too
        self._states.save_together(own, storm_next)
        self._telemetry.count("StormGroupsCollapsed", rule=rule.name)
        self._telemetry.count("StormWaitsJoined", rule=rule.name)
        logger.info("a waiting group joins a storm", extra={"group_key": state.group_key, "rule": rule.name})
        return note, storm_next
