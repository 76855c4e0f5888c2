"""Every dashboard, built: its structure (ids, grid, datasource, variables, units) and every
panel's SQL — Grafana's macros and variables expanded as Grafana expands them — run as the
read-only role against a database the simulators filled, returning the columns the panel
expects."""

from __future__ import annotations

import datetime as dt
import itertools

import psycopg
import pytest

from grafana import macros
from grafana.dashboards import DATASOURCE_UID, all_dashboards

START = dt.datetime(2026, 7, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
END = START + dt.timedelta(days=3)
NUMERIC = {"timeseries", "stat", "table"}


def _queries(dashboard: dict) -> list[tuple[str, dict]]:
    """(where, target) of every panel query and annotation."""
    out = [(f"{p['title']} {t['refId']}", t | {"type": p["type"]})
           for p in dashboard["panels"] for t in p.get("targets", [])]  # fmt: skip
    for a in dashboard["annotations"]["list"]:
        if "target" in a:
            out.append((f"annotation {a['name']}", a["target"] | {"type": "annotation"}))
    return out


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_structure(lang: str) -> None:
    boards = all_dashboards(lang)
    assert len({d["uid"] for d in boards}) == len(boards) == 5
    for d in boards:
        panels = d["panels"]
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)), d["title"]
        cells = [
            {(x, y) for x in range(p["gridPos"]["x"], p["gridPos"]["x"] + p["gridPos"]["w"])
             for y in range(p["gridPos"]["y"], p["gridPos"]["y"] + p["gridPos"]["h"])}
            for p in panels
        ]  # fmt: skip
        for (i, a), (j, b) in itertools.combinations(enumerate(cells), 2):
            assert not a & b, f"{d['title']}: panels {ids[i]} and {ids[j]} overlap"
        assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels)
        names = {v["name"] for v in d["templating"]["list"]}
        for v in d["templating"]["list"]:
            if v["type"] == "query":
                assert v["datasource"]["uid"] == DATASOURCE_UID
                assert macros.referenced(v["query"]) <= names
        for where, target in _queries(d):
            assert target["datasource"]["uid"] == DATASOURCE_UID, where
            assert macros.referenced(target["rawSql"]) <= names, where
        for p in panels:
            assert p["datasource"]["uid"] == DATASOURCE_UID
            if p["type"] in NUMERIC:
                unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
                assert unit, f"{d['title']}: {p['title']} has no unit"
        if lang == "zh":
            assert any("\u4e00" <= ch <= "\u9fff" for ch in d["title"])


def test_every_panel_query_runs_as_the_reader(world_any: dict) -> None:
    world = world_any
    a = world["a"]
    ran = empty = 0
    with psycopg.connect(world["url"], autocommit=True) as conn:
        (settled,) = conn.execute(
            "SELECT id FROM mv_results WHERE purpose = 'settlement'"
        ).fetchone()
        variables = {
            "institution": [world["a"].institution, world["b"].institution],
            "building": a.code,
            "energy_class": ["01"],
            "point": world["mains"][a.code],
            "result": str(settled),
        }
        conn.execute("SET ROLE jieneng_reader")
        for lang in ("zh", "en"):
            for d in all_dashboards(lang):
                for v in d["templating"]["list"]:
                    if v["type"] == "query":
                        sql = macros.expand(v["query"], start=START, end=END, interval_s=3600,
                                            variables=variables)  # fmt: skip
                        assert conn.execute(sql).fetchall(), v["name"]
                for where, target in _queries(d):
                    sql = macros.expand(target["rawSql"], start=START, end=END, interval_s=3600,
                                        variables=variables)  # fmt: skip
                    cur = conn.execute(sql)
                    columns = [c.name for c in cur.description]
                    rows = cur.fetchall()
                    ran += 1
                    if target["type"] == "annotation":
                        assert columns[:3] == ["time", "timeend", "text"], where
                    elif target["format"] == "time_series":
                        assert columns[0] == "time", where
                        assert rows, f"{d['title']}: {where} returned nothing"
                    elif not rows:
                        empty += 1  # "today" panels over a simulated July
    assert ran >= 2 * 22 and empty <= 2 * 2


def test_the_reader_cannot_write_or_read_credentials(world: dict) -> None:
    with psycopg.connect(world["url"], autocommit=True) as conn:
        conn.execute("SET ROLE jieneng_reader")
        assert conn.execute("SELECT count(*) FROM v_buildings").fetchone()[0] == 2
        for query in (
            "SELECT * FROM api_tokens",
            "SELECT webhook_secret FROM alert_rules",
            "SELECT * FROM notifications",
            "SELECT * FROM readings LIMIT 1",
            "INSERT INTO readings (time, point_id, value) VALUES (now(), 1, 1)",
            "UPDATE points SET name = 'x'",
            "DELETE FROM anomalies",
            "CREATE TABLE mine (x int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(query)
