"""Shared test helpers: paths to the repo's sample events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EVENTS = REPO_ROOT / "events"


def load_event(relative: str) -> Any:
    return json.loads((EVENTS / relative).read_text())


@pytest.fixture
def alertmanager_firing() -> dict[str, Any]:
    return load_event("alertmanager/firing.json")


@pytest.fixture
def alertmanager_resolved() -> dict[str, Any]:
    return load_event("alertmanager/resolved.json")
