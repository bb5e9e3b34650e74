"""`alert-courier explain … --state --local` through the real command against the session's local stack: the
decision starts from the group's live state, so a resolve for a held group says what it would close."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alert_courier.operator_tools import cli
from tests.integration.test_history_tail_cli import fired
from tests.integration.test_pipeline import resolved_version


def test_a_resolve_explained_from_the_live_state_names_the_incident_it_would_close(
    local_settings_of: Any,
    alertmanager_firing: dict[str, Any],
    alertmanager_resolved: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    firing, incident = fired(local_settings_of, alertmanager_firing)
    resolved = tmp_path / "resolved.json"
    resolved.write_text(json.dumps(resolved_version(firing, alertmanager_resolved)))
    args = ["explain", "--source", "alertmanager", str(resolved), "--json"]

    capsys.readouterr()
    assert cli.main([*args, "--state", "--local"]) == 0
    first, last = json.loads(capsys.readouterr().out)
    assert first["live_state"].startswith(f"incident {incident['reference']} open, 2 alert(s) firing")
    assert "live_state" not in last  # the second alert continues from the first one's decision
    assert first["calls"] == [] and "1 alert(s) of the group still firing" in " ".join(first["reasons"])
    [call] = last["calls"]
    assert call["tool"] == "incident_update" and call["arguments"]["incident_id"] == incident["id"]

    assert cli.main(args) == 0  # without the live state: nothing is firing, nothing to close
    quiet = json.loads(capsys.readouterr().out)
    assert [entry["calls"] for entry in quiet] == [[], []]
    assert all("not firing here" in " ".join(entry["reasons"]) for entry in quiet)
    assert cli.main([*args, "--local"]) == 0  # where alone is not --state: the group starts quiet
    assert [entry["calls"] for entry in json.loads(capsys.readouterr().out)] == [[], []]

    capsys.readouterr()
    assert cli.main([*args, "--state"]) == 1
    assert "--state reads the live state of the group: say where, with --local or --stack NAME" in (
        capsys.readouterr().err
    )


def test_with_the_live_state_explain_names_the_open_window_that_would_hold_the_alert(
    local_settings_of: Any, alertmanager_firing: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import uuid

    import httpx

    from tests.integration.test_pipeline import HEADERS, unique_notification

    deploy = uuid.uuid4().hex[:8]
    window = {"match": {"labels": {"deploy": deploy}}, "duration": "10m", "reason": "explain", "created_by": "test"}
    maintenance = f"{local_settings_of.front_door_url}/maintenance"
    opened = httpx.post(maintenance, json=window, headers=HEADERS, timeout=30)
    assert opened.status_code == 201, opened.text
    window_id = opened.json()["window"]["id"]
    try:
        firing = unique_notification(alertmanager_firing)
        for alert in firing["alerts"]:
            alert["labels"]["deploy"] = deploy
        path = tmp_path / "firing.json"
        path.write_text(json.dumps(firing))
        capsys.readouterr()
        assert cli.main(["explain", "--source", "alertmanager", str(path), "--json", "--state", "--local"]) == 0
        held = json.loads(capsys.readouterr().out)
        assert [entry.get("held_by") for entry in held] == [window_id, window_id]
        assert all(entry["calls"] == [] for entry in held)
        assert cli.main(["explain", "--source", "alertmanager", str(path), "--json"]) == 0  # no state: no window
        assert [bool(entry["calls"]) for entry in json.loads(capsys.readouterr().out)] == [True, False]
    finally:
        httpx.delete(f"{maintenance}/{window_id}", headers=HEADERS, timeout=30)
