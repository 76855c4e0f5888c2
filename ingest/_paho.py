"""What paho-mqtt lacks for a batching collector: acknowledging many messages at once.

``Client.ack(mid, qos)`` queues one 4-byte PUBACK and wakes paho's network thread through a
socket pair, one system call per message on each side. A collector acknowledges a whole
batch after its commit, so it queues all PUBACKs of the batch as one write instead. This
reaches into paho 2.x internals (``_out_packet``, ``_sockpairW``); when they are missing it
falls back to ``Client.ack``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import paho.mqtt.client as mqtt

_PUBACK = struct.Struct("!BBH")
_PUBACK_CMD = 0x40


def ack_qos1(client: mqtt.Client, mids: Sequence[int]) -> None:
    """Send PUBACK for QoS 1 messages ``mids`` in one write."""
    if not mids:
        return
    out = getattr(client, "_out_packet", None)
    if out is None or not hasattr(out, "append"):
        for mid in mids:
            client.ack(mid, 1)
        return
    packet = b"".join([_PUBACK.pack(_PUBACK_CMD, 2, mid) for mid in mids])
    out.append(
        {
            "command": _PUBACK_CMD,
            "mid": mids[-1],
            "qos": 1,
            "pos": 0,
            "to_process": len(packet),
            "packet": packet,
            "info": None,
        }
    )
    wake = getattr(client, "_sockpairW", None)
    if wake is not None:
        try:
            wake.send(b"0")
        except BlockingIOError:
            pass
