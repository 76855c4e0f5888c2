"""Hostile payloads: the decoder never raises, keeps nothing, and says why."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.formats import Decoder, default_routes
from ingest.model import REJECTION_CODES
from tests.ingest.hostile import hostile_payloads

LIMIT = 4096
DECODER = Decoder(default_routes(), max_payload_bytes=LIMIT)
NOW = 1_795_392_000_000_000


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_payloads(max_payload_bytes=LIMIT))
def test_hostile_payloads_are_refused_entirely(message: tuple[str, bytes]) -> None:
    topic, payload = message
    fmt, out = DECODER.decode(topic, payload, received_us=NOW)
    assert len(out) == 0, (fmt, out)
    assert out.rejections
    for rejection in out.rejections:
        assert rejection.code in REJECTION_CODES
        assert rejection.field and rejection.reason
        assert "internal decoder error" not in rejection.reason, rejection


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.binary(max_size=200))
def test_any_topic_and_bytes_never_raise(topic: str, payload: bytes) -> None:
    fmt, out = DECODER.decode(topic, payload, received_us=NOW)
    assert len(out) + len(out.rejections) >= 1
    assert all(r.code in REJECTION_CODES for r in out.rejections)
