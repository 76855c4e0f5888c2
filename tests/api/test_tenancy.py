"""The API on a real database: two institutions, each with a simulated building, a finding
and an EMC contract; tokens of each role. An engineer of A sees A and nothing of B (404, as
if B did not exist) and cannot write B; a viewer cannot write; no token, no answer."""

from __future__ import annotations

import json

import pytest

from tests.fix_api import DAYS, auth


def test_no_token_bad_token_revoked_token(world: dict) -> None:
    client = world["client"]
    assert client.get("/buildings").status_code == 401
    assert client.get("/buildings", headers={"Authorization": "Bearer jn_nope"}).status_code == 401
    r = client.get("/buildings", headers=auth(world, "revoked"))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.get("/health").status_code == 200  # no token needed


def test_engineer_of_a_sees_a_only(world: dict) -> None:
    client, a, b = world["client"], world["a"], world["b"]
    h = auth(world, "engineer_a")
    assert [x["code"] for x in client.get("/buildings", headers=h).json()] == [a.code]
    assert [x["code"] for x in client.get("/institutions", headers=h).json()] == [a.institution]
    assert {x["building"] for x in client.get("/findings", headers=h).json()} == {a.code}
    assert [c["code"] for c in client.get("/contracts", headers=h).json()] == [f"EMC-{a.code}"]
    main_b = world["mains"][b.code]
    period = {"period": "2026-07"}
    hidden = [
        (f"/buildings/{b.code}", {}),
        (f"/buildings/{b.code}/consumption", {"start": "2026-07-01T00:00"}),
        (f"/buildings/{b.code}/latest", {}),
        (f"/buildings/{b.code}/audit", period),
        (f"/institutions/{b.institution}", {}),
        (f"/institutions/{b.institution}/audit", period),
        ("/point", {"key": main_b}),
        ("/readings", {"point": main_b, "start": "2026-07-01T00:00", "end": "2026-07-01T01:00"}),
        ("/series", {"point": main_b, "start": "2026-07-01T00:00", "end": "2026-07-02T00:00"}),
        (f"/findings/{world['findings'][b.code]}", {}),
        (f"/contracts/EMC-{b.code}", {}),
        (f"/alerts/{world['alerts'][b.code]}", {}),
        (f"/contracts/EMC-{b.code}/settlement", period),
        ("/mv", {"point": main_b, "baseline_end": "2026-07-02", "reporting_start": "2026-07-02"}),
    ]  # fmt: skip
    for path, params in hidden:
        r = client.get(path, params=params, headers=h)
        assert r.status_code == 404, (path, r.status_code, r.text)
    assert client.get("/findings", params={"building": b.code}, headers=h).json() == []
    assert [x["building"] for x in client.get("/alerts", headers=h).json()] == [a.code]
    assert client.get("/alert-rules", headers=h).json() == []  # the global rule is the admin's
    for action, body in (("ack", None), ("assign", {"to": "李工"}), ("snooze", {"minutes": 60}),
                         ("resolve", None)):  # fmt: skip
        r = client.post(f"/alerts/{world['alerts'][b.code]}/{action}", json=body, headers=h)
        assert r.status_code == 404, (action, r.status_code)
    # The admin of all sees both.
    everything = client.get("/buildings", headers=auth(world, "admin")).json()
    assert {x["code"] for x in everything} == {a.code, b.code}


def test_engineer_of_a_cannot_write_b_and_a_viewer_cannot_write(world: dict) -> None:
    client, a, b = world["client"], world["a"], world["b"]
    h = auth(world, "engineer_a")
    row = {"institution": b.institution, "name": "借来的楼", "floor_area_m2": 1000}
    assert client.put(f"/buildings/{b.code}", json=row, headers=h).status_code == 404
    moved = {**row, "institution": a.institution}  # moving B's building into A: still B's
    assert client.put(f"/buildings/{b.code}", json=moved, headers=h).status_code == 404
    new = client.put("/buildings/110101A777", json=row, headers=h)  # a new one, in B
    assert new.status_code == 422 and "not in your institutions" in new.text
    point = {"building": b.code, "unit": "kWh", "energy_code": "01A"}
    r = client.put("/point", params={"key": "x/elec/1"}, json=point, headers=h)
    assert r.status_code == 422 and "not in your institutions" in r.text
    document = {"buildings": [{"code": b.code, **moved}]}
    r = client.post("/registry/import", content=json.dumps(document),
                    headers={**h, "Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 422 and "belongs to" in r.text
    with client.app.state.pool.connection() as conn:
        owner = conn.execute(
            "SELECT i.code FROM buildings b JOIN institutions i ON i.id = b.institution_id"
            " WHERE b.code = %s",
            (b.code,),
        ).fetchone()[0]
    assert owner == b.institution  # nothing moved
    # A viewer reads but cannot write, even in its own institution.
    v = auth(world, "viewer_a")
    assert client.get(f"/buildings/{a.code}", headers=v).status_code == 200
    mine = {"institution": a.institution, "name": "改名", "floor_area_m2": 1}
    assert client.put(f"/buildings/{a.code}", json=mine, headers=v).status_code == 403
    # The engineer writes its own building.
    current = client.get(f"/buildings/{a.code}", headers=h).json()
    keep = {k: current[k] for k in ("institution", "floor_area_m2", "headcount", "climate_zone",
                                    "gb51161_class", "time_zone")}  # fmt: skip
    r = client.put(f"/buildings/{a.code}", json={**keep, "name": "新名称"}, headers=h)
    assert r.status_code == 200, r.text
    assert client.get(f"/buildings/{a.code}", headers=h).json()["name"] == "新名称"


def test_series_and_consumption_are_the_simulated_energy(world: dict) -> None:
    client, a = world["client"], world["a"]
    h = auth(world, "engineer_a")
    main = world["mains"][a.code]
    window = {"start": "2026-07-01T00:00", "end": f"2026-07-0{1 + DAYS}T00:00"}
    r = client.get("/series", params={"point": main, "bucket": "1d", **window}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["aggregation"] == "sum" and body["time_zone"] == "Asia/Shanghai"
    days = [row["value"] for row in body["rows"]]
    assert body["rows"][0]["bucket"] == "2026-07-01T00:00:00+08:00"  # days as people count
    # Days from the daily rollup (the service's zone) and from the hours (another name of
    # the same offset) agree.
    hourly = client.get("/series", params={"point": main, "bucket": "1d", "tz": "Asia/Chongqing",
                                           **window}, headers=h).json()  # fmt: skip
    assert [r["value"] for r in hourly["rows"]] == pytest.approx(days, rel=1e-9)
    # Hourly register differences: the first hour of day one needs the last reading of
    # 30 June (stored); registers are quantized to their step.
    assert days == pytest.approx(list(world["truth"][main]), rel=0.002)
    r = client.get(f"/buildings/{a.code}/consumption", params={"bucket": "1d", **window},
                   headers=h)  # fmt: skip
    rows = [x for x in r.json()["rows"] if x["energy_code"] == "01"]
    assert [x["value"] for x in rows] == pytest.approx(days)
    temps = [k for k in world["truth"] if k.startswith(a.code) and "outdoor" in k]
    if temps:
        r = client.get("/series", params={"point": temps[0], "bucket": "1h", **window}, headers=h)
        first = r.json()["rows"][0]
        assert r.json()["aggregation"] == "mean" and first["min"] <= first["mean"] <= first["max"]
    latest = client.get(f"/buildings/{a.code}/latest", headers=h).json()
    assert {x["key"] for x in latest} >= {main}
    r = client.get("/series", params={"point": main, "bucket": "1h", "tz": "Mars/Base"},
                   headers=h)  # fmt: skip
    assert r.status_code == 422 and "tz" in r.text


def test_token_cli_prints_a_token_once(world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from jieneng.cli import app

    monkeypatch.setenv("JIENENG_DATABASE_URL", world["url"])
    a = world["a"]
    out = CliRunner().invoke(app, ["token", "create", "--role", "viewer", "--institution",
                                   a.institution, "--name", "值班员"])  # fmt: skip
    assert out.exit_code == 0, out.output
    token = out.stdout.splitlines()[0]
    assert token.startswith("jn_") and len(token) > 40
    r = world["client"].get("/buildings", headers={"Authorization": f"Bearer {token}"})
    assert [b["code"] for b in r.json()] == [a.code]
    with world["client"].app.state.pool.connection() as conn:
        stored = conn.execute(
            "SELECT count(*) FROM api_tokens WHERE secret_sha256::text LIKE %s OR prefix = %s",
            (f"%{token}%", token),
        ).fetchone()[0]
    assert stored == 0  # only a hash and a prefix are kept
    listed = CliRunner().invoke(app, ["token", "list"])
    assert token[:10] in listed.stdout and token not in listed.stdout
    assert CliRunner().invoke(app, ["token", "revoke", token[:10]]).exit_code == 0
    r = world["client"].get("/buildings", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    out = CliRunner().invoke(app, ["token", "create", "--role", "viewer"])
    assert out.exit_code == 2 and "needs at least one institution" in out.output
    out = CliRunner().invoke(app, ["token", "create", "--role", "root"])
    assert out.exit_code == 2 and "--role" in out.output


def test_alert_lifecycle_through_the_api(world: dict) -> None:
    client, a = world["client"], world["a"]
    alert_id = world["alerts"][a.code]
    h, v = auth(world, "engineer_a"), auth(world, "viewer_a")
    alert = client.get(f"/alerts/{alert_id}", headers=v).json()
    # 40 kWh over a day's span: 40 kWh/day, 4.9 kgce/day, ¥32/day.
    assert alert["waste_per_day"] == pytest.approx(40) and alert["cny_per_day"] == pytest.approx(32)
    assert alert["kgce_per_day"] == pytest.approx(4.9)
    assert client.post(f"/alerts/{alert_id}/ack", headers=v).status_code == 403
    r = client.post(f"/alerts/{alert_id}/ack", json={"note": "看到了"}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    assert client.post(f"/alerts/{alert_id}/ack", headers=h).status_code == 409  # already
    r = client.post(f"/alerts/{alert_id}/assign", json={"to": "李工"}, headers=h)
    assert r.json()["assigned_to"] == "李工"
    r = client.post(f"/alerts/{alert_id}/snooze", json={"minutes": 90}, headers=h)
    assert r.json()["snoozed_until"] is not None
    r = client.post(f"/alerts/{alert_id}/resolve", json={"note": "已关灯"}, headers=h)
    body = r.json()
    assert body["status"] == "resolved" and body["resolved_by"] == "a"
    assert [e["kind"] for e in body["history"]] == [
        "opened",
        "acknowledged",
        "assigned",
        "snoozed",
        "resolved",
    ]
    finding = client.get(f"/findings/{world['findings'][a.code]}", headers=h).json()
    assert finding["status"] == "resolved"  # the finding is resolved with it
    assert client.post(f"/alerts/{alert_id}/resolve", headers=h).status_code == 409


def test_deletes_refuse_what_is_referred_to(world: dict) -> None:
    client, a, b = world["client"], world["a"], world["b"]
    h, admin = auth(world, "engineer_a"), auth(world, "admin")
    main_b = world["mains"][b.code]
    assert client.delete("/point", params={"key": main_b}, headers=h).status_code == 404
    main_a = world["mains"][a.code]
    r = client.delete("/point", params={"key": main_a}, headers=h)
    assert r.status_code == 409 and "referred" in r.text  # it has readings
    point = {"building": a.code, "unit": "kWh", "energy_code": "01D", "name": "打错了"}
    assert (
        client.put("/point", params={"key": "typo/elec"}, json=point, headers=h).status_code == 200
    )
    assert client.delete("/point", params={"key": "typo/elec"}, headers=h).status_code == 204
    assert client.get("/point", params={"key": "typo/elec"}, headers=h).status_code == 404
    assert client.delete(f"/buildings/{a.code}", headers=h).status_code == 403  # admins only
    assert client.delete(f"/buildings/{a.code}", headers=admin).status_code == 409
    assert client.delete(f"/institutions/{b.institution}", headers=admin).status_code == 409
