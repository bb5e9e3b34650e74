"""The rules file: which alerts do what. Declarative YAML, validated by pydantic, errors point at the line.

Rules are evaluated top to bottom; the first match wins unless it says `continue: true` (like Alertmanager
routes). An alert no rule matches gets `default_actions`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from alert_courier.domain.alert import Alert, Severity
from alert_courier.domain.time_conditions import TimeCondition, time_of

BUNDLED_RULES = Path(__file__).parents[1] / "default_rules.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """One value test. A bare string in the file means `equals`."""

    equals: str | None = None
    regex: str | None = None
    any_of: list[str] | None = None
    not_: Condition | None = Field(default=None, alias="not")
    present: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_value(cls, value: Any) -> Any:
        if isinstance(value, str | int | float | bool) and not isinstance(value, dict):
            return {"equals": str(value)}
        if isinstance(value, list):
            return {"any_of": [str(item) for item in value]}
        return value

    @field_validator("regex")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"invalid regular expression: {error}") from None
        return pattern

    def test(self, value: str | None) -> bool:
        if self.present is not None and (value is not None) != self.present:
            return False
        if self.equals is not None and value != self.equals:
            return False
        if self.regex is not None and (value is None or not re.fullmatch(self.regex, value)):
            return False
        if self.any_of is not None and value not in self.any_of:
            return False
        return not (self.not_ is not None and self.not_.test(value))

    def explain(self) -> str:
        parts = []
        if self.equals is not None:
            parts.append(f"= {self.equals!r}")
        if self.regex is not None:
            parts.append(f"~ /{self.regex}/")
        if self.any_of is not None:
            parts.append(f"in {self.any_of}")
        if self.present is not None:
            parts.append("present" if self.present else "absent")
        if self.not_ is not None:
            parts.append(f"not ({self.not_.explain()})")
        return " and ".join(parts) or "anything"


class Match(_Strict):
    source: Condition | None = None
    severity: Condition | None = None
    status: Condition | None = None
    title: Condition | None = None
    labels: dict[str, Condition] = Field(default_factory=dict)
    annotations: dict[str, Condition] = Field(default_factory=dict)
    time: TimeCondition | None = Field(default=None, description="weekdays and hours, at the alert's own time")

    def check(self, alert: Alert) -> tuple[bool, list[str]]:
        """Whether the alert matches, and why (or why not): one line per condition."""
        checks: list[tuple[str, Condition, str | None]] = []
        if self.source:
            checks.append(("source", self.source, alert.source))
        if self.severity:
            checks.append(("severity", self.severity, alert.severity.value))
        if self.status:
            checks.append(("status", self.status, alert.status.value))
        if self.title:
            checks.append(("title", self.title, alert.title))
        checks += [(f"labels.{k}", c, alert.labels.get(k)) for k, c in self.labels.items()]
        checks += [(f"annotations.{k}", c, alert.annotations.get(k)) for k, c in self.annotations.items()]
        reasons = []
        for name, condition, value in checks:
            ok = condition.test(value)
            reasons.append(f"{name} {value!r} {'matches' if ok else 'does not match'} {condition.explain()}")
            if not ok:
                return False, reasons
        if self.time is not None:
            local = self.time.local(time_of(alert.started_at, alert.received_at))
            ok = self.time.contains(local)
            when = local.strftime("%a %Y-%m-%d %H:%M %Z")
            reasons.append(f"time {when} {'is within' if ok else 'is outside'} {self.time.explain()}")
            if not ok:
                return False, reasons
        return True, reasons or ["no conditions: matches everything"]


class OpenIncidentSpec(_Strict):
    per: Literal["group", "alert"] = "group"
    name: str = "{{ alert.title }}"
    summary: str = "{{ alert.description or alert.title }}"
    severity: str | None = Field(default=None, description="incident.io severity name; default from the map")
    incident_type: str | None = None
    mode: Literal["standard", "retrospective", "test", "tutorial"] = "standard"
    visibility: Literal["public", "private"] = "public"
    on_resolve: Literal["resolve", "update", "none"] = "resolve"
    resolve_status: str | None = Field(default=None, description="status name; default: the first 'closed' one")


class AlertEventSpec(_Strict):
    alert_source_config_id: str
    title: str = "{{ alert.title }}"
    description: str = "{{ alert.description }}"


class EscalateSpec(_Strict):
    escalation_path_id: str | None = None
    user_ids: list[str] | None = None
    title: str = "{{ alert.title }}"
    description: str = "{{ alert.description }}"
    after_minutes: int = Field(default=0, ge=0, description="0: page now; >0: page if still unacknowledged")

    @model_validator(mode="after")
    def _exactly_one_target(self) -> EscalateSpec:
        if (self.escalation_path_id is None) == (self.user_ids is None):
            raise ValueError("give exactly one of escalation_path_id or user_ids")
        return self


class ActionSpec(_Strict):
    open_incident: OpenIncidentSpec | None = None
    alert_event: AlertEventSpec | None = None
    escalate: EscalateSpec | None = None
    acknowledge: bool | None = None
    suppress: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        valid = list(cls.model_fields)
        named = [value] if isinstance(value, str) else list(value) if isinstance(value, dict) else []
        unknown = [name for name in named if name not in valid]
        if unknown:
            raise ValueError(f"unknown action {unknown[0]!r}; the actions are {', '.join(valid)}")
        if isinstance(value, str):  # `- suppress` or `- open_incident` with defaults
            return {value: True if value in ("suppress", "acknowledge") else {}}
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ActionSpec:
        given = [name for name in type(self).model_fields if getattr(self, name) not in (None, False)]
        if len(given) != 1:
            raise ValueError(f"each action names exactly one of {list(type(self).model_fields)}; got {given}")
        return self

    @property
    def kind(self) -> str:
        return next(name for name in type(self).model_fields if getattr(self, name) not in (None, False))


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def _duration(value: Any) -> Any:
    """`90s`, `5m`, `1h30m`, `2d`, or a number of seconds (Prometheus-style, no ISO 8601 needed)."""
    if isinstance(value, bool):
        raise ValueError("give a duration such as 5m, 1h30m or 90s")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip().lower()
        found = _DURATION.fullmatch(text)
        if not text or found is None:
            raise ValueError(f"{value!r} is not a duration such as 5m, 1h30m or 90s")
        days, hours, minutes, seconds = (int(part or 0) for part in found.groups())
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class FlapSpec(_Strict):
    """`flap: {changes: 6, within: 10m}`: at least `changes` quiet/firing changes within `within` is flapping."""

    changes: int = Field(ge=2, description="state changes (firing or resolved) that make the group flapping")
    within: Duration


class StormSpec(_Strict):
    """`storm: {groups: 20, within: 5m}`: more than `groups` new groups matching the rule within `within` open one
    storm incident for the others, not one each (decisions in `domain.storm`)."""

    groups: int = Field(ge=0, le=10_000, description="new groups opened one incident each before a storm")
    within: Duration
    wait: Duration | None = Field(
        default=None,
        description="the first `groups` new groups wait this long before opening their own incidents; one still"
        " firing when a storm of the rule is on joins the storm instead (none: they open at once)",
    )

    @field_validator("within")
    @classmethod
    def _window(cls, within: timedelta) -> timedelta:
        if not timedelta(seconds=10) <= within <= timedelta(days=1):
            raise ValueError("within must be between 10s and 1d")
        return within

    @model_validator(mode="after")
    def _wait_within_window(self) -> StormSpec:
        if self.wait is not None and not timedelta(0) < self.wait <= self.within:
            raise ValueError("storm.wait must be a positive duration no longer than storm.within")
        return self


class Rule(_Strict):
    name: str
    match: Match = Field(default_factory=Match)
    actions: Annotated[list[ActionSpec], Field(min_length=1)]
    set_severity: Severity | None = None
    continue_: bool = Field(default=False, alias="continue")
    storm: StormSpec | None = Field(default=None, description="collapse many new groups into one incident")
    stale_after: Duration | None = Field(
        default=None, description="no firing re-sent for this long: the alert counts as over (reconciliation)"
    )
    on_stale: Literal["resolve", "update"] = Field(
        default="resolve",
        description="resolve (per the incident's on_resolve) | update: post 'no news since', leave it",
    )
    after_human_close: Literal["new_incident", "stay_closed"] = Field(
        default="new_incident",
        description="a person closed the incident: a later firing opens a new one, or nothing until the group is quiet",
    )
    # Flap control (domain.flap_control): open only if still firing after `hold`; fire again within
    # `reopen_within` of the resolve reopens the same incident; `flap` holds a flapping group's incident open.
    hold: Duration | None = None
    reopen_within: Duration | None = None
    flap: FlapSpec | None = None

    @model_validator(mode="after")
    def _flap_controls_fit(self) -> Rule:
        from alert_courier.domain.flap_control import control_problems

        problems = control_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _storm_collapses_group_incidents(self) -> Rule:
        if self.storm is None:
            return self
        incidents = [action.open_incident for action in self.actions if action.open_incident is not None]
        if not incidents or any(spec.per != "group" for spec in incidents):
            raise ValueError("storm collapses the group incidents this rule opens: give open_incident (per: group)")
        return self


INHIBIT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class InhibitRule(_Strict):
    """Alertmanager's `inhibit_rules`: a firing alert matching `target` is not acted on while another alert matching
    `source` fires with the same values of the `equal` labels (a label both lack counts as equal). The decisions
    are in `domain.inhibition`; dispatch enforces them (`use_cases.inhibition`)."""

    name: str = Field(pattern=INHIBIT_NAME_PATTERN)
    source: Match
    target: Match
    equal: list[Annotated[str, StringConstraints(min_length=1)]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _source_is_firing(self) -> InhibitRule:
        if self.source.status is not None or self.target.status is not None:
            raise ValueError("status belongs to no inhibit matcher: a firing source inhibits firing targets")
        if self.source.time is not None:
            raise ValueError("a source has no time condition: it inhibits while firing (give it to the target)")
        return self


class SeverityConfig(_Strict):
    words: dict[str, Severity] = Field(default_factory=dict, description="extra sender words → severity")
    incident_io: dict[Severity, str] = Field(
        default_factory=lambda: {
            Severity.CRITICAL: "Critical",
            Severity.ERROR: "Major",
            Severity.WARNING: "Minor",
            Severity.INFO: "Minor",
        }
    )


# ---- heartbeats (dead man's switches) ------------------------------------------------------------

HEARTBEAT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_WEEKDAYS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}


def parse_duration(text: str) -> timedelta:
    """`90s`, `5m`, `1h30m`, `2d` (the rules' durations); ValueError otherwise."""
    value = _duration(text)
    if not isinstance(value, timedelta):
        raise ValueError(f"{text!r} is not a duration")
    return value


def _numbers(field: str, text: str, low: int, high: int, names: dict[str, int] | None = None) -> tuple[int, ...]:
    """One cron field of plain values, lists and ranges (`3`, `0,30`, `1-5`, `MON-FRI`); no steps."""
    values: set[int] = set()
    usage = f"cron {field} {text!r}: use numbers{', names (MON)' if names else ''}, lists (a,b) and ranges (a-b)"
    for part in text.split(","):
        bounds = part.split("-")
        if len(bounds) > 2 or not all(bounds):
            raise ValueError(usage)
        try:
            first, last = (
                int(bound) if bound.isdigit() else (names or {})[bound.upper()] for bound in (bounds[0], bounds[-1])
            )
        except KeyError:
            raise ValueError(usage) from None
        if not (low <= first <= last <= high):
            raise ValueError(f"cron {field} {text!r}: values must be within {low}-{high}, ranges ascending")
        values.update(range(first, last + 1))
    return tuple(sorted(values))


class DailyDeadlines(_Strict):
    """When a window heartbeat must have pinged by: times of day (UTC) on some weekdays (0 = Sunday)."""

    times: tuple[tuple[int, int], ...]  # (hour, minute), ascending
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)

    @classmethod
    def daily(cls, text: str) -> DailyDeadlines:
        found = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
        if found is None:
            raise ValueError(f"deadline {text!r}: give HH:MM (UTC), e.g. 03:00")
        return cls(times=((int(found.group(1)), int(found.group(2))),))

    @classmethod
    def cron(cls, text: str) -> DailyDeadlines:
        fields = text.split()
        if len(fields) != 5:
            raise ValueError(f"cron {text!r}: give five fields, minute hour * * day-of-week (UTC)")
        minute, hour, day_of_month, month, weekday = fields
        if day_of_month != "*" or month != "*":
            raise ValueError(f"cron {text!r}: only daily or weekday deadlines: day of month and month must be *")
        minutes = _numbers("minute", minute, 0, 59)
        hours = _numbers("hour", hour, 0, 23)
        days = (
            tuple(range(7))
            if weekday in ("*", "?")
            else tuple(sorted({day % 7 for day in _numbers("day of week", weekday, 0, 7, _WEEKDAYS)}))
        )
        return cls(times=tuple((h, m) for h in hours for m in minutes), weekdays=days)


class HeartbeatMissedSpec(_Strict):
    """What a missed heartbeat opens (and closes again when pings resume): an incident, an alert event, or both."""

    open_incident: OpenIncidentSpec | None = None
    alert_event: AlertEventSpec | None = None

    @model_validator(mode="after")
    def _something(self) -> HeartbeatMissedSpec:
        if self.open_incident is None and self.alert_event is None:
            raise ValueError("give open_incident, alert_event or both")
        return self


class HeartbeatSpec(_Strict):
    """A named dead man's switch, fed by `POST /heartbeats/<name>` pings and by alerts matching `match`.

    `interval`: missed when `last ping + interval + grace` has passed. `window`: missed when no ping arrived
    between the window's start (`window` before the deadline, default: the previous deadline) and the deadline
    plus `grace`; `deadline` is a daily HH:MM (UTC), `cron` a "minute hour * * day-of-week" one (UTC).
    `per_label` heartbeats learn their instances from pings; `instances` names those expected even if they never
    ping (each is watched from the first scheduled check on, so one that never worked is missed too).
    """

    name: str = Field(pattern=HEARTBEAT_NAME_PATTERN)
    kind: Literal["interval", "window"]
    interval: Duration | None = None
    grace: Duration = timedelta(0)
    deadline: str | None = None
    cron: str | None = None
    window: Duration | None = None
    per_label: str | None = Field(default=None, min_length=1, description="track each value of this label apart")
    instances: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]] = Field(
        default_factory=list, description="per_label values expected to ping, watched even before their first ping"
    )
    match: Match | None = Field(default=None, description="alerts that count as pings (firing ones, by default)")
    severity: Severity = Severity.CRITICAL
    on_missed: HeartbeatMissedSpec = Field(
        default_factory=lambda: HeartbeatMissedSpec(open_incident=OpenIncidentSpec())
    )
    forward_to: str | None = Field(
        default=None, min_length=1, description="incident.io heartbeat alert source config id to relay pings to"
    )

    @model_validator(mode="before")
    @classmethod
    def _infer_kind(cls, value: Any) -> Any:
        if isinstance(value, dict) and "kind" not in value:
            window = any(key in value for key in ("deadline", "cron", "window"))
            return {**value, "kind": "window" if window else "interval"}
        return value

    @model_validator(mode="after")
    def _fits_kind(self) -> HeartbeatSpec:
        if self.kind == "interval":
            if self.interval is None or self.interval <= timedelta(0):
                raise ValueError("an interval heartbeat needs a positive interval, e.g. interval: 5m")
            if self.deadline or self.cron or self.window:
                raise ValueError("deadline, cron and window belong to window heartbeats (kind: window)")
        else:
            if (self.deadline is None) == (self.cron is None):
                raise ValueError("a window heartbeat needs exactly one of deadline (HH:MM UTC) or cron")
            if self.interval is not None:
                raise ValueError("interval belongs to interval heartbeats; a window heartbeat has a deadline")
            if self.window is not None and self.window <= timedelta(0):
                raise ValueError("window must be a positive duration")
            self.deadlines()  # raises ValueError with the reason
        if self.grace < timedelta(0):
            raise ValueError("grace cannot be negative")
        if self.instances and self.per_label is None:
            raise ValueError("instances are values of per_label: give per_label too (e.g. per_label: cluster)")
        repeated = sorted({instance for instance in self.instances if self.instances.count(instance) > 1})
        if repeated:
            raise ValueError(f"instances must be unique; repeated: {repeated}")
        return self

    def deadlines(self) -> DailyDeadlines:
        if self.deadline is not None:
            return DailyDeadlines.daily(self.deadline)
        if self.cron is not None:
            return DailyDeadlines.cron(self.cron)
        raise ValueError(f"heartbeat {self.name!r} is an interval heartbeat: it has no deadlines")

    def counts(self, alert: Alert) -> bool:
        """Whether this alert is a ping of this heartbeat (only firing alerts, unless `match` says otherwise)."""
        if self.match is None:
            return False
        if self.match.status is None and alert.status.value != "firing":
            return False
        return self.match.check(alert)[0]

    def instance_of(self, labels: dict[str, str], given: str | None = None) -> str:
        """Which instance a ping belongs to: the `per_label` value (or the one given), '' when not per instance."""
        if self.per_label is None:
            return ""
        return given if given is not None else labels.get(self.per_label, "")


class AlertmanagerApiSpec(_Strict):
    """An Alertmanager API v2 (Alertmanager itself, or Grafana's `/api/alertmanager/grafana`) to reconcile with."""

    url: str = Field(min_length=1, description="base URL; `/api/v2/alerts` is appended")
    every: Duration = Field(default=timedelta(minutes=2), description="how often its alerts are read")
    credential_secret: str | None = Field(default=None, description="Secrets Manager secret: a bearer token")
    receiver: str | None = Field(default=None, description="only alerts routed to this receiver (a regex)")
    filter: list[str] = Field(default_factory=list, description='matchers such as team="db"')


class ReconcileSpec(_Strict):
    """What the scheduled reconcile pass compares the groups we hold open with (README "Reconciliation")."""

    cloudwatch: bool = Field(default=True, description="DescribeAlarms for CloudWatch alarms we hold firing")
    human_close: bool = Field(default=True, description="read the incidents we hold open: closed by a person?")
    alertmanager: AlertmanagerApiSpec | None = None
    grafana: AlertmanagerApiSpec | None = None


class RuleSet(_Strict):
    version: Literal[1] = 1
    reconcile: ReconcileSpec = Field(default_factory=lambda: ReconcileSpec())
    severity: SeverityConfig = Field(default_factory=SeverityConfig)
    rules: list[Rule] = Field(default_factory=list)
    default_actions: list[ActionSpec] = Field(default_factory=lambda: [ActionSpec(open_incident=OpenIncidentSpec())])
    heartbeats: list[HeartbeatSpec] = Field(default_factory=list)
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)

    @field_validator("inhibit_rules")
    @classmethod
    def _unique_inhibit_names(cls, inhibit_rules: list[InhibitRule]) -> list[InhibitRule]:
        names = [rule.name for rule in inhibit_rules]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"inhibit rule names must be unique; repeated: {repeated}")
        return inhibit_rules

    @field_validator("heartbeats")
    @classmethod
    def _unique_heartbeat_names(cls, heartbeats: list[HeartbeatSpec]) -> list[HeartbeatSpec]:
        names = [heartbeat.name for heartbeat in heartbeats]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"heartbeat names must be unique; repeated: {repeated}")
        return heartbeats

    def heartbeat(self, name: str) -> HeartbeatSpec | None:
        return next((heartbeat for heartbeat in self.heartbeats if heartbeat.name == name), None)

    @cached_property
    def rule_names(self) -> list[str]:
        return [rule.name for rule in self.rules]


class MatchedRule(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: str
    why: list[str]
    actions: list[ActionSpec]


class Plan(BaseModel):
    """What the rules say for one alert: the matched rules (in order), their actions and the explanation."""

    model_config = ConfigDict(frozen=True)

    alert: Alert
    matched: list[MatchedRule]
    explanation: list[str]

    @property
    def actions(self) -> list[ActionSpec]:
        return [action for matched in self.matched for action in matched.actions]

    @property
    def incident_spec(self) -> OpenIncidentSpec | None:
        for action in self.actions:
            if action.open_incident is not None:
                return action.open_incident
        return None

    @property
    def state_key(self) -> str:
        """Whose state this alert changes: its group's, or its own when the rule opens one incident per alert."""
        spec = self.incident_spec
        return self.alert.dedup_key if spec is not None and spec.per == "alert" else self.alert.group_key


def plan_for(alert: Alert, rules: RuleSet) -> Plan:
    explanation: list[str] = []
    matched: list[MatchedRule] = []
    effective = alert
    word = str(alert.raw.get("severity_word") or "").strip().lower()
    if word and word in rules.severity.words:
        effective = alert.model_copy(update={"severity": rules.severity.words[word]})
        explanation.append(f"severity word {word!r} maps to {effective.severity.value} (rules: severity.words)")
    for rule in rules.rules:
        ok, why = rule.match.check(effective)
        explanation.append(f"rule {rule.name!r}: {'matched' if ok else 'skipped'} ({'; '.join(why)})")
        if not ok:
            continue
        if rule.set_severity is not None:
            effective = effective.model_copy(update={"severity": rule.set_severity})
        matched.append(MatchedRule(rule=rule.name, why=why, actions=rule.actions))
        if not rule.continue_:
            break
    if not matched:
        explanation.append("no rule matched: default actions")
        matched.append(MatchedRule(rule="(default)", why=["no rule matched"], actions=rules.default_actions))
    return Plan(alert=effective, matched=matched, explanation=explanation)


def plan_with_rules(alert: Alert, rules: RuleSet, names: list[str]) -> Plan | None:
    """The plan of the rules that matched when the episode started (None if the rules changed since).

    Follow-ups (resolve, acknowledge) often carry less than the firing did — a PagerDuty-style resolve has no
    payload — so the rule that opened an episode also decides how it ends.
    """
    by_name = {rule.name: rule for rule in rules.rules}
    if not names or any(name not in by_name and name != "(default)" for name in names):
        return None
    matched = [
        MatchedRule(
            rule=name,
            why=["matched when this episode started"],
            actions=by_name[name].actions if name in by_name else rules.default_actions,
        )
        for name in names
    ]
    return Plan(
        alert=alert, matched=matched, explanation=[f"follow-up of an episode started under rule(s) {', '.join(names)}"]
    )


class RulesError(Exception):
    """A rules file that cannot be used; the message names each problem with its line."""


def parse_rules(text: str, origin: str = "rules") -> RuleSet:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}" if mark else origin
        raise RulesError(f"{where}: not valid YAML: {getattr(error, 'problem', error)}") from None
    try:
        return RuleSet.model_validate(document or {})
    except ValidationError as error:
        problems = []
        for item in error.errors():
            line = _line_of(node, item["loc"])
            path = ".".join(str(part) for part in item["loc"]) or "(top level)"
            problems.append(f"{origin}:{line}: {path}: {item['msg']}")
        raise RulesError("\n".join(problems)) from None


def load_rules(path: str | Path | None = None) -> RuleSet:
    source = Path(path) if path else BUNDLED_RULES
    return parse_rules(source.read_text(), str(source))


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the deepest YAML node on the error's path that exists."""
    line = (node.start_mark.line + 1) if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            child = next((value for key, value in node.value if key.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        else:
            child = None
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line
