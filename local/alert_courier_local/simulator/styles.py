"""How the simulator words its answers: incident.io's real result and error shapes are unverified (shaped for
language models, not REST copies), so the client must read each style, and the tests run them all.

answer_style  structured  structured content plus the same JSON as text (the default)
              json_text   the JSON as text only, no structured content
              prose       incidents, escalations and drafts as sentences with their ids, e.g.
                          "Created incident INC-42 (id 01H…) with status Triage"; lists and other results stay
                          JSON text (a list in prose is not read: the client calls it ambiguous, not empty)
error_style   rest_json   incident.io's REST error JSON as the text (the default)
              plain_text  words only: "Not found: Incident '01H…' was not found", no status number
"""

from __future__ import annotations

from typing import Any

from .errors import IncidentIoError

ANSWER_STYLES = ("structured", "json_text", "prose")
ERROR_STYLES = ("rest_json", "plain_text")
_VERBS = {"incident_create": "Created", "incident_update": "Updated"}


def prose_of(tool: str, result: dict[str, Any]) -> str | None:
    """The result as a language-model-shaped sentence or two; None for results kept as JSON text."""
    if isinstance(result.get("incident"), dict) and tool.startswith("incident_"):
        return _incident(tool, result["incident"])
    if "suggestion_id" in result:
        return _draft(result)
    if isinstance(result.get("escalation"), dict):
        return _escalation(result["escalation"])
    return None


def plain_text_of(error: IncidentIoError) -> str:
    """The error in words, its type spelled out ("Validation error: …") and no status code or JSON."""
    words = error.type.replace("_", " ").capitalize()
    where = f" (field {error.field})" if error.field else ""
    return f"{words}: {error.message}{where}"


def _incident(tool: str, incident: dict[str, Any]) -> str:
    status = incident.get("incident_status") or {}
    severity = (incident.get("severity") or {}).get("name")
    if tool == "incident_show":  # markdown, and the status without its category: the reader must look it up
        lines = [f"**{incident['reference']}** {incident.get('name', '')}", f"**ID:** `{incident['id']}`"]
        lines.append(f"**Status:** {status.get('name')}")
        if severity:
            lines.append(f"**Severity:** {severity}")
        return "\n".join(lines)
    if tool == "incident_update":
        text = f"Updated incident {incident['reference']} ({incident['id']}). Status is now {status.get('name')}"
        text += f" ({status.get('category')})"
        return text + (f", severity {severity}." if severity else ".")
    text = f"{_VERBS.get(tool, 'Incident')} incident {incident['reference']} (id {incident['id']}): "
    text += f'"{incident.get("name", "")}" with status {status.get("name")}'
    return text + (f" and severity {severity}." if severity else ".")


def _draft(result: dict[str, Any]) -> str:
    suggestion = result.get("suggestion") or {}
    path = suggestion.get("escalation_path")
    target = f"escalation path {path['name']} ({path['id']})" if path else "the chosen users"
    incident = suggestion.get("incident")
    linked = f" for incident {incident['reference']} (id {incident['id']})" if incident else ""
    return (
        f'Drafted an escalation "{suggestion.get("title", "")}" to {target}{linked}. Nobody has been paged yet: '
        f'call escalation_create again with action "execute" and suggestion_id {result["suggestion_id"]}.'
    )


def _escalation(escalation: dict[str, Any]) -> str:
    text = f'Escalation {escalation["id"]} "{escalation.get("title", "")}" is {escalation.get("status")}'
    incidents = escalation.get("related_incidents") or []
    if incidents:
        text += f" (linked to incident {incidents[0]['reference']}, id {incidents[0]['id']})"
    return text + "."
