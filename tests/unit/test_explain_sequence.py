"""`alert-courier explain a.json b.json …`: a sequence replayed with state, and the normalised alert shown."""

from __future__ import annotations

import json

import pytest

from alert_courier.operator_tools import cli
from tests.conftest import EVENTS


def test_a_sequence_is_replayed_with_state_and_the_alerts_are_shown(capsys: pytest.CaptureFixture[str]) -> None:
    firing, resolved = (str(EVENTS / "alertmanager" / name) for name in ("firing.json", "resolved.json"))
    assert cli.main(["explain", "--source", "alertmanager", firing, resolved, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [entry["alert"]["status"] for entry in report] == ["firing", "firing", "resolved", "resolved"]
    assert [call["tool"] for call in report[0]["calls"]] == ["incident_create"]
    assert report[1]["calls"] == [] and report[2]["calls"] == []  # joins, then one of two resolves
    assert [call["tool"] for call in report[3]["calls"]] == ["incident_update"]  # the last one closes it
    assert report[0]["alert"]["labels"]["alertname"] == "DiskFull" and report[0]["alert"]["links"]


def test_the_text_report_shows_labels_annotations_and_links(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "--source", "alertmanager", str(EVENTS / "alertmanager" / "firing.json")]) == 0
    text = capsys.readouterr().out
    assert "labels: alertname='DiskFull'" in text and "annotations: " in text and "links: " in text
