"""Each quirk of a real sender, in a payload of our own, through the ingest handler (see tests/quirk_payloads.py)."""

from __future__ import annotations

import pytest

from tests.ingest_harness import answer_body, http_event, invoke
from tests.quirk_payloads import QUIRKS, Quirk


@pytest.mark.parametrize("quirk", QUIRKS, ids=[quirk.name for quirk in QUIRKS])
def test_a_sender_quirk(quirk: Quirk) -> None:
    answer, sqs = invoke(http_event(quirk.source, quirk.body))
    body = answer_body(answer)
    assert answer["statusCode"] == quirk.status, body
    alerts = [envelope.alert for envelope in sqs.envelopes()]
    if quirk.status >= 400:
        assert alerts == [] and quirk.reason_word in body["error"]["reason"]
        return
    assert body["accepted"] == len(alerts) == quirk.alerts
    quirk.check(alerts)
