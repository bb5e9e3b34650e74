"""`alert-courier silence add|list|expire`: maintenance windows from the command line, written straight to the
deployment's state table (your AWS credentials, no webhook secret), validated as `POST /maintenance` validates."""

from __future__ import annotations

import argparse
import getpass
import json
from datetime import UTC, datetime
from typing import Any

import yaml
from pydantic import ValidationError

from alert_courier.domain.maintenance import MAX_WINDOWS, MaintenanceWindow, WindowRequest, WindowTimesInvalid
from alert_courier.operator_tools.cli_errors import CliError


def add_parser(commands: Any, where: argparse.ArgumentParser) -> None:
    silence = commands.add_parser("silence", help="maintenance windows: hold matching alerts for a while")
    actions = silence.add_subparsers(dest="silence_command", required=True)
    add = actions.add_parser(
        "add",
        parents=[where],
        help="open a window",
        description="Open a maintenance window: matching alerts are recorded and not acted on until it ends.",
    )
    add.add_argument("--match", help="the rules' matcher syntax as YAML/JSON, e.g. '{labels: {team: payments}}'")
    add.add_argument("--label", action="append", default=[], metavar="NAME=VALUE", help="labels to equal (repeat)")
    add.add_argument("--duration", help="30m, 2h, 1h30m (or --ends-at)")
    add.add_argument("--ends-at", help="ISO 8601 with a time zone, e.g. 2026-12-02T18:00:00Z")
    add.add_argument("--starts-at", help="ISO 8601 with a time zone (default: now)")
    add.add_argument("--reason", required=True)
    add.add_argument("--created-by", default=None, help="default: your user name")
    add.add_argument("--on-end", choices=["reevaluate", "drop"], default="reevaluate")
    add.add_argument("--resolves", choices=["close", "hold"], default="close")
    actions.add_parser("list", parents=[where], help="windows scheduled, open and (with --all) ended").add_argument(
        "--all", action="store_true", help="ended windows too (kept 30 days)"
    )
    expire = actions.add_parser("expire", parents=[where], help="end a window now (what it held is then acted on)")
    expire.add_argument("window_id")
    expire.add_argument("--by", default=None, help="who ended it (default: your user name)")


def _request(args: argparse.Namespace) -> WindowRequest:
    try:
        match: Any = yaml.safe_load(args.match) if args.match else {}
    except yaml.YAMLError as error:
        raise CliError(f"--match is not YAML/JSON: {getattr(error, 'problem', error)}") from None
    if not isinstance(match, dict):
        raise CliError("--match: give a mapping, e.g. '{labels: {team: payments}}'")
    labels = dict(match.get("labels") or {})
    for pair in args.label:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise CliError(f"--label {pair!r}: give NAME=VALUE")
        labels[name] = value
    if labels:
        match["labels"] = labels
    if not match:
        raise CliError("say what the window matches: --label NAME=VALUE or --match '{...}' (--match '{}': every alert)")
    body = {
        "match": match,
        "starts_at": args.starts_at,
        "ends_at": args.ends_at,
        "duration": args.duration,
        "reason": args.reason,
        "created_by": args.created_by or getpass.getuser(),
        "on_end": args.on_end,
        "resolves": args.resolves,
    }
    try:
        return WindowRequest.model_validate({key: value for key, value in body.items() if value is not None})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "window"
        raise CliError(f"{where}: {str(first['msg']).removeprefix('Value error, ')}") from None


def run(args: argparse.Namespace, store: Any) -> int:
    now = datetime.now(UTC)
    if args.silence_command == "add":
        request = _request(args)
        if sum(1 for window in store.windows() if window.status(now) != "ended") >= MAX_WINDOWS:
            raise CliError(f"{MAX_WINDOWS} windows are open or scheduled already: expire some first")
        try:
            window = store.add(request.window(store.new_id(), now))
        except WindowTimesInvalid as error:
            raise CliError(f"{error.field}: {error}") from None
        return _show([window], now, args.json, held=None)
    if args.silence_command == "expire":
        from alert_courier.aws.maintenance_store import UnknownWindow

        try:
            window = store.expire(args.window_id, now, args.by or getpass.getuser())
        except UnknownWindow:
            raise CliError(
                f"no maintenance window {args.window_id!r} (see `alert-courier silence list --all`)"
            ) from None
        return _show([window], now, args.json, held=None)
    windows = store.all_windows() if args.all else store.windows()  # not yet settled: scheduled, open, just ended
    held = {window.id: store.held_count(window.id) for window in windows if window.settled_at is None}
    return _show(windows, now, args.json, held=held)


def _show(windows: list[MaintenanceWindow], now: datetime, as_json: bool, *, held: dict[str, int] | None) -> int:
    if as_json:
        shown = [
            {**window.public(now), **({"held": held[window.id]} if held and window.id in held else {})}
            for window in windows
        ]
        print(json.dumps(shown if held is not None else shown[0], indent=2))
        return 0
    if not windows:
        print("no maintenance windows")
    for window in windows:
        match = json.dumps(window.match.model_dump(mode="json", by_alias=True, exclude_defaults=True))
        count = f", holding {held[window.id]}" if held and window.id in held else ""
        ended = f", ended by {window.expired_by}" if window.expired_by else ""
        print(
            f"{window.id}  {window.status(now):9}  {window.starts_at.isoformat()} → {window.ends_at.isoformat()}  "
            f"match {match}  on_end {window.on_end}, resolves {window.resolves}{count}  "
            f"— {window.reason} (by {window.created_by}{ended})"
        )
    return 0
