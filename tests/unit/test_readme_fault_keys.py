"""The README's table of the simulator's fault keys is the set `POST /_sim/faults` accepts: a key added to (or
dropped from) `simulator/faults.py` without the README fails here, and so does a documented example the
simulator refuses or ignores."""

from __future__ import annotations

import json
import re
from dataclasses import fields

import pytest

from alert_courier_local.simulator import Simulator
from alert_courier_local.simulator.faults import Faults, merge_faults
from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"


def documented_fault_rows() -> dict[str, str]:
    """`key` → example, from the table under "### Simulator faults and answer styles"."""
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^### Simulator faults and answer styles\n(.*?)^#", text, re.S | re.M)
    assert section, "README has no '### Simulator faults and answer styles' section"
    rows = re.findall(r"^\| `(\w+)` \| `([^`]+)` \|", section.group(1), re.M)
    assert rows, "the section has no | `key` | `example` | ... | table"
    assert len({key for key, _ in rows}) == len(rows), "a key is documented twice"
    return dict(rows)


def test_the_readme_documents_exactly_the_keys_the_simulator_accepts() -> None:
    accepted = {f.name for f in fields(Faults)}
    documented = set(documented_fault_rows())
    assert documented - accepted == set(), "documented but not accepted by /_sim/faults"
    assert accepted - documented == set(), "accepted by /_sim/faults but not in the README's table"


@pytest.mark.parametrize(("key", "example"), sorted(documented_fault_rows().items()))
def test_each_documented_example_is_accepted_and_takes_effect(key: str, example: str) -> None:
    value = json.loads(example)
    assert key in merge_faults(Faults(), {key: value}).snapshot(), f"{key}={example} changes nothing"
    simulator = Simulator()
    assert key in simulator.set_faults({key: value})  # through the simulator, as POST /_sim/faults applies it
    assert key not in simulator.set_faults({key: None})  # and null clears it again
