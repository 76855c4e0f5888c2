"""Health (database, broker, collector lag) and Prometheus metrics; no token needed."""

from __future__ import annotations

import datetime as dt
import socket
import time

from fastapi import APIRouter, Request, Response

from api.models import Check, Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(request: Request, response: Response) -> Health:
    """200 when the database answers; the broker and the collector's lag are reported too
    (a lag of minutes means readings stopped arriving)."""
    settings = request.app.state.settings
    t0 = time.perf_counter()
    lag = None
    try:
        with request.app.state.pool.connection(timeout=5.0) as conn:
            newest = conn.execute(
                "SELECT max(time) FROM readings WHERE time > now() - interval '7 days'"
            ).fetchone()
        database = Check(ok=True, seconds=round(time.perf_counter() - t0, 4))
        if newest and newest[0] is not None:
            lag = max(0.0, (dt.datetime.now(dt.UTC) - newest[0]).total_seconds())
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        database = Check(ok=False, detail=type(exc).__name__)
    t0 = time.perf_counter()
    try:
        with socket.create_connection((settings.broker_host, settings.broker_port), timeout=2):
            broker = Check(ok=True, seconds=round(time.perf_counter() - t0, 4))
    except OSError as exc:
        broker = Check(ok=False, detail=exc.strerror or type(exc).__name__)
    if not database.ok:
        response.status_code = 503
    return Health(
        ok=database.ok and broker.ok, database=database, broker=broker, collector_lag_s=lag
    )


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
