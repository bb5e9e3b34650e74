"""Reading tool results in each style the server may answer in: structured content, JSON text, or prose."""

from __future__ import annotations

import json

import pytest

from alert_courier.incident_io.tool_errors import FailureKind, ToolCallError
from alert_courier.incident_io.tool_results import PROSE, entity, from_prose, result_document, suggestion_id
from alert_courier.incident_io.tool_table import escalation_from_result, incident_from_result

INCIDENT = "01HZX5K3Q9W8R7T6Y5V4B3N2M1"
ESCALATION = "01HZX5K3Q9W8R7T6Y5V4B3N2ME"
SUGGESTION = "01HZX5K3Q9W8R7T6Y5V4B3N2MS"
PATH = "01HZX5K3Q9W8R7T6Y5V4B3N2MP"
SEVERITY = "01HZX5K3Q9W8R7T6Y5V4B3N2MV"

REST_INCIDENT = {
    "incident": {"id": INCIDENT, "reference": "INC-42", "incident_status": {"name": "Triage", "category": "triage"}}
}


def test_structured_content_wins_then_the_texts_json_object() -> None:
    assert result_document("incident_create", REST_INCIDENT, "ignored") == REST_INCIDENT
    assert result_document("incident_create", None, json.dumps(REST_INCIDENT)) == REST_INCIDENT
    assert result_document("incident_list", {}, '{"incidents": []}') == {"incidents": []}


@pytest.mark.parametrize(
    ("tool", "text"),
    [
        ("incident_create", ""),
        ("incident_create", "   "),
        ("incident_create", "[1, 2]"),  # JSON, not an object
        ("incident_list", "There are no open incidents."),  # a list in prose would look empty: not guessed
        ("escalation_list", f"- Escalation {ESCALATION}: triggered"),
    ],
)
def test_empty_non_object_json_and_lists_in_prose_are_ambiguous(tool: str, text: str) -> None:
    with pytest.raises(ToolCallError) as raised:
        result_document(tool, None, text)
    assert raised.value.kind is FailureKind.AMBIGUOUS


def test_a_resource_must_be_json() -> None:
    with pytest.raises(ToolCallError):
        result_document("config://organisation", None, "Severities: Critical, Major", prose_allowed=False)


def test_prose_is_kept_for_the_entity_reader() -> None:
    text = f"Created incident INC-42 (id {INCIDENT}) with status Triage"
    assert result_document("incident_create", None, text) == {PROSE: text}


PROSE_INCIDENTS = [
    (
        f"Created incident INC-42 (id {INCIDENT}) with status Triage",
        {"id": INCIDENT, "reference": "INC-42", "incident_status": {"name": "Triage"}},
    ),
    (
        f"Incident INC-42 ({INCIDENT}) updated: status is now Closed (closed), severity Major.",
        {
            "id": INCIDENT,
            "reference": "INC-42",
            "incident_status": {"name": "Closed", "category": "closed"},
            "severity": {"name": "Major"},
        },
    ),
    (
        f"**INC-42** Database down\n**ID:** `{INCIDENT}`\n**Status:** Fixing\n**Severity:** Critical",
        {
            "id": INCIDENT,
            "reference": "INC-42",
            "incident_status": {"name": "Fixing"},
            "severity": {"name": "Critical"},
        },
    ),
    (  # the severity's id is the severity's, not the incident's
        f"Opened INC-7 with severity Critical ({SEVERITY}); incident id: {INCIDENT}. Status: Triage.",
        {"id": INCIDENT, "reference": "INC-7", "incident_status": {"name": "Triage"}, "severity": {"name": "Critical"}},
    ),
]


@pytest.mark.parametrize(("text", "expected"), PROSE_INCIDENTS, ids=[t[:30] for t, _ in PROSE_INCIDENTS])
def test_an_incident_in_prose(text: str, expected: dict[str, object]) -> None:
    assert from_prose(text, "incident") == expected
    assert incident_from_result({PROSE: text}) == expected


def test_an_escalation_in_prose_is_told_apart_from_its_incident_and_path() -> None:
    text = f"Escalation {ESCALATION} for incident INC-7 (id {INCIDENT}) is now triggered."
    assert escalation_from_result({PROSE: text}) == {"id": ESCALATION, "status": "triggered"}
    assert incident_from_result({PROSE: text})["id"] == INCIDENT
    acked = f"Paged escalation path Primary ({PATH}): page {ESCALATION} acknowledged."
    assert escalation_from_result({PROSE: acked}) == {"id": ESCALATION, "status": "acked"}


def test_a_drafts_suggestion_id_in_any_style() -> None:
    draft = (
        f"Drafted an escalation to escalation path Primary ({PATH}) for incident {INCIDENT}. Nobody has been "
        f'paged yet: call escalation_create again with action "execute" and suggestion_id {SUGGESTION}.'
    )
    assert suggestion_id({PROSE: draft}) == SUGGESTION
    assert suggestion_id({"suggestion_id": SUGGESTION, "suggestion": {}}) == SUGGESTION
    assert suggestion_id({"escalation": {"id": ESCALATION}}) is None
    assert suggestion_id({PROSE: f"Escalation {ESCALATION} is triggered"}) is None
    # a draft that calls its id the escalation's is still a draft: never mistaken for a page that went out
    assert suggestion_id({PROSE: f"Drafted escalation {SUGGESTION}; nobody has been paged yet."}) == SUGGESTION


def test_wrapped_bare_and_empty_entities() -> None:
    assert entity(REST_INCIDENT, "incident")["id"] == INCIDENT
    assert entity({"id": INCIDENT}, "incident") == {"id": INCIDENT}  # a bare incident
    assert entity({"incident": None}, "incident") == {}
    assert from_prose("Done.", "incident") == {} and escalation_from_result({PROSE: "ok"}) == {}
