"""`alert-courier doctor --smoke`: one real round trip through a workspace, reading every answer the way dispatch
reads it. Opens a `mode: test` incident, updates its severity, finds it again (the re-check), shows it, closes it;
with a page path also drafts and executes a page, reads it back (show, list by key) and acknowledges it.
Every call is built by the same builders dispatch uses and read by the same readers; a step whose answer lacks
what our code reads is a mismatch. Opt-in: it creates real (test) objects in the workspace.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from alert_courier.domain.actions import Escalate, OpenIncident, ResolveIncident, UpdateIncident
from alert_courier.domain.alert import Severity
from alert_courier.incident_io.organisation import Organisation
from alert_courier.incident_io.tool_errors import ToolCallError
from alert_courier.incident_io.tool_table import (
    ORGANISATION_RESOURCE,
    RESOLVED_STATUS_CATEGORY,
    TOOLS,
    UnknownName,
    acknowledge_arguments,
    escalation_draft_arguments,
    escalation_execute_arguments,
    escalation_from_result,
    incident_from_result,
    open_incident_arguments,
    resolve_incident_arguments,
    suggestion_from_result,
    update_incident_arguments,
)

SMOKE_GROUP = "alert-courier-doctor-smoke"


class SmokeServer(Protocol):
    def input_schemas(self) -> dict[str, dict[str, Any]]: ...

    def read_resource(self, uri: str) -> dict[str, Any]: ...

    def call_tool(self, name: str, arguments: dict[str, Any], *, retry_ambiguous: bool = False) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Step:
    step: str
    tool: str
    ok: bool
    detail: str
    milliseconds: float = 0.0


class Mismatch(Exception):
    """An answer that lacks what our code reads from it."""


@dataclass
class SmokeRun:
    server: SmokeServer
    steps: list[Step] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    def call(
        self, step: str, tool: str, arguments: dict[str, Any], read: Callable[[dict[str, Any]], str], *, retry: bool
    ) -> bool:
        """One call; `read` returns what it found or raises Mismatch. False when the step failed."""
        started = self.clock()
        try:
            result = self.server.call_tool(tool, arguments, retry_ambiguous=retry)
            detail = read(result)
            ok = True
        except ToolCallError as error:
            detail, ok = error.describe(), False
        except Mismatch as error:
            detail, ok = f"mismatch: {error}", False
        self.steps.append(Step(step, tool, ok, detail, round((self.clock() - started) * 1000, 1)))
        return ok

    def fail(self, step: str, tool: str, detail: str) -> None:
        self.steps.append(Step(step, tool, False, detail))


def run_smoke(server: SmokeServer, *, page_path_id: str | None = None) -> SmokeRun:
    """The whole round trip; later steps are skipped once there is nothing to act on, cleanup always runs."""
    run = SmokeRun(server)
    try:
        schemas = server.input_schemas()
        organisation = Organisation.from_resource(server.read_resource(ORGANISATION_RESOURCE))
    except ToolCallError as error:
        run.fail("connect", "tools/list", error.describe())
        return run
    missing = [tool for tool in (TOOLS["open_incident"], TOOLS["update_incident"]) if tool not in schemas]
    if missing or not organisation.severities:
        run.fail("prepare", ", ".join(missing) or ORGANISATION_RESOURCE, "nothing to smoke-test with")
        return run
    tag = uuid.uuid4().hex[:10]
    since = datetime.now(UTC) - timedelta(minutes=2)
    severities = sorted(organisation.severities, key=lambda item: item.rank)
    opened = OpenIncident(
        group_id=f"{SMOKE_GROUP}-{tag}",
        reason="alert-courier doctor --smoke",
        generation=1,
        name=f"alert-courier doctor smoke test {tag} (test incident, safe to ignore)",
        summary="Opened by `alert-courier doctor --smoke` to check the fit; it closes itself.",
        severity=Severity.INFO,
        severity_name=severities[0].name,
        mode="test",
    )
    incident: dict[str, Any] = {}

    def read_opened(result: dict[str, Any]) -> str:
        found = incident_from_result(result)
        if not found.get("id"):
            raise Mismatch("the answer names no incident id (what dispatch records)")
        incident.update(found)
        return f"incident {found.get('reference') or '(no reference)'} id {found['id']}"

    create = TOOLS["open_incident"]
    if not run.call(
        "open a test incident",
        create,
        _built(open_incident_arguments, opened, organisation, schemas, create),
        read_opened,
        retry="idempotency_key" in (schemas[create].get("properties") or {}),
    ):
        return run
    incident_id = str(incident["id"])
    try:
        _update(run, schemas, organisation, opened, incident_id, severities[-1].name)
        _find_again(run, schemas, opened, since)
        _show(run, schemas, incident_id)
        if page_path_id:
            _page(run, schemas, page_path_id, incident_id, tag)
    finally:
        _close(run, schemas, organisation, opened, incident_id)
    return run


def _built(builder: Any, action: Any, organisation: Organisation, schemas: dict[str, Any], tool: str) -> Any:
    return builder(action, organisation, schemas.get(tool, {}))


def _update(
    run: SmokeRun,
    schemas: dict[str, Any],
    organisation: Organisation,
    opened: OpenIncident,
    incident_id: str,
    severity_name: str,
) -> None:
    tool = TOOLS["update_incident"]
    action = UpdateIncident(
        group_id=opened.group_id, reason="smoke", generation=1, incident_id=incident_id,
        severity=Severity.CRITICAL, severity_name=severity_name,
    )  # fmt: skip

    def read(result: dict[str, Any]) -> str:
        severity = incident_from_result(result).get("severity")
        name = severity.get("name") if isinstance(severity, dict) else None
        if not name:
            raise Mismatch("the answer names no severity (dispatch records severity.name)")
        if str(name).lower() != severity_name.lower():
            raise Mismatch(f"severity is {name!r}, expected {severity_name!r}")
        return f"severity {name}"

    run.call(
        "raise its severity",
        tool,
        _built(update_incident_arguments, action, organisation, schemas, tool),
        read,
        retry=True,
    )


def _find_again(run: SmokeRun, schemas: dict[str, Any], opened: OpenIncident, since: datetime) -> None:
    """The re-check's list, with the test mode asked for (test incidents are hidden from lists by default)."""
    tool = TOOLS["find_incidents"]
    if tool not in schemas:
        run.fail("find it again (re-check)", tool, "the server offers no incident_list")
        return
    accepted = schemas[tool].get("properties") or {}
    arguments: dict[str, Any] = {"created_after": since.isoformat(), "page_size": 50}
    if "include" in accepted:
        arguments["include"] = ["summary"]
    if "mode" in accepted:
        arguments["mode"] = ["test"]

    def read(result: dict[str, Any]) -> str:
        incidents = result.get("incidents")
        if not isinstance(incidents, list):
            raise Mismatch("the answer has no incidents list")
        for listed in incidents:
            if opened.idempotency_key in str(listed.get("summary", "")):
                if not listed.get("id"):
                    raise Mismatch("the listed incident has no id")
                return f"found by the key in its summary among {len(incidents)}"
        raise Mismatch(
            f"the test incident is not among the {len(incidents)} listed with its key in the summary: "
            "the re-check after a lost answer would open a second incident"
        )

    run.call("find it again (re-check)", tool, arguments, read, retry=True)


def _show(run: SmokeRun, schemas: dict[str, Any], incident_id: str) -> None:
    tool = TOOLS["show_incident"]

    def read(result: dict[str, Any]) -> str:
        status = incident_from_result(result).get("incident_status")
        if not isinstance(status, dict) or not status.get("name"):
            raise Mismatch("the answer names no incident_status (read to tell an incident already resolved)")
        return f"status {status['name']}"

    if tool in schemas:
        run.call("show it", tool, {"id": incident_id}, read, retry=True)
    else:
        run.fail("show it", tool, "the server offers no incident_show")


def _page(run: SmokeRun, schemas: dict[str, Any], path_id: str, incident_id: str, tag: str) -> None:
    tool = TOOLS["escalate"]
    if tool not in schemas:
        run.fail("draft a page", tool, "the server offers no escalation_create (pages go through alert sources)")
        return
    action = Escalate(
        group_id=f"{SMOKE_GROUP}-{tag}", reason="smoke", generation=1,
        title=f"alert-courier doctor smoke test {tag} (test page, acknowledge it)", escalation_path_id=path_id,
    )  # fmt: skip
    draft: dict[str, Any] = {}

    def read_draft(result: dict[str, Any]) -> str:
        suggestion = suggestion_from_result(result)
        page = escalation_from_result(result)
        if not suggestion and not page.get("id"):
            raise Mismatch("the answer names neither a suggestion_id (a draft) nor an escalation id (a page)")
        draft.update({"suggestion_id": suggestion, **({"page": page} if not suggestion else {})})
        return f"draft {suggestion}" if suggestion else f"paged at once: {page.get('id')}"

    arguments = escalation_draft_arguments(action, incident_id, schemas[tool])
    if not run.call("draft a page", tool, arguments, read_draft, retry=False):
        return
    page: dict[str, Any] = dict(draft.get("page") or {})

    def read_page(result: dict[str, Any]) -> str:
        found = escalation_from_result(result)
        if not found.get("id"):
            raise Mismatch("the answer names no escalation id (what the scheduler asks about later)")
        page.update(found)
        return f"page {found['id']} {found.get('status') or '(no status)'}"

    if draft.get("suggestion_id"):
        execute = escalation_execute_arguments(str(draft["suggestion_id"]))
        if not run.call("execute the page", tool, execute, read_page, retry=False):
            return
    page_id = str(page["id"])

    def read_status(result: dict[str, Any]) -> str:
        status = escalation_from_result(result).get("status")
        if not status:
            raise Mismatch("the answer names no status (the scheduler reads it to stop later levels)")
        return f"status {status}"

    if TOOLS["show_escalation"] in schemas:
        run.call("read the page back", TOOLS["show_escalation"], {"id": page_id}, read_status, retry=True)

    def read_listed(result: dict[str, Any]) -> str:
        pages = result.get("escalations")
        if not isinstance(pages, list) or not any(item.get("id") == page_id for item in pages):
            raise Mismatch("the page is not listed under its idempotency key (the re-check would page twice)")
        return "listed under its idempotency key"

    if TOOLS["find_escalations"] in schemas:
        keyed = {"idempotency_key": action.idempotency_key}
        run.call("find the page by its key", TOOLS["find_escalations"], keyed, read_listed, retry=True)
    respond = TOOLS["acknowledge_escalation"]
    if respond in schemas:

        def read_ack(result: dict[str, Any]) -> str:
            return f"status {escalation_from_result(result).get('status') or '(not said)'}"

        run.call("acknowledge it (clean up)", respond, acknowledge_arguments(page_id, schemas[respond]), read_ack,
                 retry=True)  # fmt: skip


def _close(
    run: SmokeRun, schemas: dict[str, Any], organisation: Organisation, opened: OpenIncident, incident_id: str
) -> None:
    tool = TOOLS["resolve_incident"]
    action = ResolveIncident(
        group_id=opened.group_id, reason="smoke", generation=1, incident_id=incident_id,
        summary="alert-courier doctor --smoke is done.",
    )  # fmt: skip
    closed_ids = {item.id for item in organisation.incident_statuses if item.category == RESOLVED_STATUS_CATEGORY}

    def read(result: dict[str, Any]) -> str:
        status = incident_from_result(result).get("incident_status")
        if not isinstance(status, dict) or not status.get("name"):
            raise Mismatch("the answer names no incident_status (dispatch records its name)")
        if status.get("id") and status["id"] not in closed_ids:
            raise Mismatch(f"status is {status['name']!r}, not a {RESOLVED_STATUS_CATEGORY} one")
        return f"status {status['name']}"

    try:
        arguments = _built(resolve_incident_arguments, action, organisation, schemas, tool)
    except UnknownName as error:
        run.fail("close it (clean up)", tool, f"{error}: close the test incident {incident_id} by hand")
        return
    run.call("close it (clean up)", tool, arguments, read, retry=True)


def format_steps(run: SmokeRun) -> str:
    rows = [
        ("step", "tool", "result", "what came back"),
        *((s.step, s.tool, "ok" if s.ok else "FAIL", s.detail) for s in run.steps),
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in rows]
    verdict = "smoke test passed" if run.ok else f"smoke test FAILED: {sum(not s.ok for s in run.steps)} step(s)"
    return "\n".join([*lines, verdict])


def steps_as_json(run: SmokeRun) -> dict[str, Any]:
    return {
        "ok": run.ok,
        "steps": [
            {"step": s.step, "tool": s.tool, "ok": s.ok, "detail": s.detail, "milliseconds": s.milliseconds}
            for s in run.steps
        ],
    }
