"""Provisioning files for Grafana (``jieneng grafana build DIR``) and a push through its HTTP
API (``jieneng grafana push``).

The tree Grafana reads from its ``provisioning`` directory::

    DIR/datasources/jieneng.yaml     the PostgreSQL datasource (uid jieneng-pg), read-only
                                      role, password from $JIENENG_GRAFANA_DB_PASSWORD
    DIR/dashboards/jieneng.yaml      a provider for the folder "jieneng"
    DIR/dashboards/json/*.json       the dashboards

The password never lands in a file: Grafana expands ``$__env{…}`` when it reads the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from psycopg.conninfo import conninfo_to_dict

from grafana.dashboards import DATASOURCE_UID, all_dashboards

PASSWORD_ENV = "JIENENG_GRAFANA_DB_PASSWORD"
FOLDER = "jieneng"


def datasource(database_url: str, *, user: str, timescaledb: bool) -> dict[str, Any]:
    """The datasource entry: host, port and database from the service's URL, the read-only
    login ``user``."""
    info = conninfo_to_dict(database_url)  # a URL or key=value pairs
    host = str(info.get("host") or "127.0.0.1")
    local = host in ("127.0.0.1", "localhost") or host.startswith("/")
    return {
        "name": "jieneng",
        "type": "grafana-postgresql-datasource",
        "uid": DATASOURCE_UID,
        "access": "proxy",
        "url": f"{'127.0.0.1' if host.startswith('/') else host}:{info.get('port') or 5432}",
        "user": user,
        "isDefault": True,
        "editable": False,
        "jsonData": {
            "database": info.get("dbname") or "jieneng",
            "sslmode": "disable" if local else "require",
            "postgresVersion": 1500,
            "timescaledb": timescaledb,
            "maxOpenConns": 10,
        },
        "secureJsonData": {"password": f"$__env{{{PASSWORD_ENV}}}"},
    }


def build(
    directory: Path,
    database_url: str,
    *,
    user: str = "jieneng_grafana",
    timescaledb: bool = False,
    languages: tuple[str, ...] = ("zh",),
) -> list[Path]:
    """Write the provisioning tree; return the files written."""
    written = []
    sources = directory / "datasources"
    boards = directory / "dashboards"
    (boards / "json").mkdir(parents=True, exist_ok=True)
    sources.mkdir(parents=True, exist_ok=True)
    entry = datasource(database_url, user=user, timescaledb=timescaledb)
    path = sources / "jieneng.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": 1, "datasources": [entry]}, allow_unicode=True))
    written.append(path)
    provider = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "jieneng",
                "folder": FOLDER,
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "options": {"path": str((boards / "json").resolve())},
            }
        ],
    }
    path = boards / "jieneng.yaml"
    path.write_text(yaml.safe_dump(provider, allow_unicode=True))
    written.append(path)
    for lang in languages:
        for model in all_dashboards(lang):
            path = boards / "json" / f"{model['uid']}.json"
            path.write_text(json.dumps(model, ensure_ascii=False, indent=1))
            written.append(path)
    return written


def push(url: str, token: str, *, languages: tuple[str, ...] = ("zh",)) -> list[str]:
    """Create or update the dashboards in Grafana (folder ``jieneng``) through its HTTP API;
    return their uids. The datasource is provisioned from the file (it holds the password
    reference), or made by hand with uid ``jieneng-pg``."""
    from grafana_client import GrafanaApi

    api = GrafanaApi.from_url(url, credential=token)
    folders = {f["title"]: f["uid"] for f in api.folder.get_all_folders()}
    folder = folders.get(FOLDER) or api.folder.create_folder(FOLDER, uid="jieneng")["uid"]
    uids = []
    for lang in languages:
        for model in all_dashboards(lang):
            api.dashboard.update_dashboard(
                {
                    "dashboard": model,
                    "folderUid": folder,
                    "overwrite": True,
                    "message": "jieneng grafana push",
                }  # fmt: skip
            )
            uids.append(model["uid"])
    return uids
