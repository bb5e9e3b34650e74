"""Maintenance windows: the pure decisions (domain.maintenance) and the gate + window ends on in-memory ports
(tests/fakes.py): held alerts are recorded and not acted on; the end acts once (reevaluate) or forgets (drop)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.errors import ActionFailed
from alert_courier.domain.maintenance import (
    MaintenanceWindow,
    WindowRequest,
    WindowTimesInvalid,
    at_end,
    latest_per_alert,
    window_holding,
)
from alert_courier.domain.rules import parse_rules
from alert_courier.use_cases.maintenance import CachedWindows, MaintenanceGate, WindowEnds
from alert_courier.use_cases.run_report import RunReport
from tests.conftest import EVENTS
from tests.fakes import DrivenClock, World

RULES = parse_rules("rules: [{name: all, actions: [open_incident]}]")
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def alert(
    key: str, status: str = "firing", *, team: str = "ops", minutes: float = 0, group: str | None = None
) -> Alert:
    return Alert(
        source="alertmanager",
        dedup_key=key,
        group_key=group or f"group-{team}",
        status=AlertStatus(status),
        severity=Severity.CRITICAL,
        title=f"alert {key}",
        labels={"team": team},
        started_at=NOW - timedelta(hours=1) + timedelta(minutes=minutes),
        ended_at=NOW if status == "resolved" else None,
    )


def envelope(key: str, status: str = "firing", **kwargs: Any) -> AlertEnvelope:
    return AlertEnvelope(alert=alert(key, status, **kwargs), correlation_id=f"c-{key}-{status}")


def window(
    *, minutes: float = 30, on_end: str = "reevaluate", resolves: str = "close", starts: datetime = NOW, **extra: Any
) -> MaintenanceWindow:
    request = WindowRequest.model_validate(
        {
            "match": {"labels": {"team": "ops"}},
            "starts_at": starts.isoformat(),
            "duration": f"{int(minutes)}m",
            "reason": "deploy 42",
            "created_by": "ci",
            "on_end": on_end,
            "resolves": resolves,
            **extra,
        }
    )
    return request.window("mw-00000000000000a1", starts)


# ---- the requests ------------------------------------------------------------------------------------------


def test_a_request_needs_exactly_one_end_and_zoned_times() -> None:
    base = {"match": {}, "reason": "r", "created_by": "me"}
    with pytest.raises(ValidationError, match="exactly one of ends_at or duration"):
        WindowRequest.model_validate(base)
    with pytest.raises(ValidationError, match="exactly one of ends_at or duration"):
        WindowRequest.model_validate({**base, "duration": "1h", "ends_at": "2026-12-02T11:00:00Z"})
    with pytest.raises(ValidationError, match="give a time zone"):
        WindowRequest.model_validate({**base, "ends_at": "2026-12-02T11:00:00"})
    with pytest.raises(ValidationError, match="not a duration"):
        WindowRequest.model_validate({**base, "duration": "soon"})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        WindowRequest.model_validate({**base, "duration": "1h", "match": {"lables": {}}})
    with pytest.raises(ValidationError, match="duration must be positive"):
        WindowRequest.model_validate({**base, "duration": "0s"})
    with pytest.raises(ValidationError, match="reason"):
        WindowRequest.model_validate({**base, "duration": "1h", "reason": "  "})


def test_times_that_make_no_window_name_the_field() -> None:
    base = {"match": {}, "reason": "r", "created_by": "me"}
    cases = [
        ({"ends_at": (NOW - timedelta(minutes=1)).isoformat()}, "ends_at", "already be over"),
        (
            {"starts_at": (NOW + timedelta(hours=2)).isoformat(), "ends_at": (NOW + timedelta(hours=1)).isoformat()},
            "ends_at",
            "after starts_at",
        ),
        ({"duration": "31d"}, "duration", "at most 30 days"),
        ({"starts_at": (NOW + timedelta(days=100)).isoformat(), "duration": "1h"}, "starts_at", "90 days ahead"),
    ]
    for fields, field, message in cases:
        with pytest.raises(WindowTimesInvalid, match=message) as refused:
            WindowRequest.model_validate({**base, **fields}).window("mw-0000000000000001", NOW)
        assert refused.value.field == field


def test_starts_at_defaults_to_now_and_duration_sets_the_end() -> None:
    opened = WindowRequest.model_validate({"match": {}, "duration": "1h30m", "reason": "r", "created_by": "me"})
    made = opened.window("mw-0000000000000001", NOW)
    assert (made.starts_at, made.ends_at) == (NOW, NOW + timedelta(minutes=90))
    assert made.status(NOW) == "open" and made.status(made.ends_at) == "ended"


# ---- what a window holds -------------------------------------------------------------------------------------


def test_a_window_holds_the_firings_it_matches_while_it_is_open() -> None:
    held = window()
    assert window_holding(alert("a"), [held], NOW) == held
    assert window_holding(alert("a", team="payments"), [held], NOW) is None  # does not match
    assert window_holding(alert("a"), [held], NOW - timedelta(seconds=1)) is None  # not started
    assert window_holding(alert("a"), [held], held.ends_at) is None  # over (the end is exclusive)
    acknowledged = alert("a").model_copy(update={"status": AlertStatus.ACKNOWLEDGED})
    assert window_holding(acknowledged, [held], NOW) is None  # people's acknowledgements always go through


def test_resolves_go_through_unless_the_window_holds_them() -> None:
    assert window_holding(alert("a", "resolved"), [window()], NOW) is None
    holding = window(resolves="hold")
    assert window_holding(alert("a", "resolved"), [holding], NOW) == holding


def test_of_several_windows_the_one_ending_first_holds() -> None:
    long_one = window(minutes=120).model_copy(update={"id": "mw-00000000000000b2"})
    short_one = window(minutes=10)
    assert window_holding(alert("a"), [long_one, short_one], NOW) == short_one


def test_the_severity_words_apply_as_in_the_rules() -> None:
    rules = parse_rules("severity: {words: {p1: critical}}\nrules: []")
    critical_only = window(match={"severity": "critical"})
    worded = alert("a").model_copy(update={"severity": Severity.WARNING, "raw": {"severity_word": "P1"}})
    assert window_holding(worded, [critical_only], NOW, rules) == critical_only
    assert window_holding(worded, [critical_only], NOW) is None


def test_the_latest_transition_of_each_alert_counts_at_the_end() -> None:
    firing, resolved = envelope("a"), envelope("a", "resolved")
    later_firing = envelope("a", minutes=30)
    assert latest_per_alert([resolved, firing]) == [resolved]
    assert latest_per_alert([firing, later_firing, resolved]) == [later_firing]
    other = envelope("b")
    assert at_end(window(on_end="drop"), [firing, other]) == []
    assert at_end(window(on_end="drop"), [firing, resolved]) == [resolved]  # a resolve can only close
    assert set(map(id, at_end(window(), [firing, other]))) == {id(firing), id(other)}
    # drop: the latest held resolve still closes what was open before, though a firing held after it is forgotten
    assert at_end(window(on_end="drop"), [resolved, later_firing]) == [resolved]
    assert at_end(window(), [resolved, later_firing]) == [later_firing]


# ---- dispatch and the scheduler ------------------------------------------------------------------------------


def world_with(opened: MaintenanceWindow) -> World:
    world = World(RULES, clock=DrivenClock(NOW))
    world.windows.add(opened)
    return world


def calls(world: World, name: str = "incident_create") -> int:
    return sum(1 for called, _ in world.tools.calls if called == name)


def test_a_covered_alert_is_recorded_not_acted_on_and_another_is_acted_on() -> None:
    world = world_with(window())
    outcome = world.gate.handle(envelope("a"))
    assert outcome["held_by"] == "mw-00000000000000a1" and outcome["actions"] == []
    assert world.tools.calls == [] and world.telemetry.total("AlertsHeld") == 1
    (entry,) = world.history.read("alertmanager", "a")
    assert "held by maintenance window mw-00000000000000a1 ('deploy 42', by ci)" in entry["reasons"][0]
    assert "labels.team 'ops' matches" in entry["reasons"][0]
    world.gate.handle(envelope("p", team="payments"))
    assert calls(world) == 1


def test_reevaluate_acts_once_at_the_end_on_what_still_fires() -> None:
    world = world_with(window(minutes=30))
    world.gate.handle(envelope("a"))
    world.gate.handle(envelope("b", group="group-quiet-again"))
    world.gate.handle(envelope("b", "resolved", group="group-quiet-again"))  # resolves pass (close)
    world.clock.advance(minutes=10)
    world.scheduler.run()
    assert calls(world) == 0  # still open
    world.clock.advance(minutes=21)
    report = world.scheduler.run()
    assert calls(world) == 1  # `a` still fires: its group's incident; `b` resolved in the window: nothing
    assert sorted(report.held_replayed) == ["mw-00000000000000a1:a", "mw-00000000000000a1:b"]
    ended = world.history.read("alertmanager", "a")
    assert any("ended (on_end: reevaluate)" in reason for reason in ended[1]["reasons"])
    assert ended[2]["actions"][0]["kind"] == "open_incident"
    assert report.windows_settled == ["mw-00000000000000a1"]  # past the dispatch caches' period: done
    world.clock.advance(minutes=5)
    assert world.scheduler.run().held_replayed == []
    assert calls(world) == 1 and world.windows.holding["mw-00000000000000a1"] == {}


def test_a_window_ended_early_is_acted_on_by_the_next_run() -> None:
    world = world_with(window(minutes=120))
    world.gate.handle(envelope("a"))
    world.clock.advance(minutes=5)
    world.windows.expire("mw-00000000000000a1", world.clock(), "ci")
    world.scheduler.run()
    assert calls(world) == 1
    assert world.windows.by_id["mw-00000000000000a1"].expired_by == "ci"


def test_drop_forgets_what_it_held() -> None:
    world = world_with(window(on_end="drop"))
    world.gate.handle(envelope("a"))
    world.clock.advance(minutes=31)
    world.scheduler.run()
    assert world.tools.calls == [] and world.windows.holding["mw-00000000000000a1"] == {}
    assert any("forgotten" in reason for reason in world.history.read("alertmanager", "a")[-1]["reasons"])
    world.gate.handle(envelope("a", "resolved"))  # its resolve later: nothing to close
    assert world.tools.calls == []


def test_resolves_close_incidents_opened_before_the_window() -> None:
    world = World(RULES, clock=DrivenClock(NOW - timedelta(minutes=5)))
    world.gate.handle(envelope("a"))
    world.clock.advance(minutes=5)
    world.windows.add(window())
    world.gate.handle(envelope("a", "resolved"))
    assert [i["incident_status"]["category"] for i in world.incidents()] == ["closed"]


def test_resolves_hold_keeps_the_incident_open_until_the_end() -> None:
    world = World(RULES, clock=DrivenClock(NOW - timedelta(minutes=5)))
    world.gate.handle(envelope("a"))
    world.clock.advance(minutes=5)
    world.windows.add(window(resolves="hold"))
    world.gate.handle(envelope("a", "resolved"))
    assert [i["incident_status"]["category"] for i in world.incidents()] == ["triage"]
    world.clock.advance(minutes=31)
    world.scheduler.run()
    assert [i["incident_status"]["category"] for i in world.incidents()] == ["closed"]


def test_a_resolve_after_the_end_but_before_the_run_leaves_nothing_open() -> None:
    world = world_with(window())
    world.gate.handle(envelope("a"))
    world.clock.advance(minutes=31)
    world.gate.handle(envelope("a", "resolved"))  # dispatch sees the window over: the resolve is recorded
    world.scheduler.run()  # the held firing is stale now (sender times)
    assert calls(world) == 0


def test_concurrent_scheduler_runs_act_once() -> None:
    world = world_with(window())
    for key in "abcdef":
        world.gate.handle(envelope(key, group=f"group-{key}"))
    world.clock.advance(minutes=31)
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        world.scheduler.run()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    world.clock.advance(minutes=5)
    world.scheduler.run()
    assert calls(world) == 6  # one incident per group, none twice
    assert len({args["idempotency_key"] for name, args in world.tools.calls if name == "incident_create"}) == 6


def test_a_hold_made_after_an_early_end_on_a_stale_cache_is_still_replayed() -> None:
    world = world_with(window(minutes=120))
    ticks = [0.0]
    stale = MaintenanceGate(
        world.courier,
        world.windows,
        CachedWindows(world.windows, seconds=30, clock=lambda: ticks[0]),
        world.history,
        lambda: RULES,
        clock=world.clock,
    )
    stale.handle(envelope("warm-up", group="group-w"))  # this container read the windows now
    world.clock.advance(minutes=1)
    world.windows.expire("mw-00000000000000a1", world.clock(), "ci")
    world.scheduler.run()  # nothing held yet; too early to settle (a container may still hold under it)
    stale.handle(envelope("late"))  # held on the stale read
    assert world.windows.by_id["mw-00000000000000a1"].settled_at is None
    world.scheduler.run()
    assert calls(world) == 2  # warm-up's group at the end, then `late`


def test_dispatch_reads_the_windows_once_per_cache_period_not_per_message() -> None:
    world = world_with(window())
    ticks = [0.0]
    cached = MaintenanceGate(
        world.courier,
        world.windows,
        CachedWindows(world.windows, seconds=30, clock=lambda: ticks[0]),
        world.history,
        lambda: RULES,
        clock=world.clock,
    )
    before = world.windows.reads
    for number in range(100):
        cached.handle(envelope(f"k{number}", team="payments"))
        ticks[0] += 0.5  # 100 messages over 50 s
    assert world.windows.reads - before == 2


def test_a_held_alert_that_can_never_be_acted_on_is_dead_lettered_at_the_end_with_the_reason() -> None:
    world = world_with(window())
    dead: list[tuple[str, str]] = []
    ends = WindowEnds(
        world.gate, world.windows, dead_letter=lambda held, reason: dead.append((held.alert.dedup_key, reason))
    )
    world.gate.handle(envelope("a"))
    world.clock.advance(minutes=31)
    world.tools.script("incident_create", "permanent")
    report = RunReport(now=world.clock())
    ends.run(report)
    assert [key for key, _ in dead] == ["a"] and dead[0][1]
    assert world.windows.holding["mw-00000000000000a1"] == {}  # not retried against incident.io every run


def test_a_transient_failure_at_the_end_is_retried_by_the_next_run() -> None:
    world = world_with(window())
    world.gate.handle(envelope("a"))
    world.clock.advance(minutes=31)
    world.tools.script("incident_create", "transient")
    first = world.scheduler.run()
    assert first.errors and world.windows.holding["mw-00000000000000a1"]
    assert world.windows.by_id["mw-00000000000000a1"].settled_at is None
    world.clock.advance(minutes=2)
    world.scheduler.run()
    assert calls(world) >= 1 and len(world.incidents()) == 1 and world.windows.holding["mw-00000000000000a1"] == {}


def test_explain_names_the_window_that_holds_an_alert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from alert_courier.operator_tools import cli

    opened = WindowRequest.model_validate(
        {"match": {"labels": {"instance": "db-1:9100"}}, "duration": "1h", "reason": "disk swap", "created_by": "me"}
    ).window("mw-00000000000000c3", NOW)
    saved = tmp_path / "windows.json"
    saved.write_text(json.dumps({"windows": [{**opened.public(NOW), "held": 0}]}))  # GET /maintenance's answer
    firing = str(EVENTS / "alertmanager" / "firing.json")
    during = ["explain", "--source", "alertmanager", firing, "--maintenance", str(saved), "--json"]
    assert cli.main([*during, "--at", "2026-12-02T10:30:00Z"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report[0]["held_by"] == "mw-00000000000000c3" and report[0]["calls"] == []
    assert "held by maintenance window mw-00000000000000c3 ('disk swap', by me)" in report[0]["reasons"][0]
    assert [call["tool"] for call in report[1]["calls"]] == ["incident_create"]  # db-2: not covered, opens
    assert cli.main([*during, "--at", "2026-12-02T11:00:00Z"]) == 0  # the window is over then
    assert [call["tool"] for call in json.loads(capsys.readouterr().out)[0]["calls"]] == ["incident_create"]


def test_the_sample_window_body_is_what_the_api_reads() -> None:
    from alert_courier.ingress.maintenance_api import read_window_request
    from alert_courier.ingress.webhook import WebhookRequest

    body = (EVENTS / "maintenance" / "deploy-window.json").read_bytes()
    request = WebhookRequest("maintenance", {"content-type": "application/json"}, body, "c", received_at=NOW)
    made = read_window_request(request, "mw-00000000000000d4", NOW)
    assert made.ends_at == NOW + timedelta(minutes=30) and made.on_end == "reevaluate"
    covered = alert("a").model_copy(update={"labels": {"service": "checkout", "env": "production"}})
    assert window_holding(covered, [made], NOW) == made
    assert window_holding(alert("a").model_copy(update={"labels": {"service": "checkout"}}), [made], NOW) is None


def test_a_resolve_in_a_window_finishes_what_a_failure_left_undone_before_it() -> None:
    """Found by the model-based test: the create decided before the window is that earlier episode's work."""
    world = World(RULES, clock=DrivenClock(NOW - timedelta(minutes=5)))
    world.tools.script("incident_create", "transient")
    with pytest.raises(ActionFailed):
        world.gate.handle(envelope("a"))  # redelivered later; the create stays undone in the group's state
    world.clock.advance(minutes=5)
    world.windows.add(window())
    world.gate.handle(envelope("a", "resolved"))  # resolves: close
    assert [i["incident_status"]["category"] for i in world.incidents()] == ["closed"]
    assert world.gate.handle(envelope("a"))["held_by"] == "mw-00000000000000a1"  # the redelivery: held, stale
    world.clock.advance(minutes=31)
    world.scheduler.run()
    assert [i["incident_status"]["category"] for i in world.incidents()] == ["closed"]
