"""A small world for the API tests: two institutions, each with a simulated office or
school (three July days written as the collector writes them), a finding and an EMC
contract; tokens of each role; a TestClient around the app."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from alerting.engine import evaluate
from api.main import create_app
from jieneng import emc
from jieneng.settings import Settings
from simulators.backfill import import_portfolio, point_ids
from simulators.buildings import Simulator
from simulators.faults import DEFAULT_RATES
from simulators.portfolio import make_portfolio
from store import tokens
from store.alerts import put_rule
from store.findings import refresh_rollups_if_idle
from store.registry_import import import_document
from store.writer import ReadingWriter
from tests.fix_db import Database

START = dt.date(2026, 7, 1)
DAYS = 3


@pytest.fixture(scope="module")
def world(plain_database: Database) -> Iterator[dict]:
    """The world on plain PostgreSQL."""
    yield from _build(plain_database)


@pytest.fixture(scope="module")
def world_any(database: Database) -> Iterator[dict]:
    """The world on each storage path (TimescaleDB skips cleanly without the extension)."""
    yield from _build(database)


def _build(plain_database: Database) -> Iterator[dict]:
    portfolio = make_portfolio(2, seed=8)
    sim = Simulator(portfolio, seed=8, fault_rates=dict.fromkeys(DEFAULT_RATES, 0.0))
    energy = []
    with plain_database.connect() as conn:
        import_portfolio(conn, portfolio)
        conn.commit()
        keys = [p.key for p in sim.points]
        ids = point_ids(conn, keys)
        writer = ReadingWriter(plain_database.backend, collector="test")
        for n in range(-1, DAYS + 1):
            d = sim.day(START + dt.timedelta(days=n))
            if 0 <= n < DAYS:
                energy.append(d.energy.sum(axis=1))
            idx, t, v = d.readings()
            writer.write(conn, ids[idx], t, v)
            conn.commit()
        a, b = portfolio.buildings[0], portfolio.buildings[1]
        mains = {x.code: next(k for k in keys if k.startswith(x.code) and k.endswith("/elec/main"))
                 for x in (a, b)}  # fmt: skip
        for x in (a, b):
            conn.execute(
                """INSERT INTO anomalies (point_id, building_id, rule, status, started_at,
                       ended_at, last_seen_at, run_count, severity, waste, waste_unit, kgce,
                       kgco2, cny, detector_version, runs)
                   SELECT p.id, p.building_id, 'after_hours', 'open', '2026-07-01T12:00Z',
                          '2026-07-01T22:00Z', now(), 1, 'medium', 40, 'kWh', 4.9, 22, 32, 't',
                          %s
                   FROM points p WHERE p.key = %s""",
                (
                    Jsonb(
                        [
                            {
                                "start": "2026-07-01T12:00:00Z",
                                "end": "2026-07-01T22:00:00Z",
                                "severity": "medium",
                                "waste": 40,
                                "kgce": 4.9,
                                "kgco2": 22,
                                "cny": 32,
                            }
                        ]
                    ),
                    mains[x.code],
                ),  # fmt: skip
            )
            import_document(
                conn,
                {"emc_contracts": [{
                    "code": f"EMC-{x.code}", "institution": x.institution, "name": "照明改造",
                    "kind": "shared_savings", "meter": mains[x.code], "baseline_end": "2026-07-02",
                    "reporting_start": "2026-07-02", "price": 0.8, "esco_share": 0.7,
                }]},
            )  # fmt: skip
        # A rule for every institution's waste findings, no channels: one alert each.
        put_rule(conn, "all-waste", None, {})
        evaluate(conn, now=dt.datetime(2026, 7, 2, tzinfo=dt.UTC))
        alert_ids = dict(
            conn.execute(
                "SELECT b.code, a.id FROM alerts a JOIN buildings b ON b.id = a.building_id"
            ).fetchall()
        )
        finding_ids = dict(
            conn.execute(
                "SELECT b.code, a.id FROM anomalies a JOIN buildings b ON b.id = a.building_id"
            ).fetchall()
        )
        only_a = [a.institution]
        made = {
            "engineer_a": tokens.create(conn, role="engineer", name="a", institutions=only_a),
            "viewer_a": tokens.create(conn, role="viewer", name="va", institutions=only_a),
            "admin": tokens.create(conn, role="admin", name="root"),
            "revoked": tokens.create(conn, role="admin", name="gone"),
        }  # fmt: skip
        tokens.revoke(conn, made["revoked"][0][:10])
        conn.commit()
    with plain_database.connect(autocommit=True) as conn:
        refresh_rollups_if_idle(conn)  # the collector's upkeep does it in the service
        # Stored M&V (the audit & M&V dashboard's): A's July settled, every contract to date.
        emc.settle(conn, f"EMC-{a.code}", "2026-07")
        emc.measure_to_date(conn, START + dt.timedelta(days=DAYS))
    app = create_app(Settings(database_url=plain_database.url))
    with TestClient(app) as client:
        yield {
            "client": client,
            "url": plain_database.url,
            "a": a,
            "b": b,
            "mains": mains,
            "findings": finding_ids,
            "alerts": alert_ids,
            "tokens": {k: v[0] for k, v in made.items()},
            "truth": dict(zip(keys, np.stack(energy, axis=1), strict=True)),
        }


def auth(world: dict, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world['tokens'][who]}"}
