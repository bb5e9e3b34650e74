"""Reading incident.io's tool results, whatever their style: structured content, JSON text, or prose with ids.

The server's results are shaped for language models, not REST copies, and unverified. One reader:
- `result_document` turns what a call answered into a dict: the structured content, else the text's JSON
  object, else (prose) `{"prose": text}`. An empty answer, JSON that is not an object, or a *list* tool
  answering in prose is ambiguous: read as a list it would look empty ("nothing found" is not something to
  guess), and a re-check that finds nothing opens a second incident.
- `entity(result, "incident" | "escalation")` is the object a result is about, from `{"incident": {...}}`,
  a bare object, or prose such as "Created incident INC-42 (id 01H…) with status Triage".
- `suggestion_id(result)` is a draft's suggestion id, wherever the result puts it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from alert_courier.incident_io.tool_errors import FailureKind, ToolCallError

PROSE = "prose"
ESCALATION_STATUSES = ("pending", "triggered", "acked", "resolved", "expired", "cancelled", "canceled", "draft")
_STATUS_SYNONYMS = {"acknowledged": "acked", "canceled": "cancelled"}

_ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
_LABELLED_ID = re.compile(r"\b(?:id|ID|Id)\s*[:=#]?\s*[`\"']?([A-Za-z0-9][A-Za-z0-9_-]{7,})")
_REFERENCE = re.compile(r"\bINC-\d+\b")
# What an id in prose may belong to: the nearest of these before it (in the same sentence) owns it.
_NOUN = re.compile(
    r"(?<![A-Za-z])(incident|escalation[\s_]+path|escalation|page|suggestion|draft|alert|user|schedule|severity"
    r"|status|type|path)(?![a-z])",
    re.IGNORECASE,
)
_NOUN_ALIASES = {"page": "escalation", "draft": "suggestion", "path": "escalation path"}
_LABELLED_STATUS = re.compile(
    r"\bstatus(?:\s+(?:is|of|to|changed\s+to|set\s+to))?(?:\s+now)?\s*[:=]?\s*(?:is\s+)?(?:now\s+)?[\"'“]?"
    r"([A-Za-z][\w-]*)[\"'”]?(?:\s*\((?:category\s*[:=]?\s*)?([a-z_]+)\))?",
    re.IGNORECASE,
)
_LABELLED_SEVERITY = re.compile(r"\bseverity(?:\s+is)?(?:\s+now)?\s*[:=]?\s*[\"'“]?([A-Za-z0-9][\w-]*)", re.IGNORECASE)
_IS_NOW = re.compile(r"\b(?:is|was|has\s+been)\s+(?:now\s+)?([a-z]+)\b", re.IGNORECASE)
_ESCALATION_WORD = re.compile(r"\b(" + "|".join((*ESCALATION_STATUSES, "acknowledged")) + r")\b", re.IGNORECASE)
_DRAFT = re.compile(r"\bdraft|not\s+(?:yet\s+)?(?:been\s+)?(?:paged|sent)|nobody|no\s+one|\bexecute\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.;!?\n](?:\s|$)")


def result_document(tool: str, structured: object, text: str, *, prose_allowed: bool = True) -> dict[str, Any]:
    """What a successful call answered, as a dict (see the module's docstring)."""
    if isinstance(structured, dict) and structured:
        return structured
    if not text.strip():
        raise ToolCallError(FailureKind.AMBIGUOUS, "the result is empty", tool=tool)
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        if not prose_allowed or tool.endswith("_list"):
            raise ToolCallError(
                FailureKind.AMBIGUOUS, "the result is not JSON (a list in prose cannot be read)", tool=tool
            ) from None
        return {PROSE: text}
    if not isinstance(document, dict):
        raise ToolCallError(FailureKind.AMBIGUOUS, "the result is not a JSON object", tool=tool)
    return document


def entity(result: dict[str, Any], noun: str) -> dict[str, Any]:
    """The incident or escalation a result is about; {} when it names none."""
    wrapped = result.get(noun)
    if isinstance(wrapped, dict):
        return wrapped
    if isinstance(result.get(PROSE), str):
        return from_prose(result[PROSE], noun)
    return {} if noun in result else result


def suggestion_id(result: dict[str, Any]) -> str | None:
    found = result.get("suggestion_id")
    if found:
        return str(found)
    if isinstance(result.get(PROSE), str):
        text = _plain(result[PROSE])
        ids = _ids_of(text, "suggestion")
        # A draft named only as "escalation 01H…" is still a draft: read as a page, nobody would be paged.
        return ids.get("suggestion") or (ids.get("escalation") if _DRAFT.search(text) else None)
    return None


def from_prose(text: str, noun: str) -> dict[str, Any]:
    """Ids, reference and status of the `noun` ("incident" or "escalation") a sentence or two describe."""
    text = _plain(text)
    found: dict[str, Any] = {}
    if identifier := _ids_of(text, noun).get(noun):
        found["id"] = identifier
    if noun == "incident":
        if reference := _REFERENCE.search(text):
            found["reference"] = reference.group(0)
        if status := _incident_status(text):
            found["incident_status"] = status
        if severity := _LABELLED_SEVERITY.search(text):
            found["severity"] = {"name": severity.group(1)}
    elif status_name := _escalation_status(text):
        found["status"] = status_name
    return found


def _plain(text: str) -> str:
    """Markdown emphasis and code marks off (underscores stay: they are part of names like suggestion_id)."""
    return re.sub(r"[*`]+", "", text)


def _ids_of(text: str, default: str) -> dict[str, str]:
    """Each id in the text, owned by the nearest noun before it in its sentence (an INC-n reference counts as
    "incident"), else by the text's subject (its first noun, else `default`); a noun's first id is its own."""
    mentions = sorted({(m.start(), m.group(0)) for m in _ULID.finditer(text)} | _labelled_ids(text))
    nouns = sorted(
        [(m.start(), _noun(m.group(1))) for m in _NOUN.finditer(text)]
        + [(m.start(), "incident") for m in _REFERENCE.finditer(text)]
    )
    subject = nouns[0][1] if nouns else default
    owned: dict[str, str] = {}
    seen: set[str] = set()
    for position, identifier in mentions:
        if identifier in seen:
            continue
        seen.add(identifier)
        sentence_start = max((m.end() for m in _SENTENCE_END.finditer(text, 0, position)), default=0)
        before = [noun for start, noun in nouns if sentence_start <= start < position]
        owned.setdefault(before[-1] if before else subject, identifier)
    return owned


def _labelled_ids(text: str) -> set[tuple[int, str]]:
    return {(m.start(1), m.group(1)) for m in _LABELLED_ID.finditer(text) if not _REFERENCE.fullmatch(m.group(1))}


def _noun(word: str) -> str:
    word = re.sub(r"[\s_]+", " ", word.lower())
    return _NOUN_ALIASES.get(word, word)


def _incident_status(text: str) -> dict[str, str] | None:
    for match in _LABELLED_STATUS.finditer(text):
        name = match.group(1)
        if name.lower() in ("id", "is", "of"):
            continue
        status = {"name": name}
        if match.group(2):
            status["category"] = match.group(2).lower()
        return status
    return None


def _escalation_status(text: str) -> str | None:
    candidates = [m.group(1) for m in _LABELLED_STATUS.finditer(text)] + [m.group(1) for m in _IS_NOW.finditer(text)]
    candidates += [m.group(1) for m in _ESCALATION_WORD.finditer(text)]  # "page 01H… acknowledged"
    for word in candidates:
        status = _STATUS_SYNONYMS.get(word.lower(), word.lower())
        if status in ESCALATION_STATUSES:
            return status
    return None
