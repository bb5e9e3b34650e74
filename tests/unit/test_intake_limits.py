"""Oversized values are clipped to documented limits with a note on the alert, never a 'message too long' 500."""

from __future__ import annotations

import json
from typing import Any

from alert_courier.ingress import limits
from tests.conftest import load_event
from tests.ingest_harness import TOKEN, answer_body, post


def queued_alerts(document: Any, source: str = "alertmanager") -> list[Any]:
    answer, sqs = post(source, document)
    assert answer["statusCode"] == 202, answer
    assert answer_body(answer)["accepted"] == len(sqs.envelopes())
    return [envelope.alert for envelope in sqs.envelopes()]


def test_a_two_megabyte_generator_url_is_clipped_with_a_note() -> None:
    notification = load_event("alertmanager/firing.json")
    notification["alerts"][0]["generatorURL"] = "https://prometheus.example.com/graph?g0.expr=" + "x" * 2_000_000
    first, second = queued_alerts(notification)
    assert len(first.links["generator"]) == limits.MAX_URL_CHARS
    assert any("links: 1 value(s) clipped" in note for note in first.raw["intake_notes"])
    assert "intake_notes" not in second.raw  # the other alert is untouched


def test_seven_hundred_labels_of_three_thousand_characters() -> None:
    notification = load_event("alertmanager/firing.json")
    labels = notification["alerts"][0]["labels"]
    labels.update({f"label_{n:03}": "v" * 3000 for n in range(700)})
    first = queued_alerts(notification)[0]
    assert len(first.labels) == limits.MAX_LABELS
    assert first.labels["alertname"] == labels["alertname"]  # the sender's first labels are kept
    assert all(len(value) <= limits.MAX_LABEL_VALUE_CHARS for value in first.labels.values())
    notes = " | ".join(first.raw["intake_notes"])
    assert f"labels: {len(labels) - 100} of {len(labels)} dropped" in notes and "clipped to 1024 characters" in notes


def test_five_thousand_links_and_images_on_a_generic_event() -> None:
    event = load_event("generic/trigger.json")
    event["routing_key"] = TOKEN
    event["links"] = [{"href": f"https://example.com/{n}", "text": f"link {n}"} for n in range(5000)]
    event["images"] = [{"src": f"https://example.com/{n}.png"} for n in range(5000)]
    (alert,) = queued_alerts(event, "generic")
    assert len(alert.links) == limits.MAX_LINKS
    assert "images" not in alert.raw
    assert any("'images' dropped" in note for note in alert.raw["intake_notes"])


def test_huge_annotations_and_description() -> None:
    notification = load_event("alertmanager/firing.json")
    notification["alerts"][0]["annotations"] = {f"a{n}": "d" * 50_000 for n in range(60)}
    notification["alerts"][0]["annotations"]["description"] = "y" * 1_000_000
    first = queued_alerts(notification)[0]
    assert len(first.annotations) == limits.MAX_ANNOTATIONS
    assert len(first.description) <= limits.MAX_DESCRIPTION_CHARS


def test_a_body_over_the_limit_is_413_not_500() -> None:
    notification = load_event("alertmanager/firing.json")
    notification["alerts"][0]["annotations"]["description"] = "z" * (7 * 1024 * 1024)
    answer, sqs = post("alertmanager", json.dumps(notification).encode())
    assert answer["statusCode"] == 413
    assert answer_body(answer)["error"]["code"] == "body_too_large"
    assert sqs.queued == []


def test_an_alert_within_the_limits_is_the_same_object() -> None:
    from alert_courier.domain.alert import Alert, AlertStatus

    alert = Alert(source="s", dedup_key="k", group_key="g", status=AlertStatus.FIRING, title="t", labels={"a": "b"})
    assert limits.within_limits(alert) is alert
