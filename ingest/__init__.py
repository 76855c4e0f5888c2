"""MQTT collector: decode payloads, validate, normalize units, batch and write readings.

A reading travels: broker → :mod:`ingest.collector` (network loop only moves bytes) →
:mod:`ingest.formats` (pure decoding into :class:`ingest.model.Decoded`) →
:mod:`ingest.batch` (point lookup, time checks, batching) → :mod:`store.writer` (binary COPY).
"""

from ingest.model import Decoded, IngestError, Rejection

__all__ = ["Decoded", "IngestError", "Rejection"]
