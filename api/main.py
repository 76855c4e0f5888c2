"""The app: routers, the database pool in the lifespan, request metrics.

``create_app(settings)`` builds it (tests pass their own settings); ``jieneng api`` serves it
with uvicorn. Docs at ``/docs`` (Swagger UI) and ``/openapi.json``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter, Histogram

from api.routers import alerts, findings, health, readings, registry, reports
from jieneng.settings import Settings, get_settings
from store import db
from store import findings as store_findings

DESCRIPTION = """Energy and IoT monitoring for public institutions (节能).

Every request but `/health` needs `Authorization: Bearer <token>` (`jieneng token create`).
A token has a role — viewer (reads), engineer (also writes its buildings and points,
acknowledges alerts), admin (also institutions) — and sees only its institutions: anything
else answers 404, as if it did not exist."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = db.make_pool(
            settings.database_url,
            application_name="jieneng-api",
            min_size=1,
            max_size=settings.api_pool_size,
            timeout=10.0,
            autocommit=True,
            # Reads are short: JIT compiling a year's rollup plan costs more than it saves.
            options="-c jit=off",
        )
        app.state.pool = pool
        try:
            with pool.connection() as conn:
                app.state.service_tz = store_findings.service_tz(conn)
        except psycopg.Error:  # the database is down: /health says so; days from the hours
            app.state.service_tz = None
        try:
            yield
        finally:
            pool.close()  # this lifespan's pool (a test may run the lifespan twice)

    app = FastAPI(
        title="jieneng",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    registry_ = CollectorRegistry()
    app.state.metrics = registry_
    requests = Counter(
        "jieneng_api_requests", "API requests", ["route", "method", "status"], registry=registry_
    )
    latency = Histogram(
        "jieneng_api_request_seconds",
        "API request time",
        ["route"],
        registry=registry_,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    )

    @app.middleware("http")
    async def measure(request: Request, call_next) -> Response:  # noqa: ANN001
        t0 = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        requests.labels(name, request.method, str(response.status_code)).inc()
        latency.labels(name).observe(time.perf_counter() - t0)
        return response

    @app.exception_handler(psycopg.DataError)
    async def bad_value(request: Request, exc: psycopg.DataError) -> Response:
        # A value the database refuses (a NUL character, a number out of range): the
        # request's fault, said as such.
        primary = exc.diag.message_primary or str(exc).splitlines()[0]
        return JSONResponse({"detail": f"invalid value: {primary}"}, status_code=422)

    for router in (health.router, registry.router, readings.router, findings.router):
        app.include_router(router)
    app.include_router(alerts.router)
    app.include_router(reports.router)
    return app
