"""`jieneng grafana build` writes a provisioning tree Grafana can read; `push` sends the
dashboards through Grafana's HTTP API (a local stand-in here); `role` makes a login that
reads the views with the reader's rights."""

from __future__ import annotations

import http.server
import json
import threading

import psycopg
import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from typer.testing import CliRunner

from grafana.dashboards import DATASOURCE_UID
from jieneng.cli import app


def test_build_writes_the_provisioning_tree(world: dict, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("JIENENG_DATABASE_URL", world["url"])
    out = CliRunner().invoke(app, ["grafana", "build", str(tmp_path), "--lang", "both"])
    assert out.exit_code == 0, out.output
    source = yaml.safe_load((tmp_path / "datasources" / "jieneng.yaml").read_text())
    entry = source["datasources"][0]
    assert entry["uid"] == DATASOURCE_UID and entry["user"] == "jieneng_grafana"
    assert entry["secureJsonData"] == {"password": "$__env{JIENENG_GRAFANA_DB_PASSWORD}"}
    assert entry["jsonData"]["database"] == conninfo_to_dict(world["url"])["dbname"]
    provider = yaml.safe_load((tmp_path / "dashboards" / "jieneng.yaml").read_text())
    assert provider["providers"][0]["options"]["path"].endswith("dashboards/json")
    boards = sorted(p.name for p in (tmp_path / "dashboards" / "json").iterdir())
    assert len(boards) == 10 and "jieneng-building-zh.json" in boards
    model = json.loads((tmp_path / "dashboards" / "json" / "jieneng-building-zh.json").read_text())
    assert model["title"].endswith("建筑实时")


class FakeGrafana(http.server.BaseHTTPRequestHandler):
    posted: list[tuple[str, dict]] = []

    def _json(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._json([])  # no folders yet

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeGrafana.posted.append((self.path, body))
        self._json({"uid": "jieneng", "status": "success"})

    def log_message(self, *args: object) -> None:
        pass


def test_push_sends_every_dashboard() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeGrafana)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        out = CliRunner().invoke(app, ["grafana", "push", "--url", url, "--token", "glsa_x"])
    finally:
        server.shutdown()
        server.server_close()
    assert out.exit_code == 0, out.output
    paths = [p for p, _ in FakeGrafana.posted]
    assert paths[0] == "/api/folders" and paths.count("/api/dashboards/db") == 5
    pushed = [b for p, b in FakeGrafana.posted if p == "/api/dashboards/db"]
    assert all(b["overwrite"] and b["folderUid"] == "jieneng" for b in pushed)


def test_role_makes_a_reader_login(world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIENENG_DATABASE_URL", world["url"])
    monkeypatch.setenv("TEST_GRAFANA_PW", "a-long-password-1")
    args = [
        "grafana",
        "role",
        "--user",
        "jieneng_grafana_test",
        "--password-env",
        "TEST_GRAFANA_PW",
    ]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "a-long-password-1" not in out.output
    info = conninfo_to_dict(world["url"])
    info.update(user="jieneng_grafana_test", password="a-long-password-1", host="127.0.0.1")
    try:
        with psycopg.connect(make_conninfo(**info)) as conn:
            assert conn.execute("SELECT count(*) FROM v_buildings").fetchone()[0] == 2
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT * FROM api_tokens")
    except psycopg.OperationalError as exc:  # a server that trusts everyone still logs in
        pytest.fail(f"the login could not connect: {exc}")
    finally:
        with psycopg.connect(world["url"], autocommit=True) as conn:
            conn.execute("DROP ROLE IF EXISTS jieneng_grafana_test")
