"""A model-based test of the whole dispatch path: random interleavings of what senders, queues, incident.io and
people do, checked against an oracle of the end state after every step and at quiescence.

The machine drives a `World` (tests/fakes.py: the use cases on in-memory ports, or on moto and the simulator over
HTTP for the smaller profile). Senders' events are generated in sender-time order (the truth); delivery may be
out of order, repeated, failed (transient, permanent, answer lost after acting, worker crash), dead-lettered and
replayed; people acknowledge pages in incident.io or send acknowledgements that incident.io may refuse; the
scheduler runs on a driven clock.

The oracle:
- always: at most one open incident per group; no two incidents for one group episode (one `alert-courier key`
  each); each escalation level pages at most once per incident; a suppressed group gets no call;
- at quiescence (faults off, everything delivered, the DLQ replayed, the clock past every level's due time): the
  queue and the DLQ are empty; a group's incident is open iff the group has an alert firing by the latest
  sender time; the open incident's severity is at least the highest firing severity (never lowered: README);
  a critical payments episode paged its first level exactly once, and its second level exactly once unless a
  person acknowledged (in incident.io, or by an acknowledgement incident.io accepted); a group whose messages
  were all delivered in sender order opened no more incidents than it had episodes.

Maintenance windows (README "Maintenance windows"): one at a time covers the `ops` group (on_end reevaluate or
drop, resolves close or hold), opened and ended between steps on the driven clock. The oracle adds:
- always: while a window is open, every `ops` message dispatch handles that the window covers is held (a firing,
  or a resolve when it holds resolves) and no `ops` episode that started after the window opened has an open
  incident (an earlier episode's unfinished work, e.g. a create that failed, may be finished by a resolve);
- when a `drop` window's end is processed, no `ops` episode that started since has an open incident;
- at quiescence (every window ended and processed): with only `reevaluate` windows, `ops` obeys the end-state rule
  above (an incident is open exactly while the group still fires); after a `drop` window, an `ops` incident is
  open only if the group fires (what was dropped may leave a firing group without one: "drop forgets").

Inhibition (README "Inhibition"): `src` alerts inhibit `tgt` ones (inhibit rule infra-down, equal cluster). The
oracle adds: always, exactly the `tgt` firings dispatch handles while a `src` alert fires as alert-courier last
heard (the latest sender time delivered) are inhibited, and no `tgt` episode that started after the source began
firing has an open incident; at quiescence, with no source firing nothing is held and `tgt` obeys the end-state
rule (its held alerts acted on once by the scheduler); with a source still firing, a `tgt` incident (opened before
it fired) is open only if `tgt` fires.

Storm collapse (README "Storm collapse"): rule `storms` (groups st1-st3) collapses beyond 1 new group in 5 minutes.
The oracle adds: always, at most one storm incident is open; at quiescence, a storm group that fires has its own
incident or the storm's open, one that does not fire has none of its own open, and the storm incident is open
exactly while a storm group with no incident of its own fires (it closes when the last member recovers).

Flap control (README "Flap control"): the `flappy` group's rule holds 2m, reopens within 30m and detects 4
changes in 5m. The end-state rule above holds for it at quiescence (the clock is then past every hold and every
spell's stable time); the oracle adds: when all of the group's messages were handled within 30 minutes (driven
clock), in order, it opened at most one incident however many episodes it had.

The queue's format (issue 18): every delivery goes through `pack` / `read_message` and dispatch's
`MaintenanceGate.handle_many`; `deliver_packed` delivers several queued alerts of one group as one message (one
notification), decided together. The oracle is the same: packing changes how many state reads and writes a
message costs, never what the end state is; the gate still judges each alert of a message alone.

The shared call budget (README "Staying under incident.io's rate limits"; in-memory profile): between steps it runs
short for a class of calls and the classes below it (as the shared bucket does when it runs low), or recovers.
The oracle adds: always, no call of a class the budget is short for reaches incident.io (pages and openings keep
going while resolves and updates wait); at quiescence (the budget recovered), the end state above holds: every
action the budget made wait was done, once.

Reconciliation (README "Reconciliation"): a resolve may be lost for good (generated at the sender, never delivered),
and a reconcile pass reads the senders' truth (what the model says is firing now) between steps and at quiescence
(outside an open window's group: the reconciler's changes are not held by windows, a documented limit); a person may
close a group's open incident in incident.io, which a reconcile pass reads (`incident_show`). The oracle adds:
- always: an incident a pass found closed by a person gets no further call (no update, no page linked to it);
- at quiescence: the end-state rule above holds with lost resolves (the pass closed what the truth closed), where a
  firing the person's close ended (the group state says it ended) counts as not firing; a new firing after it opens
  a new incident.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from alert_courier.aws.alert_queue import pack, read_message
from alert_courier.domain.actions import Escalate, OpenIncident
from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.call_budget import Priority
from alert_courier.domain.errors import ActionBusy, ActionFailed, PermanentFailure, StaleState
from alert_courier.domain.group_state import GroupState, state_id_for
from alert_courier.domain.maintenance import WindowRequest
from alert_courier.domain.reconciliation import Observation
from alert_courier.domain.rules import parse_rules
from tests.fakes import Crash, World

PAYMENTS_PATH = "01HR716FJW92V81E5128Q6RW31"
GRACE = "01HR716BWNFMGT83PXT891WB09"
ALERT_SOURCE = "01HR71AHZ3E9TPKXKN5SN8KZ5H"
RULES = parse_rules(f"""
rules:
  - name: acknowledgements
    match: {{status: acknowledged}}
    actions: [acknowledge]
  - name: quiet
    match: {{labels: {{env: staging}}}}
    actions: [suppress]
  - name: payments-critical
    match: {{labels: {{team: payments}}, severity: critical}}
    actions:
      - alert_event: {{alert_source_config_id: {ALERT_SOURCE}}}
      - open_incident: {{name: "{{{{ labels.group }}}}: {{{{ alert.title }}}}"}}
      - escalate: {{escalation_path_id: {PAYMENTS_PATH}}}
      - escalate: {{user_ids: [{GRACE}], after_minutes: 15}}
  - name: payments
    match: {{labels: {{team: payments}}}}
    actions:
      - open_incident: {{name: "{{{{ labels.group }}}}: {{{{ alert.title }}}}"}}
  - name: storms
    match: {{labels: {{team: storm}}}}
    storm: {{groups: 1, within: 5m, wait: 1m}}
    actions:
      - open_incident: {{name: "{{{{ labels.group }}}}: {{{{ alert.title }}}}"}}
  - name: flappy
    match: {{labels: {{team: flappy}}}}
    hold: 2m
    reopen_within: 30m
    flap: {{changes: 4, within: 5m}}
    actions:
      - open_incident: {{name: "{{{{ labels.group }}}}: {{{{ alert.title }}}}"}}
  - name: ops
    actions:
      - open_incident: {{name: "{{{{ labels.group }}}}: {{{{ alert.title }}}}"}}
inhibit_rules:
  - name: infra-down
    source: {{labels: {{team: infra}}}}
    target: {{labels: {{team: web}}}}
    equal: [cluster]
""")
GROUPS = {
    "ops": {"team": "ops"},
    "pay": {"team": "payments"},
    "pay2": {"team": "payments"},
    "quiet": {"env": "staging"},
    "src": {"team": "infra", "cluster": "c1"},  # inhibits `tgt` while it fires (inhibit rule infra-down)
    "tgt": {"team": "web", "cluster": "c1"},
    "st1": {"team": "storm"},  # rule `storms`: beyond 1 new group in 5 minutes, one storm incident
    "st2": {"team": "storm"},
    "st3": {"team": "storm"},
    "flappy": {"team": "flappy"},
}
STORM_GROUPS = ("st1", "st2", "st3")
STORM_INCIDENT = "Alert storm: "
REOPEN_WITHIN = timedelta(minutes=30)  # the `flappy` rule's
KEYS = ("a", "b")
SEVERITY_RANK = {"Minor": 1, "Major": 2, "Critical": 3}
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
FAULT_TOOLS = ("incident_create", "incident_update", "escalation_create", "escalation_list", "escalation_show")
FAULTS = ("transient", "permanent", "lost", "crash")


DEAD_LETTER_RETENTION = timedelta(days=14)  # template.yaml: AlertDeadLetterQueue's MessageRetentionPeriod


@dataclass
class Message:
    envelope: AlertEnvelope
    group: str
    sender_time: datetime
    serial: int  # generation order = sender-time order


@dataclass
class KeyTruth:
    firing: bool = False
    started: datetime | None = None
    severity: Severity = Severity.WARNING
    ended: datetime | None = None
    human_closed: bool = False  # this firing was ended by a person closing its incident (as the group state says)


@dataclass
class Model:
    """What really happened at the senders, and what the test did to the pipeline."""

    keys: dict[tuple[str, str], KeyTruth] = field(default_factory=dict)
    episodes: dict[str, int] = field(default_factory=dict)  # times each group went from quiet to firing
    reordered: set[str] = field(default_factory=set)  # groups with a message delivered after a later one
    delivered: dict[str, int] = field(default_factory=dict)  # highest serial delivered per group
    human_acked: set[str] = field(default_factory=set)  # incident ids whose page a person acknowledged
    acknowledged: set[tuple[str, int]] = field(default_factory=set)  # (group, episode) an acknowledgement ended
    window: dict[str, Any] | None = None  # the open maintenance window: id, on_end, resolves, ops incidents then
    windows_opened: int = 0
    dropped: bool = False  # a `drop` window has ended in this sequence
    heard: dict[str, tuple[int, bool]] = field(default_factory=dict)  # src key: (latest serial delivered, firing)
    inhibiting_since: int | None = None  # while a `src` alert fires as last heard: the `tgt` episode then
    flappy_handled: list[datetime] = field(default_factory=list)  # clock times `flappy` messages were handled
    update_refused: bool = False  # a permanent incident_update fault: a refused reopen opens a new incident
    human_closed: dict[str, int] = field(default_factory=dict)  # incident id → its calls when a pass saw the close
    lost_resolves: int = 0


def event(what: str) -> None:
    """Counted in `--hypothesis-show-statistics` (what `make soak` covered); a no-op outside a test run."""
    with contextlib.suppress(Exception):
        hypothesis_event(what)


class EndStateMachine(RuleBasedStateMachine):
    """Subclasses give `make_world(keyed)`; `faults` lists the fault kinds this profile injects."""

    faults: tuple[str, ...] = FAULTS

    def make_world(self, keyed: bool) -> World:
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.world: World | None = None
        self.model = Model()
        self.queue: list[Message] = []
        self.dead_letters: list[tuple[Message, str]] = []
        self.sender_time = T0
        self.serial = 0

    # ---- set-up -------------------------------------------------------------------------------------

    @initialize(keyed=st.booleans())
    def start(self, keyed: bool) -> None:
        """`keyed`: whether incident_create advertises an idempotency key (else the re-check path is used)."""
        self.world = self.make_world(keyed)
        # `flappy` reopens its incident: incident.io documents no closed -> live move, the simulator allows it here
        self.w.tools.simulator.set_faults({"allow_reopen": True})

    @property
    def w(self) -> World:
        assert self.world is not None
        return self.world

    # ---- the senders ----------------------------------------------------------------------------------

    def _send(self, group: str, key: str, status: AlertStatus, severity: Severity, **times: Any) -> None:
        self.sender_time += timedelta(seconds=30)
        self.serial += 1
        alert = Alert(
            source="alertmanager",
            dedup_key=f"{group}-{key}",
            group_key=group,
            status=status,
            severity=severity,
            title=f"{key} {severity.value}",
            labels={**GROUPS[group], "group": group},
            received_at=self.sender_time,
            **times,
        )
        envelope = AlertEnvelope(alert=alert, correlation_id=f"m{self.serial}")
        self.queue.append(Message(envelope, group, self.sender_time, self.serial))

    @rule(group=st.sampled_from(sorted(GROUPS)), key=st.sampled_from(KEYS), critical=st.booleans())
    def fire(self, group: str, key: str, critical: bool) -> None:
        """A new firing, or a change of a firing alert (same start, another severity: Datadog Warn → Alert)."""
        truth = self.model.keys.setdefault((group, key), KeyTruth())
        severity = Severity.CRITICAL if critical else Severity.WARNING
        if not truth.firing or truth.human_closed:
            if not any(t.firing and not t.human_closed for (g, _), t in self.model.keys.items() if g == group):
                self.model.episodes[group] = self.model.episodes.get(group, 0) + 1
            truth.firing, truth.started = True, self.sender_time + timedelta(seconds=30)
            truth.human_closed = False
        truth.severity = severity
        self._send(group, key, AlertStatus.FIRING, severity, started_at=truth.started)

    @rule(
        group=st.sampled_from(sorted(GROUPS)),
        key=st.sampled_from(KEYS),
        names_its_firing=st.booleans(),
        says_when=st.booleans(),
    )
    def resolve(self, group: str, key: str, names_its_firing: bool, says_when: bool = True) -> None:
        """A recovery; some senders (CloudWatch via SNS, Datadog) do not say which firing it ends, others (a
        generic trigger's resolve) name the firing but not when it ended."""
        truth = self.model.keys.get((group, key))
        if truth is None or not truth.firing:
            return
        truth.firing, truth.human_closed = False, False
        truth.ended = self.sender_time + timedelta(seconds=30)
        started = truth.started if names_its_firing else None
        ended = self.sender_time + timedelta(seconds=30) if says_when or not names_its_firing else None
        self._send(group, key, AlertStatus.RESOLVED, truth.severity, started_at=started, ended_at=ended)

    # ---- the queue ----------------------------------------------------------------------------------------

    @precondition(lambda self: bool(self.queue))
    @rule(index=st.integers(min_value=0), keep_a_copy=st.booleans())
    def deliver(self, index: int, keep_a_copy: bool) -> None:
        """One message, from anywhere in the queue (senders and SNS do not promise order); optionally it stays
        queued to be delivered again (SQS is at-least-once, Alertmanager re-sends)."""
        message = self.queue[index % len(self.queue)]
        if not keep_a_copy:
            self.queue.remove(message)
        self._handle(message)

    @precondition(lambda self: len(self.queue) >= 2)
    @rule(index=st.integers(min_value=0), count=st.integers(min_value=2, max_value=4))
    def deliver_packed(self, index: int, count: int) -> None:
        """Several queued alerts of one group as one notification: packed into one queued message, decided
        together (`handle_many`)."""
        group = self.queue[index % len(self.queue)].group
        batch: list[Message] = []
        for message in list(self.queue):  # a notification carries each alert once
            keys = {m.envelope.alert.dedup_key for m in batch}
            if message.group == group and message.envelope.alert.dedup_key not in keys and len(batch) < count:
                batch.append(message)
        for message in batch:
            self.queue.remove(message)
        if len(batch) > 1:
            event("packed message of several alerts")
        self._handle_many(batch)

    def _handle(self, message: Message) -> None:
        self._handle_many([message])

    def _handle_many(self, messages: list[Message]) -> None:
        """Through the queue's format (`pack` / `read_message`) and dispatch's entry (inhibition, then the courier
        behind the windows), over all alerts of the message at once."""
        for message in messages:
            if message.group == "flappy":
                self.model.flappy_handled.append(self.w.clock.now)
            last = self.model.delivered.get(message.group, 0)
            if message.serial < last:
                self.model.reordered.add(message.group)
            self.model.delivered[message.group] = max(last, message.serial)
        entries = pack([message.envelope for message in messages])
        assert len(entries) == 1, "a few alerts of one group are one message"
        envelopes = read_message(entries[0]["MessageBody"])
        assert [e.alert for e in envelopes] == [message.envelope.alert for message in messages]  # one correlation id
        by_key = {message.envelope.alert.dedup_key: message for message in messages}
        for message in messages:
            self._hear_source(message)  # dispatch's entry records a source before anything can fail
        try:
            done = self.w.entry.handle_many(envelopes)
        except PermanentFailure as failure:
            assert str(failure), "a dead-lettered message must say why"
            event("dead-lettered")
            for message in messages:
                self._drop(message)
                self.dead_letters.append((message, str(failure)))
            return
        except (ActionFailed, ActionBusy, StaleState, Crash) as failure:
            event(f"redelivered after {type(failure).__name__}")
            for message in messages:
                if message not in self.queue:
                    self.queue.append(message)  # SQS redelivers after the visibility timeout
            return
        assert sorted(outcome["dedup_key"] for outcome in done.outcomes) == sorted(by_key)
        for envelope, reason in done.permanent:
            assert reason, "a dead-lettered alert must say why"
            event("dead-lettered")
            message = by_key[envelope.alert.dedup_key]
            self._drop(message)
            self.dead_letters.append((message, reason))
        for outcome in done.outcomes:
            message = by_key[outcome["dedup_key"]]
            self._check_inhibited(message, outcome)
            self._check_held(message, outcome)
            if message.envelope.alert.status is AlertStatus.ACKNOWLEDGED:
                self._note_acknowledgement(message)
            for kind in outcome["actions"]:
                event(f"acted: {kind}")
            if any("severity raised" in reason for reason in outcome["reasons"]):
                event("severity raised")
            if any("resuming" in reason for reason in outcome["reasons"]):
                event("resumed what a failure left undone")
            if any(reason.startswith("stale") for reason in outcome["reasons"]):
                event("stale event recognised")

    def _hear_source(self, message: Message) -> None:
        """What alert-courier last heard of the `src` alerts (the latest sender time delivered, in any order)."""
        alert = message.envelope.alert
        if message.group != "src" or alert.status is AlertStatus.ACKNOWLEDGED:
            return
        before = self._source_heard_firing()
        serial, _ = self.model.heard.get(alert.dedup_key, (0, False))
        if message.serial >= serial:
            self.model.heard[alert.dedup_key] = (message.serial, alert.status is AlertStatus.FIRING)
        now = self._source_heard_firing()
        if now and not before:
            self.model.inhibiting_since = self.w.states.load(state_id_for("alertmanager", "tgt")).generation
            event("inhibition started")
        elif before and not now:
            self.model.inhibiting_since = None

    def _source_heard_firing(self) -> bool:
        return any(firing for _, firing in self.model.heard.values())

    def _check_inhibited(self, message: Message, outcome: dict[str, Any]) -> None:
        """Exactly the `tgt` firings dispatch handles while a `src` alert fires (as last heard) are inhibited."""
        inhibited = (
            message.group == "tgt"
            and message.envelope.alert.status is AlertStatus.FIRING
            and self._source_heard_firing()
        )
        assert ("inhibited_by" in outcome) == inhibited, f"{message.group}: inhibited {outcome.get('inhibited_by')}"
        if inhibited:
            event("inhibited")

    @invariant()
    def inhibited_alerts_open_no_incident(self) -> None:
        if self.world is None or self.model.inhibiting_since is None:
            return
        opened = self._open_incidents_after("tgt", self.model.inhibiting_since)
        assert not opened, f"tgt incident(s) {opened} opened while a src alert fires (inhibit rule infra-down)"

    def _check_held(self, message: Message, outcome: dict[str, Any]) -> None:
        """The gate holds exactly what the open window covers."""
        window = self.model.window
        status = message.envelope.alert.status
        covered = (
            window is not None
            and message.group == "ops"
            and message.envelope.alert.raw.get("sender") != "reconciler"  # not held by windows (README: a limit)
            and (status is AlertStatus.FIRING or (status is AlertStatus.RESOLVED and window["resolves"] == "hold"))
        )
        assert (outcome.get("held_by") == (window or {}).get("id")) if covered else "held_by" not in outcome, (
            f"{message.group} {status.value}: held_by {outcome.get('held_by')!r}, window {window}"
        )
        if covered:
            event(f"held by a window ({status.value})")

    def _note_acknowledgement(self, message: Message) -> None:
        """Whether the acknowledgement ended the pending levels: incident.io accepted it, or nothing was paged
        yet (the sender's word is enough then)."""
        entry = self.w.history.read("alertmanager", message.envelope.alert.dedup_key)[-1]
        accepted = any(result.get("acknowledged") for result in entry["results"])
        unpaged = any("no page to acknowledge" in reason for reason in entry["reasons"])
        if accepted or unpaged:
            self.model.acknowledged.add((message.group, self.model.episodes.get(message.group, 0)))

    def _drop(self, message: Message) -> None:
        if message in self.queue:
            self.queue.remove(message)

    @precondition(lambda self: bool(self.dead_letters))
    @rule()
    def replay_dead_letters(self) -> None:
        """`alert-courier dlq replay --all`."""
        self.queue += [message for message, _ in self.dead_letters]
        self.dead_letters.clear()

    # ---- incident.io and people --------------------------------------------------------------------------

    @rule(tool=st.sampled_from(FAULT_TOOLS), kind=st.sampled_from(FAULTS))
    def fault(self, tool: str, kind: str) -> None:
        if kind in self.faults:
            self.w.tools.script(tool, kind)
            self.model.update_refused |= tool == "incident_update" and kind == "permanent"

    @rule(group=st.sampled_from(["pay", "pay2"]))
    def person_acknowledges_in_incident_io(self, group: str) -> None:
        incident = self._open_incident(group)
        if incident is None:
            return
        pages = [r.escalation for r in self._escalations() if r.arguments.get("incident_id") == incident["id"]]
        if pages:
            self.w.tools.simulator.call_tool("escalation_respond", {"id": pages[0]["id"]})
            self.model.human_acked.add(incident["id"])

    @rule(group=st.sampled_from(["pay", "pay2"]), refused=st.booleans())
    def acknowledgement_from_the_sender(self, group: str, refused: bool) -> None:
        """A PagerDuty-style acknowledge event; incident.io may refuse the service actor's response."""
        self.sender_time += timedelta(seconds=30)
        self.serial += 1
        alert = Alert(
            source="alertmanager",
            dedup_key=f"{group}-a",
            group_key=group,
            status=AlertStatus.ACKNOWLEDGED,
            title="acknowledged",
            labels={**GROUPS[group], "group": group},
            received_at=self.sender_time,
        )
        message = Message(AlertEnvelope(alert=alert, correlation_id=f"m{self.serial}"), group, self.sender_time, 0)
        self.w.tools.simulator.refuse_respond = refused
        try:
            self._handle(message)
        finally:
            self.w.tools.simulator.refuse_respond = False

    @rule(minutes=st.sampled_from([1, 2, 5, 16]))
    def time_passes(self, minutes: int) -> None:
        self.w.clock.advance(minutes=minutes)
        with contextlib.suppress(Crash):  # the scheduler's container died; its claims expire
            self.w.scheduler.run()

    @precondition(lambda self: not self.queue and self.model.window is None)
    @rule(days=st.sampled_from([3, 8]))
    def days_pass(self, days: int) -> None:
        """A long quiet spell or a week-long firing: sender times and the clock move on together. Dispatch keeps
        up with the queue (it is drained: a message waits days only in the dead-letter queue, which keeps it 14
        days — the template's retention), so the late copies are dead letters replayed days later."""
        oldest = min((message.sender_time for message, _ in self.dead_letters), default=self.sender_time)
        if self.sender_time + timedelta(days=days) - oldest > DEAD_LETTER_RETENTION:
            return
        self.w.clock.advance(days=days)
        self.sender_time += timedelta(days=days)
        event(f"{days} days passed")

    # ---- reconciliation: lost resolves, the senders' truth, a person's close ------------------------------

    @rule(group=st.sampled_from(sorted(GROUPS)), key=st.sampled_from(KEYS))
    def resolve_is_lost(self, group: str, key: str) -> None:
        """The sender resolves, and the notification is lost for good (CloudWatch's OK, Alertmanager's retries)."""
        queued = len(self.queue)
        self.resolve(group, key, names_its_firing=False)
        if len(self.queue) > queued:
            self.queue.pop()
            self.model.lost_resolves += 1
            event("a resolve was lost")

    @rule()
    def reconcile_with_the_senders(self) -> None:
        with contextlib.suppress(Crash):
            report = self.w.reconciler([ModelTruth(self)], requeue=self._requeue).run()
            for change in report.changes:
                event(f"reconciled: {change.change}")
                group, _, name = change.dedup_key.rpartition("-")
                truth = self.model.keys.get((group, name))
                at = None if truth is None else truth.ended if change.change == "resolve" else truth.started
                if at is not None and any(m.group == group and m.sender_time < at for m in self.queue):
                    # the sender's truth is acted on before the group's messages sent earlier: out of order
                    self.model.reordered.add(group)
                if change.change == "resolve" and change.dedup_key.startswith("src-"):
                    self._hear_reconciled_source_resolve(change.dedup_key)

    def _hear_reconciled_source_resolve(self, key: str) -> None:
        """The pass resolved a `src` alert (the sender says it is over): it inhibits no more, as if its resolve had
        been delivered now (a firing sent before it stays stale, one sent after fires again)."""
        before = self._source_heard_firing()
        serial, _ = self.model.heard.get(key, (0, False))
        self.model.heard[key] = (max(serial, self.serial), False)
        if before and not self._source_heard_firing():
            self.model.inhibiting_since = None

    @precondition(lambda self: self.world is not None and (self.w.budget is None or self.w.budget.short_from is None))
    @rule(group=st.sampled_from(["ops", "pay", "pay2"]))
    def person_closes_the_incident(self, group: str) -> None:
        """A responder closes the group's open incident in incident.io; the next pass reads it."""
        incident = self._open_incident(group)
        if incident is None:
            return
        self.w.tools.simulator.close_incident_as_human(incident["id"])
        event("a person closed the incident")
        self._read_human_closes()

    def _requeue(self, envelope: AlertEnvelope) -> None:
        """The pass could not finish a synthesized alert: it goes on dispatch's queue, as the wiring does."""
        self.serial += 1
        self.queue.append(Message(envelope, envelope.alert.group_key, self.sender_time, self.serial))
        event("a reconciled alert was queued for dispatch")

    def _read_human_closes(self) -> None:
        from alert_courier.incident_io.incident_statuses import IncidentIoStatuses

        try:
            report = self.w.reconciler(incidents=IncidentIoStatuses(self.w.tools), requeue=self._requeue).run()
        except Crash:  # the scheduler's container died; the next pass reads it
            return
        for change in [c for c in report.changes if c.change == "closed_by_human"]:
            state = self.w.states.load(change.group_id)
            group = state.group_key
            assert state.incident_id and state.closed_by_human_at is not None
            self.model.human_closed[state.incident_id] = self._calls_for(state.incident_id)
            for (g, key), truth in self.model.keys.items():
                through = state.resolved_through.get(f"{g}-{key}", "")
                if g == group and truth.firing and truth.started and truth.started.isoformat() <= through:
                    truth.human_closed = True
            if any(t.firing and not t.human_closed for (g, _), t in self.model.keys.items() if g == group):
                # a firing the closed episode had not heard of yet (still queued) is news after the close: with
                # `after_human_close: new_incident` it opens the group's next incident
                self.model.episodes[group] = self.model.episodes.get(group, 0) + 1
            event("a pass saw a person's close")

    def _calls_for(self, incident_id: str) -> int:
        record = self.w.tools.simulator.state.incidents[incident_id]
        pages = [r for r in self._escalations() if r.arguments.get("incident_id") == incident_id]
        return len(record.updates) + len(pages)

    @invariant()
    def a_person_closed_incident_gets_no_more_calls(self) -> None:
        if self.world is None:
            return
        for incident_id, calls in self.model.human_closed.items():
            assert self._calls_for(incident_id) == calls, f"incident {incident_id} got calls after a person closed it"

    # ---- maintenance windows (a deploy tool's POST and DELETE) -------------------------------------------

    def _nothing_held(self) -> bool:
        return all(not self.w.windows.held(window.id) for window in self.w.windows.windows())

    @precondition(lambda self: self.model.window is None and self.model.windows_opened < 3)
    @rule(on_end=st.sampled_from(["reevaluate", "drop"]), resolves=st.sampled_from(["close", "hold"]))
    def open_window(self, on_end: str, resolves: str) -> None:
        if not self._nothing_held():  # one window's alerts at a time: its end is checked on its own
            return
        self.model.windows_opened += 1
        request = WindowRequest.model_validate(
            {
                "match": {"labels": {"team": "ops"}},
                "duration": "1d",  # ended by `end_window` (or at quiescence)
                "reason": "deploy",
                "created_by": "model",
                "on_end": on_end,
                "resolves": resolves,
            }
        )
        window = self.w.windows.add(request.window(f"mw-{self.model.windows_opened:016x}", self.w.clock()))
        self.model.window = {"id": window.id, "on_end": on_end, "resolves": resolves, "episode": self._ops_episode()}
        event(f"window opened ({on_end}, resolves {resolves})")

    @precondition(lambda self: self.model.window is not None)
    @rule(key=st.sampled_from(KEYS), fires=st.booleans())
    def covered_alert_arrives(self, key: str, fires: bool) -> None:
        """An `ops` firing or resolve sent and delivered once while the window is open (the deploy's alerts)."""
        if fires:
            self.fire("ops", key, critical=False)
        else:
            self.resolve("ops", key, names_its_firing=True)
        if self.queue and self.queue[-1].group == "ops" and self.queue[-1].serial == self.serial:
            message = self.queue.pop()
            self._handle(message)

    @precondition(lambda self: self.model.window is not None)
    @rule(run_scheduler=st.booleans())
    def end_window(self, run_scheduler: bool) -> None:
        """`DELETE /maintenance/<id>`; the scheduler acts on the window's end at its next run (now, or later)."""
        window = self.model.window
        assert window is not None
        self.w.windows.expire(window["id"], self.w.clock(), "model")
        self.model.window = None
        if window["on_end"] == "drop":
            self.model.dropped = True
        episode = self._ops_episode()
        if run_scheduler:
            with contextlib.suppress(Crash):
                self.w.scheduler.run()
            if window["on_end"] == "drop":
                opened = self._open_ops_incidents_after(episode)
                assert not opened, f"a drop window's end opened {opened}"
        event(f"window ended ({window['on_end']})")

    @invariant()
    def nothing_opens_while_a_window_holds(self) -> None:
        if self.world is None or self.model.window is None:
            return
        opened = self._open_ops_incidents_after(self.model.window["episode"])
        assert not opened, f"ops incident(s) {opened} opened while a maintenance window holds the group"

    def _ops_episode(self) -> int:
        return self.w.states.load(state_id_for("alertmanager", "ops")).generation

    def _open_ops_incidents_after(self, episode: int) -> list[str]:
        """Open `ops` incidents of episodes that started after `episode` (an episode's own work, decided before a
        window opened and left undone by a failure, may still be finished during it: README)."""
        return self._open_incidents_after("ops", episode)

    def _open_incidents_after(self, group: str, episode: int) -> list[str]:
        group_id = state_id_for("alertmanager", group)
        earlier = {
            OpenIncident(
                group_id=group_id, generation=generation, name="", summary="", severity="warning", reason=""
            ).idempotency_key
            for generation in range(1, episode + 1)
        }
        return [
            incident["id"]
            for record in self.w.tools.simulator.state.incidents.values()
            if (incident := record.incident)["name"].startswith(f"{group}: ")
            and self._is_open(incident)
            and not set(re.findall(r"alert-courier key: (\S+)", record.arguments.get("summary", ""))) & earlier
        ]

    @staticmethod
    def _is_open(incident: dict[str, Any]) -> bool:
        return incident["incident_status"]["category"] not in ("closed", "declined")

    # ---- reading the world -------------------------------------------------------------------------------

    def _escalations(self) -> list[Any]:
        return list(self.w.tools.simulator.state.escalations.values())

    def _incidents(self, group: str) -> list[dict[str, Any]]:
        return [
            record.incident
            for record in self.w.tools.simulator.state.incidents.values()
            if record.incident["name"].startswith(f"{group}: ")
        ]

    def _storm_incidents(self) -> list[dict[str, Any]]:
        return [
            record.incident
            for record in self.w.tools.simulator.state.incidents.values()
            if record.incident["name"].startswith(STORM_INCIDENT)
        ]

    def _open_incident(self, group: str) -> dict[str, Any] | None:
        open_ = [i for i in self._incidents(group) if i["incident_status"]["category"] not in ("closed", "declined")]
        return open_[0] if open_ else None

    def _pages(self, incident_id: str) -> tuple[int, int]:
        pages = [r.arguments for r in self._escalations() if r.arguments.get("incident_id") == incident_id]
        return (
            sum(1 for args in pages if args.get("escalation_path_id")),
            sum(1 for args in pages if args.get("user_ids")),
        )

    def _episode_pages(self, group: str) -> tuple[int, int]:
        """Pages of each level for the group's current episode, linked to its incident or not (a level whose
        incident could not be opened in time pages without the link)."""
        state = self.w.states.load(state_id_for("alertmanager", group))
        keys = [
            Escalate(
                group_id=state.group_id, generation=state.generation, level=level, title="", reason=""
            ).idempotency_key
            for level in (0, 1)
        ]
        pages = [r.arguments.get("idempotency_key") for r in self._escalations()]
        return pages.count(keys[0]), pages.count(keys[1])

    # ---- the oracle ----------------------------------------------------------------------------------------

    # ---- the shared call budget ------------------------------------------------------------------------------

    @rule(short_from=st.sampled_from([None, *Priority]))
    def budget_runs_short(self, short_from: Priority | None) -> None:
        """The shared bucket runs low: calls of `short_from` and every class below it wait (None: it recovers)."""
        if self.w.budget is None:
            return
        self.w.budget.short_from = short_from
        event(f"budget short from {short_from.name.lower()}" if short_from is not None else "budget recovered")

    @invariant()
    def only_what_the_budget_admits_reaches_incident_io(self) -> None:
        if self.world is None or self.w.budget is None:
            return
        reached = self.w.budgeted_tools.reached
        new, self._budget_checked = reached[getattr(self, "_budget_checked", 0) :], len(reached)
        short_from = self.w.budget.short_from
        if short_from is not None:
            passed = [(tool, priority.name) for tool, priority in new if priority >= short_from]
            assert not passed, f"calls of a class the budget is short for reached incident.io: {passed}"
        refused = self.w.budget.refused
        waited, self._budget_refusals = refused[getattr(self, "_budget_refusals", 0) :], len(refused)
        for priority in set(waited):
            event(f"budget made a {priority.name.lower()} call wait")

    @invariant()
    def never_doubled(self) -> None:
        if self.world is None:
            return
        keys: list[str] = []
        for group in GROUPS:
            incidents = self._incidents(group)
            still_open = [i for i in incidents if i["incident_status"]["category"] not in ("closed", "declined")]
            assert len(still_open) <= 1, f"{group}: {len(still_open)} incidents open at once"
            for incident in incidents:
                first, second = self._pages(incident["id"])
                assert first <= 1 and second <= 1, f"{group}: level paged twice ({first}, {second})"
        for record in self.w.tools.simulator.state.incidents.values():
            keys += re.findall(r"alert-courier key: (\S+)", record.arguments.get("summary", ""))
        assert len(keys) == len(set(keys)), "two incidents for one episode"
        storms = [i for i in self._storm_incidents() if self._is_open(i)]
        assert len(storms) <= 1, f"{len(storms)} storm incidents open at once"
        assert self._incidents("quiet") == []

    def teardown(self) -> None:
        if self.world is not None:
            self.quiesce()
            self.check_end_state()
        super().teardown()

    def quiesce(self) -> None:
        self.w.tools.clear_scripts()
        if self.w.budget is not None:
            self.w.budget.short_from = None  # the budget recovers
        if self.model.window is not None:
            self.end_window(run_scheduler=False)
        for _ in range(6):
            self.w.clock.advance(minutes=2)  # past every crashed worker's lease
            for message in list(self.queue):
                self._drop(message)
                self._handle(message)
            self.replay_dead_letters() if self.dead_letters else None
            if not self.queue and not self.dead_letters:
                break
        self.w.clock.advance(minutes=20)  # past every pending level's due time (and every window's settling)
        self.w.scheduler.run()  # a window's end hands its held alerts on first
        for message in list(self.queue):
            self._drop(message)
            self._handle(message)
        self._read_human_closes()  # a person's close not yet read (its group had unfinished work then)
        for _ in range(2):  # the second pass: what the scheduler released after the first (an inhibited target)
            self.reconcile_with_the_senders()  # what was lost for good is closed from the senders' truth
            for _ in range(3):  # what the pass handed to dispatch's queue
                self.w.clock.advance(minutes=2)
                for message in list(self.queue):
                    self._drop(message)
                    self._handle(message)
            self.w.scheduler.run()
            self.w.scheduler.run()
        assert self.queue == [] and self.dead_letters == [], "messages neither acted on nor dead-lettered"
        assert self._nothing_held(), "a maintenance window's end left alerts held"
        if not self._source_heard_firing():
            assert self.w.inhibition.held() == [], "targets still held though no source fires"

    def check_end_state(self) -> None:
        for group in GROUPS:
            if group == "quiet":
                continue
            firing = [t for (g, _), t in self.model.keys.items() if g == group and t.firing and not t.human_closed]
            incident = self._open_incident(group)
            if group == "ops" and self.model.dropped:  # "drop forgets": a firing group may have no incident
                assert incident is None or firing, "ops: an incident open while nothing fires"
                continue
            if group in STORM_GROUPS:  # its own incident, or the storm's (checked below)
                assert incident is None or firing, f"{group}: its incident open while nothing fires"
                storm_open = any(self._is_open(i) for i in self._storm_incidents())
                assert not firing or incident is not None or storm_open, f"{group} fires with no incident"
                continue
            if group == "tgt" and self._source_heard_firing():  # inhibited: only one opened before may be open
                assert incident is None or firing, "tgt: an incident open while nothing fires"
                continue
            assert (incident is not None) == bool(firing), (
                f"{group}: incident {'open' if incident else 'closed'} while {len(firing)} alert(s) fire"
            )
            # A window's held alerts join their group only at its end, so an episode can span two incidents then.
            if group not in self.model.reordered and not (group == "ops" and self.model.windows_opened):
                assert len(self._incidents(group)) <= self.model.episodes.get(group, 0), f"{group}: extra incidents"
            if incident is None:
                continue
            highest = max(SEVERITY_RANK["Critical" if t.severity is Severity.CRITICAL else "Minor"] for t in firing)
            got = SEVERITY_RANK.get((incident.get("severity") or {}).get("name", ""), 0)
            assert got >= highest, f"{group}: incident severity {got} below the firing {highest}"
            if GROUPS[group].get("team") == "payments" and any(t.severity is Severity.CRITICAL for t in firing):
                first, second = self._episode_pages(group)
                assert first == 1, f"{group}: a critical payments episode paged level 0 {first} times"
                # Delivered out of order, a late resolve can merge two episodes: an acknowledgement of the first
                # then covers the second, so only "at most once" (always checked) holds for level 1 there.
                if not self._acknowledged(group, incident["id"]) and group not in self.model.reordered:
                    assert second == 1, f"{group}: nobody acknowledged, level 1 paged {second} times"
        self._check_flap_control()

    def _check_flap_control(self) -> None:
        """`flappy` (hold 2m, reopen_within 30m, flap 4 in 5m): every episode whose messages were all handled within
        30 minutes of the group's first reuses the one incident, so the group opens at most one; otherwise no more
        than it had episodes (checked above when delivered in order)."""
        handled = self.model.flappy_handled
        if not handled:
            return
        span = max(handled) - min(handled)
        incidents = len(self._incidents("flappy"))
        event(f"flappy: {self.model.episodes.get('flappy', 0)} episode(s), {incidents} incident(s)")
        if span <= REOPEN_WITHIN and "flappy" not in self.model.reordered and not self.model.update_refused:
            assert incidents <= 1, f"flappy: {incidents} incidents within reopen_within ({span} between messages)"

        # The storm's members are the storm groups with no episode of their own: it is open exactly while one fires.
        members_firing = [
            group
            for group in STORM_GROUPS
            if self._open_incident(group) is None
            and any(t.firing for (g, _), t in self.model.keys.items() if g == group)
        ]
        storm_open = any(self._is_open(i) for i in self._storm_incidents())
        assert storm_open == bool(members_firing), (
            f"storm incident {'open' if storm_open else 'closed'}; firing without an incident of their own: "
            f"{members_firing}"
        )
        if storm_open:
            event("storm incident open at the end")
        if self._storm_incidents():
            event("storm incident opened")
        if any(name == "StormWaitsJoined" for name, _ in self.w.telemetry.counts):
            event("a storm group's wait ended in the storm")

    def _acknowledged(self, group: str, incident_id: str) -> bool:
        """A person acknowledged this incident's page: in incident.io, or by an acknowledgement it accepted (or
        one that came while nothing was paged yet, which ends the pending levels as the sender asked)."""
        if incident_id in self.model.human_acked:
            return True
        return (group, self.model.episodes.get(group, 0)) in self.model.acknowledged


class ModelTruth:
    """The senders' current truth as a reconcile pass reads it (CloudWatch-like: firing since, or over since), for
    every group but one an open maintenance window covers."""

    name = "senders"

    def __init__(self, machine: EndStateMachine) -> None:
        self._machine = machine

    def covers(self, state: GroupState) -> bool:
        return not (state.group_key == "ops" and self._machine.model.window is not None)

    def observe(self, states: list[GroupState]) -> dict[str, Observation]:
        seen: dict[str, Observation] = {}
        for state in states:
            for key in [*state.firing, *state.resolved_through]:
                group, _, name = key.rpartition("-")
                truth = self._machine.model.keys.get((group, name))
                if truth is None:
                    continue
                if truth.firing and truth.started is not None:
                    seen[key] = Observation(key, True, truth.started, f"the sender says firing since {truth.started}")
                elif not truth.firing and truth.ended is not None:
                    seen[key] = Observation(key, False, truth.ended, f"the sender says over at {truth.ended}")
        return seen
