"""An alert's life, end to end: a simulated fault (lights left on three nights) → the
analysis job's finding → an alert with its cost per day → a signed webhook to a local HTTP
server, a mail to a local SMTP server (aiosmtpd) and an MQTT message → acknowledged through
the API → resolved when the fault has ended, with its notifications; analysing again makes
no second alert and sends nothing twice."""

from __future__ import annotations

import datetime as dt
import gc
import http.server
import socket
import threading
import warnings
from email import message_from_string, policy
from zoneinfo import ZoneInfo

import orjson
import paho.mqtt.client as mqtt
import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from alerting import engine, notify
from api.main import create_app
from jieneng import analyze as job
from jieneng.settings import Settings
from simulators.backfill import import_portfolio, point_ids
from simulators.buildings import Simulator
from simulators.faults import DEFAULT_RATES, Fault
from simulators.portfolio import make_portfolio
from store import tokens
from store.writer import ReadingWriter
from tests.fix_db import Database
from tests.fix_mqtt import Broker

pytestmark = pytest.mark.slow
TZ = ZoneInfo("Asia/Shanghai")
START = dt.date(2026, 3, 2)
DAYS = 41
SECRET = "s3cret-for-the-test"


def day(n: float) -> dt.datetime:
    return dt.datetime.combine(START, dt.time(), TZ) + dt.timedelta(days=n)


def us(t: dt.datetime) -> int:
    return int(t.timestamp() * 1e6)


class Hooks(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hooks.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802, ANN001
        self.messages.append((envelope.rcpt_tos[0], envelope.content.decode("utf-8", "replace")))
        return "250 OK"


@pytest.fixture(scope="module")
def services():
    hooks = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    mailbox = Mailbox()
    with socket.socket() as probe:  # aiosmtpd needs a port number, not 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(mailbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        yield {"webhook": f"http://127.0.0.1:{hooks.server_address[1]}/hook", "smtp": smtp,
               "mailbox": mailbox}  # fmt: skip
    finally:
        smtp.stop()
        hooks.shutdown()
        hooks.server_close()
        # aiosmtpd leaves the server side of its start-up probe connection to the collector.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


def test_alert_lifecycle(plain_database: Database, broker: Broker, services: dict) -> None:
    portfolio = make_portfolio(1, seed=4)
    building = portfolio.buildings[0]
    lights = building.point("01A").key
    # Lights left on (60 % of the day's level) the nights of days 33, 34 and 35.
    fault = Fault(building.code, lights, "after_hours_lighting", us(day(33.75)), us(day(36.29)),
                  {"level": 0.6})  # fmt: skip
    sim = Simulator(portfolio, seed=4, fault_rates=dict.fromkeys(DEFAULT_RATES, 0.0),
                    scripted=[fault])  # fmt: skip
    with plain_database.connect() as conn:
        import_portfolio(conn, portfolio)
        conn.commit()
        ids = point_ids(conn, [p.key for p in sim.points])
        writer = ReadingWriter(plain_database.backend, collector="test")
        for n in range(DAYS):
            idx, t, v = sim.day(START + dt.timedelta(days=n)).readings()
            writer.write(conn, ids[idx], t, v)
            conn.commit()
        engineer, _ = tokens.create(conn, role="engineer", name="张工",
                                    institutions=[building.institution])  # fmt: skip
        viewer, _ = tokens.create(conn, role="viewer", name="看板",
                                  institutions=[building.institution])  # fmt: skip
        conn.commit()
    smtp = services["smtp"]
    settings = Settings(
        database_url=plain_database.url,
        broker_url=broker.url,
        analyze_days=36,
        smtp_host=smtp.hostname,
        smtp_port=smtp.port,
    )
    heard: list[tuple[str, dict]] = []
    listener = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    listener.on_message = lambda c, u, m: heard.append((m.topic, orjson.loads(m.payload)))
    listener.connect(broker.host, broker.port)
    listener.subscribe("jieneng/alerts/#", qos=1)
    listener.loop_start()
    as_engineer = {"Authorization": f"Bearer {engineer}"}
    with TestClient(create_app(settings)) as client:
        rule = {
            "institution": building.institution,
            "rules": ["after_hours"],
            "clear_after_minutes": 120,
            "webhook_url": services["webhook"],
            "webhook_secret": SECRET,
            "emails": ["facilities@example.org"],
            "mqtt": True,
        }
        r = client.put("/alert-rules/lights", json=rule, headers=as_engineer)
        assert r.status_code == 200, r.text
        assert r.json()["webhook_secret"] is None  # never read back

        def analyse_and_alert(until: dt.datetime) -> tuple[dict, dict]:
            job.run_once(settings, until=until)
            with plain_database.connect(autocommit=True) as conn:
                evaluated = engine.evaluate(conn, now=until)
                delivered = engine.deliver(conn, settings, now=until)
            return evaluated, delivered

        # The third night has just ended: the finding is open; one alert, three messages.
        evaluated, delivered = analyse_and_alert(day(36.5))
        assert (evaluated["opened"], delivered["sent"]) == (1, 3), (evaluated, delivered)
        alerts = client.get("/alerts", headers=as_engineer).json()
        assert len(alerts) == 1
        alert = alerts[0]
        assert alert["status"] == "open" and alert["rule"] == "after_hours"
        assert alert["cny_per_day"] > 0 and alert["kgce_per_day"] > 0  # what it costs a day
        assert alert["kgce_per_day"] == pytest.approx(alert["waste_per_day"] * 0.1229)
        headers, body = Hooks.received[0]
        assert notify.verify(SECRET, headers["X-Jieneng-Timestamp"],
                             headers["X-Jieneng-Signature"], body)  # fmt: skip
        assert orjson.loads(body)["event"] == "opened"
        to, mail = services["mailbox"].messages[0]
        mail = message_from_string(mail, policy=policy.default)
        assert to == "facilities@example.org" and "下班后照明插座" in mail["Subject"]
        assert "每天浪费 waste per day" in mail.get_content()
        listener_deadline = dt.datetime.now() + dt.timedelta(seconds=5)
        while not heard and dt.datetime.now() < listener_deadline:
            threading.Event().wait(0.05)
        assert heard and heard[0][0] == f"jieneng/alerts/{building.code}"

        # Analysing the same window again changes nothing and sends nothing.
        evaluated, delivered = analyse_and_alert(day(36.5))
        assert evaluated["opened"] == 0 and delivered["sent"] == 0
        assert len(client.get("/alerts", headers=as_engineer).json()) == 1

        # A viewer cannot acknowledge; the engineer can.
        viewer_h = {"Authorization": f"Bearer {viewer}"}
        assert client.post(f"/alerts/{alert['id']}/ack", headers=viewer_h).status_code == 403
        r = client.post(f"/alerts/{alert['id']}/ack", json={"note": "去看看"}, headers=as_engineer)
        assert r.status_code == 200 and r.json()["acknowledged_by"] == "张工"

        # Four days later the lights have long been off: the finding has closed, the alert
        # resolves and says so on every channel.
        evaluated, delivered = analyse_and_alert(day(40))
        assert evaluated["resolved"] == 1 and delivered["sent"] == 3, (evaluated, delivered)
        done = client.get(f"/alerts/{alert['id']}", headers=as_engineer).json()
        assert done["status"] == "resolved" and done["resolved_by"] == "system"
        kinds = [e["kind"] for e in done["history"]]
        assert kinds[0] == "opened" and "acknowledged" in kinds and kinds[-1] == "notified"
        assert kinds.count("notified") == 6
        assert orjson.loads(Hooks.received[-1][1])["event"] == "resolved"
        last = message_from_string(services["mailbox"].messages[-1][1], policy=policy.default)
        assert last["Subject"].startswith("[已恢复")
        evaluated, delivered = analyse_and_alert(day(40))
        assert sum(evaluated.values()) == 0 and sum(delivered.values()) == 0
        assert len(Hooks.received) == 2 and len(services["mailbox"].messages) == 2
    listener.loop_stop()
    listener.disconnect()
