"""The simulated organisation: config IDs (from the contract), users, teams, schedules, escalation paths
(organisation.json)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from .errors import not_found

ORGANISATION_FILE = "organisation.json"
SHIFT_LENGTH = timedelta(days=1)


@cache
def _load_organisation() -> dict[str, Any]:
    text = resources.files(__package__).joinpath(ORGANISATION_FILE).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Directory:
    """Read-only lookups over the seeded organisation, rendered the way the REST API shapes them."""

    def __init__(self, document: dict[str, Any] | None = None, *, config: dict[str, Any] | None = None) -> None:
        """`document`: the directory (organisation.json's shape); `config`: the severities, statuses and types
        (the contract's organisation document; default: the simulator's own contract)."""
        source = copy.deepcopy(document if document is not None else _load_organisation())
        if config is None:
            from .schemas import shipped_contract

            config = shipped_contract().organisation
        self._config: dict[str, Any] = copy.deepcopy(config)
        self._users: list[dict[str, Any]] = source["users"]
        self._teams: list[dict[str, Any]] = source["teams"]
        self._schedules: list[dict[str, Any]] = source["schedules"]
        self._paths: list[dict[str, Any]] = source["escalation_paths"]

    # ---- organisation configuration (config://organisation) -----------------------------------

    def config(self) -> dict[str, Any]:
        return copy.deepcopy(self._config)

    def severity(self, severity_id: str) -> dict[str, Any] | None:
        return _by_id(self._config["severities"], severity_id)

    def status(self, status_id: str) -> dict[str, Any] | None:
        return _by_id(self._config["incident_statuses"], status_id)

    def first_status_in(self, category: str) -> dict[str, Any]:
        return next(s for s in self._config["incident_statuses"] if s["category"] == category)

    def incident_type(self, type_id: str) -> dict[str, Any] | None:
        return _by_id(self._config["incident_types"], type_id)

    def default_incident_type(self) -> dict[str, Any]:
        types: list[dict[str, Any]] = self._config["incident_types"]
        return next((t for t in types if t.get("is_default")), types[0])

    # ---- people ---------------------------------------------------------------------------------

    def user(self, user_id: str) -> dict[str, Any] | None:
        return _by_id(self._users, user_id)

    def user_by_id_or_email(self, reference: str) -> dict[str, Any] | None:
        return next((u for u in self._users if reference in (u["id"], u["email"])), None)

    def users(self, *, include_inactive: bool = False, email: str | None = None) -> list[dict[str, Any]]:
        chosen = [u for u in self._users if include_inactive or u["state"] == "active"]
        if email is not None:
            chosen = [u for u in chosen if u["email"].lower() == email.lower()]
        return copy.deepcopy(chosen)

    def user_summary(self, user_id: str) -> dict[str, Any]:
        user = self.user(user_id) or {"id": user_id, "name": "Unknown user", "email": ""}
        return {"id": user["id"], "name": user["name"], "email": user["email"]}

    def teams(self) -> list[dict[str, Any]]:
        return [{"id": t["id"], "name": t["name"], "member_ids": list(t["member_ids"])} for t in self._teams]

    # ---- schedules --------------------------------------------------------------------------------

    def schedule_ids(self, *, user: str | None = None) -> list[str]:
        if user is None:
            return [s["id"] for s in self._schedules]
        person = self.user_by_id_or_email(user)
        if person is None:
            return []
        return [s["id"] for s in self._schedules if person["id"] in s["user_ids"]]

    def render_schedule(
        self, schedule_id: str, now: datetime, window: tuple[datetime, datetime] | None = None
    ) -> dict[str, Any]:
        schedule = _by_id(self._schedules, schedule_id)
        if schedule is None:
            raise not_found("Schedule", schedule_id)
        current_start = _shift_start(schedule, now)
        current = self._shift(schedule, current_start)
        upcoming = [self._shift(schedule, current_start + SHIFT_LENGTH * n) for n in (1, 2)]
        rendered: dict[str, Any] = {
            "id": schedule["id"],
            "name": schedule["name"],
            "timezone": schedule["timezone"],
            "team_ids": list(schedule["team_ids"]),
            "current_shifts": [current],
            "next_shifts": upcoming,
            "config": {
                "rotations": [
                    {
                        "id": schedule["rotation_id"],
                        "name": schedule["rotation_name"],
                        "handover_start_at": iso(current_start),
                        "handovers": [{"interval": 1, "interval_type": "daily"}],
                        "layers": [{"id": schedule["layer_id"], "name": "Primary"}],
                        "users": [self.user_summary(u) for u in schedule["user_ids"]],
                    }
                ]
            },
        }
        if window is not None:
            rendered["shifts"] = self._shifts_between(schedule, *window)
            rendered["shifts_truncated"] = False
        return rendered

    def _shifts_between(self, schedule: dict[str, Any], start: datetime, end: datetime) -> list[dict[str, Any]]:
        shifts: list[dict[str, Any]] = []
        shift_start = _shift_start(schedule, start)
        while shift_start < end and len(shifts) < 100:
            shifts.append(self._shift(schedule, shift_start))
            shift_start += SHIFT_LENGTH
        return shifts

    def _shift(self, schedule: dict[str, Any], start: datetime) -> dict[str, Any]:
        rotation: list[str] = schedule["user_ids"]
        user_id = rotation[(start - datetime(1970, 1, 1, tzinfo=UTC)).days % len(rotation)]
        user = self.user_summary(user_id)
        return {
            "start_at": iso(start),
            "end_at": iso(start + SHIFT_LENGTH),
            "user": user,
            "user_name": user["name"],
            "rotation_id": schedule["rotation_id"],
            "layer_id": schedule["layer_id"],
            "layer_name": "Primary",
            "override_id": None,
            "uncovered": False,
        }

    # ---- escalation paths ---------------------------------------------------------------------

    def escalation_path_ids(self) -> list[str]:
        return [p["id"] for p in self._paths]

    def escalation_path(self, path_id: str) -> dict[str, Any] | None:
        return _by_id(self._paths, path_id)

    def render_escalation_path(self, path_id: str, now: datetime, *, with_on_call: bool) -> dict[str, Any]:
        path = self.escalation_path(path_id)
        if path is None:
            raise not_found("Escalation path", path_id)
        levels = []
        for number, level in enumerate(path["levels"], start=1):
            targets = [self._render_target(target, now, with_on_call=with_on_call) for target in level["targets"]]
            levels.append({"level": number, "time_to_ack_seconds": level["time_to_ack_seconds"], "targets": targets})
        return {"id": path["id"], "name": path["name"], "team_ids": list(path["team_ids"]), "levels": levels}

    def _render_target(self, target: dict[str, Any], now: datetime, *, with_on_call: bool) -> dict[str, Any]:
        if target["type"] == "user":
            user = self.user_summary(target["id"])
            rendered = {"type": "user", "id": user["id"], "name": user["name"]}
            if with_on_call:
                rendered["current_on_call"] = [user]
            return rendered
        schedule = _by_id(self._schedules, target["id"])
        assert schedule is not None, "organisation.json: escalation path names an unknown schedule"
        rendered = {"type": "schedule", "id": schedule["id"], "name": schedule["name"]}
        if with_on_call:
            rendered["current_on_call"] = [self._shift(schedule, _shift_start(schedule, now))["user"]]
        return rendered

    def on_call_user_ids(self, path_id: str, now: datetime) -> list[str]:
        """Who a page on this path reaches first: the level-1 targets' current on-call users."""
        rendered = self.render_escalation_path(path_id, now, with_on_call=True)
        return [user["id"] for target in rendered["levels"][0]["targets"] for user in target["current_on_call"]]


def _by_id(items: list[dict[str, Any]], item_id: str) -> dict[str, Any] | None:
    found = next((item for item in items if item["id"] == item_id), None)
    return copy.deepcopy(found) if found is not None else None


def _shift_start(schedule: dict[str, Any], moment: datetime) -> datetime:
    """The start of the daily shift containing `moment` (handover at a fixed UTC hour)."""
    handover = moment.astimezone(UTC).replace(hour=schedule["handover_hour_utc"], minute=0, second=0, microsecond=0)
    return handover if handover <= moment else handover - SHIFT_LENGTH
