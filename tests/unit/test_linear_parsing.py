"""No regular expression or loop on sender text is worse than linear: sizes that would take minutes if quadratic."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from alert_courier.sources.datadog import _labels, _title, parse_title
from tests.conftest import load_event
from tests.ingest_harness import answer_body, post

MEGABYTE = 1_000_000


def hostile_title(size: int) -> str:
    return "[a" + " " * size + "x"  # took ~15 s at 100,000 with the old title regex (quadratic)


def fastest_of_three(work: Callable[[], object]) -> float:
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


@pytest.mark.timeout(20)  # quadratic at this size: ~25 minutes
def test_the_datadog_title_regex_on_a_megabyte_of_spaces() -> None:
    assert parse_title(hostile_title(MEGABYTE)) is None
    assert parse_title("[Triggered on {" + " " * MEGABYTE) is None
    assert parse_title("[Triggered on" + " " * MEGABYTE + "{a:b}] x") is None


def test_the_title_regex_grows_linearly() -> None:
    small_title, large_title = hostile_title(2 * MEGABYTE), hostile_title(20 * MEGABYTE)
    small = fastest_of_three(lambda: parse_title(small_title))
    large = fastest_of_three(lambda: parse_title(large_title))
    # linear is 10x; below a millisecond the timer's noise decides the ratio, and quadratic would be minutes
    assert large <= 12 * small or large < 0.001, (small, large)


def test_the_title_still_reads_every_documented_prefix() -> None:
    parts = parse_title("[P2] [Re-No Data on {host:web-3,env:prod}] Disk  ")
    assert parts is not None
    assert (parts.priority, parts.transition, parts.scope, parts.name) == (
        "P2",
        "Re-No Data",
        "env:prod,host:web-3",
        "Disk",
    )


@pytest.mark.timeout(20)
def test_tags_and_scopes_of_a_few_megabytes() -> None:
    many_of_one_key = ",".join(f"team:t{n}" for n in range(300_000))  # re-split per tag was quadratic
    assert len(_labels(many_of_one_key, "", "h")["team"].split(",")) == 300_000
    assert _title("x" * MEGABYTE, ",".join(f"k:v{n}" for n in range(300_000))).startswith("x")


@pytest.mark.timeout(30)
def test_a_six_megabyte_default_template_title_through_the_handler() -> None:
    event = load_event("datadog/default-template-triggered.json")
    event["title"] = hostile_title(6 * 1024 * 1024 - 4096)
    answer, sqs = post("datadog", event)
    assert answer["statusCode"] == 422  # no status prefix: the default template's status cannot be read
    assert answer_body(answer)["error"]["field"] == "title"
    assert sqs.queued == []
