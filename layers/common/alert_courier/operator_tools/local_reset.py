"""`alert-courier reset --local`: a fresh start for the local stack, through its front door's `POST /_local/reset`
(alert-courier's tables, queue and DLQ emptied; the simulator reset). Only ever the local stack: the caller has
checked that what answers at the LOCAL_* endpoints is one. Standard library only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from alert_courier.operator_tools.cli_errors import CliError
from alert_courier.operator_tools.local_settings import FRONT_DOOR_PORT_VARIABLE, LocalEndpoints

RESET_PATH = "/_local/reset"
RESET_TIMEOUT_SECONDS = 60  # waits for the batch a dispatch worker is handling


def reset_local_stack(endpoints: LocalEndpoints) -> dict[str, Any]:
    url = f"{endpoints.front_door_url}{RESET_PATH}"
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=RESET_TIMEOUT_SECONDS) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise CliError(
            f"what answers at {endpoints.front_door_url} is not an alert-courier local stack's front door "
            f"({RESET_PATH} answered {error.code}); check {FRONT_DOOR_PORT_VARIABLE}"
        ) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CliError(
            f"no local stack front door answers at {url} ({reason}): start it with `make run`, "
            f"or set {FRONT_DOOR_PORT_VARIABLE} to its port"
        ) from None
    except ValueError:
        answer = None
    if not (isinstance(answer, dict) and answer.get("reset") is True):
        raise CliError(f"{url} did not answer as an alert-courier local stack does (no reset confirmation)")
    return answer


def format_reset(answer: dict[str, Any]) -> str:
    return (
        f"local stack reset: {answer.get('items_deleted', 0)} state item(s) deleted, "
        f"{answer.get('messages_purged', 0)} queued message(s) purged, simulator reset"
    )
