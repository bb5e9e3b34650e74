"""`python -m alert_courier_local.simulator`: serve the incident.io simulator until Ctrl-C, one line per call."""

from __future__ import annotations

import argparse
import os
import threading

from . import DEFAULT_API_KEY, DEFAULT_HOST, DEFAULT_PORT, SimEvent, start_simulator

API_KEYS_ENV = "ALERT_COURIER_SIM_API_KEYS"  # comma-separated; keeps keys out of the process list


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alert_courier_local.simulator", description=__doc__)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        help=f"an accepted API key (repeatable; default {DEFAULT_API_KEY!r}, or ${API_KEYS_ENV})",
    )
    parser.add_argument("--quiet", action="store_true", help="do not print a line per call")
    options = parser.parse_args(argv)
    from_env = [key.strip() for key in os.environ.get(API_KEYS_ENV, "").split(",") if key.strip()]
    api_keys = set(options.api_keys or from_env or [DEFAULT_API_KEY])

    running = start_simulator(
        options.host, options.port, api_keys, on_event=None if options.quiet else _print_event, log_level="warning"
    )
    print(f"sim  incident.io simulator on {running.url} (MCP at {running.mcp_url}; {len(api_keys)} key(s))", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
    return 0


def _print_event(event: SimEvent) -> None:
    print(event.line, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
