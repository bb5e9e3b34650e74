"""Inhibition (Alertmanager's `inhibit_rules`), as pure decisions over what alert-courier last heard.

An inhibit rule names `source` matchers, `target` matchers and `equal` labels. A *firing* alert matching `target`
is inhibited — recorded, not acted on — while another alert matching `source` is firing with the same values of
every `equal` label (a label both lack is equal, as in Alertmanager). An alert never inhibits itself (one that
matches both sides is excluded from its own sources).

What is firing is kept per *entry*: the inhibit rule plus the source's `equal` values (`entry_of`); dispatch adds
a source alert to its entry when it fires and removes it when it resolves (`source_changes`), and reads the
target's entries before acting on it (`inhibited_by`). Resolves of targets are never inhibited: they still close
an incident opened before the source fired. A target held while its source fired is acted on once, by the
scheduler, when no other source of its entry fires any more (`released`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass

from alert_courier.domain.alert import Alert, AlertStatus
from alert_courier.domain.rules import InhibitRule, RuleSet


@dataclass(frozen=True)
class InhibitEntry:
    """One inhibit rule at one set of `equal` values: the unit whose firing sources are tracked."""

    rule: str
    values: tuple[tuple[str, str], ...]  # (label, value) in the rule's `equal` order; "" for a missing label

    @property
    def key(self) -> str:
        digest = hashlib.sha256(json.dumps(self.values).encode()).hexdigest()[:20]
        return f"{self.rule}#{digest}"

    def describe(self) -> str:
        shown = ", ".join(f"{label}={value!r}" for label, value in self.values)
        return f"inhibit rule {self.rule!r}" + (f" ({shown})" if shown else "")


@dataclass(frozen=True)
class SourceChange:
    """A source alert's transition, with the sender's times that order it (ISO 8601 strings compare in time order).

    A firing adds the source unless a resolve already went past its start (`started`); a resolve removes it unless
    the live firing started after what it ends (`ends`: the firing it names, else its own end), and remembers how
    far it resolved (`through`) so that a late copy of the firing it ended does not inhibit again."""

    entry: InhibitEntry
    alert_key: str
    firing: bool  # True: the source fires (add it); False: it resolved (remove it)
    started: str  # firing: when it started; resolve: "" (unused)
    ends: str = ""  # resolve: the firing it ends (its start), else its end
    through: str = ""  # resolve: max(start, end)


@dataclass(frozen=True)
class SourceRecord:
    """What the index keeps per source alert: the live firing's start, and how far resolves have gone."""

    firing_started: str | None = None
    resolved_through: str | None = None


def apply_source_change(record: SourceRecord, change: SourceChange) -> SourceRecord:
    """The record after a source transition (the DynamoDB store's conditional writes say the same)."""
    if change.firing:
        stale = (record.resolved_through is not None and record.resolved_through >= change.started) or (
            record.firing_started is not None and record.firing_started > change.started
        )
        return record if stale else SourceRecord(change.started, record.resolved_through)
    if record.firing_started is not None and record.firing_started > change.ends:
        return record  # it ends an older firing than the live one
    if record.resolved_through is not None and record.resolved_through > change.through:
        return SourceRecord(None, record.resolved_through)
    return SourceRecord(None, change.through)


@dataclass(frozen=True)
class Inhibited:
    entry: InhibitEntry
    sources: tuple[str, ...]  # the other firing source alerts (source:dedup_key), sorted

    def reasons(self) -> list[str]:
        named = ", ".join(self.sources[:5]) + (f" and {len(self.sources) - 5} more" if len(self.sources) > 5 else "")
        return [
            f"inhibited by {self.entry.describe()}: source alert(s) {named} firing",
            "recorded, nothing called; acted on once (by the scheduler) when no source of the rule fires any more",
        ]


def alert_key(alert: Alert) -> str:
    return f"{alert.source}:{alert.dedup_key}"


def entry_of(rule: InhibitRule, alert: Alert) -> InhibitEntry:
    return InhibitEntry(rule.name, tuple((label, alert.labels.get(label, "")) for label in rule.equal))


def _firing(alert: Alert) -> Alert:
    return alert if alert.status is AlertStatus.FIRING else alert.model_copy(update={"status": AlertStatus.FIRING})


def as_source(alert: Alert, rules: RuleSet) -> list[InhibitEntry]:
    """The entries this alert is a source of (its status aside: a resolve removes it from the same entries)."""
    return [entry_of(rule, alert) for rule in rules.inhibit_rules if rule.source.check(_firing(alert))[0]]


def as_target(alert: Alert, rules: RuleSet) -> list[InhibitEntry]:
    return [entry_of(rule, alert) for rule in rules.inhibit_rules if rule.target.check(_firing(alert))[0]]


def source_changes(alert: Alert, rules: RuleSet) -> list[SourceChange]:
    """How this alert changes the firing sources: added when it fires, removed when it resolves."""
    if alert.status is AlertStatus.ACKNOWLEDGED:
        return []
    received = alert.received_at.isoformat()
    started = alert.started_at.isoformat() if alert.started_at else ""
    if alert.status is AlertStatus.FIRING:
        return [SourceChange(entry, alert_key(alert), True, started or received) for entry in as_source(alert, rules)]
    return resolved_in(alert, as_source(alert, rules))


def resolved_in(alert: Alert, entries: Collection[InhibitEntry]) -> list[SourceChange]:
    """A resolve's changes in `entries`: those its labels match (`source_changes`), or those its source alert was
    recorded firing in, for a resolve whose labels cannot say (the reconcile pass's carry none of the alert's)."""
    if alert.status is not AlertStatus.RESOLVED:
        return []
    started = alert.started_at.isoformat() if alert.started_at else ""
    ended = alert.ended_at.isoformat() if alert.ended_at else alert.received_at.isoformat()
    return [
        SourceChange(entry, alert_key(alert), False, "", started or ended, max(started, ended)) for entry in entries
    ]


def inhibited_by(
    alert: Alert, rules: RuleSet, firing_sources: Callable[[InhibitEntry], Collection[str]]
) -> Inhibited | None:
    """Whether a firing alert is inhibited, given each target entry's firing sources (first inhibiting rule wins)."""
    if alert.status is not AlertStatus.FIRING:
        return None
    own = alert_key(alert)
    for entry in as_target(alert, rules):
        others = tuple(sorted(set(firing_sources(entry)) - {own}))
        if others:
            return Inhibited(entry, others)
    return None


def released(firing_sources: Collection[str], held_alert_key: str) -> bool:
    """A held target is handed on once no source of its entry other than itself fires."""
    return not (set(firing_sources) - {held_alert_key})
