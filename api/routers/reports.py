"""Audits, M&V and EMC settlements as JSON or as report files (HTML, PDF)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status

from api.deps import Db, Viewer, not_found
from api.models import Contract
from jieneng import audit, emc, mv
from reports import ReportError
from store import reads

router = APIRouter(tags=["reports"])

Format = Literal["json", "html", "pdf"]
Lang = Literal["zh", "en"]
Period = Annotated[str, Query(max_length=7, description="2026, 2026-Q3 or 2026-07")]


def _unprocessable(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


def _render(page: Any, fmt: Format, name: str) -> Response:
    from reports.render import pdf

    try:
        html = page()
        if fmt == "html":
            return Response(html, media_type="text/html; charset=utf-8")
        return Response(
            pdf(html),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    except ReportError as exc:  # no CJK font, no Pango: the server cannot draw reports
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None


def _audit(
    conn: Any, fmt: Format, lang: Lang, name: str, **kwargs: Any
) -> dict[str, Any] | Response:
    try:
        result = audit.run(conn, **kwargs)
    except audit.AuditError as exc:
        raise _unprocessable(exc) from None
    if fmt == "json":
        return result
    from reports import audit as audit_report

    return _render(lambda: audit_report.page(result, lang=lang), fmt, name)


@router.get("/buildings/{code}/audit", response_model=None)
def building_audit(
    code: str,
    period: Period,
    conn: Db,
    caller: Viewer,
    format: Format = "json",
    lang: Lang = "zh",
    tariff: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any] | Response:
    """The building's audit over a year, quarter or month (``jieneng audit``)."""
    if reads.building(conn, caller.scope, code) is None:
        raise not_found(f"building {code!r}")
    return _audit(
        conn, format, lang, f"audit-{code}-{period}", period_text=period, building=code,
        tariff=tariff,
    )  # fmt: skip


@router.get("/institutions/{code}/audit", response_model=None)
def institution_audit(
    code: str,
    period: Period,
    conn: Db,
    caller: Viewer,
    format: Format = "json",
    lang: Lang = "zh",
    tariff: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any] | Response:
    """All buildings of an institution, with its consumption records."""
    if reads.institution(conn, caller.scope, code) is None:
        raise not_found(f"institution {code!r}")
    return _audit(
        conn, format, lang, f"audit-{code}-{period}", period_text=period, institution=code,
        tariff=tariff,
    )  # fmt: skip


@router.get("/mv")
def measure(
    point: Annotated[str, Query(max_length=200, description="a meter's key")],
    baseline_end: dt.date,
    reporting_start: dt.date,
    conn: Db,
    caller: Viewer,
    reporting_end: dt.date | None = None,
    model: Literal["daily", "hourly"] = "daily",
) -> dict[str, Any]:
    """Avoided energy of a stored meter: CalTRACK daily or hourly TOWT (``jieneng mv``)."""
    if reads.point(conn, caller.scope, point) is None:
        raise not_found(f"point {point!r}")
    if not dt.date(1971, 1, 1) <= baseline_end <= dt.date(2200, 1, 1):
        raise _unprocessable(ValueError(f"baseline_end: {baseline_end} is outside 1971–2200"))
    last = reporting_end or dt.date.today()
    if not reporting_start <= last <= baseline_end + dt.timedelta(days=3660):
        raise _unprocessable(
            ValueError("reporting_end: within ten years after baseline_end, after reporting_start")
        )
    try:
        return mv.run_stored(
            conn,
            point,
            baseline_end=baseline_end,
            reporting_start=reporting_start,
            reporting_end=reporting_end,
            model=model,
        )
    except mv.InputError as exc:
        raise _unprocessable(exc) from None


@router.get("/contracts", response_model=list[Contract])
def list_contracts(conn: Db, caller: Viewer) -> list[dict[str, Any]]:
    return reads.contracts(conn, caller.scope)


@router.get("/contracts/{code}", response_model=Contract)
def get_contract(code: str, conn: Db, caller: Viewer) -> dict[str, Any]:
    rows = reads.contracts(conn, caller.scope, code=code)
    if not rows:
        raise not_found(f"contract {code!r}")
    return rows[0]


@router.get("/contracts/{code}/settlement", response_model=None)
def settlement(
    code: str,
    period: Period,
    conn: Db,
    caller: Viewer,
    format: Format = "json",
    lang: Lang = "zh",
) -> dict[str, Any] | Response:
    """One settlement period of a contract; the statement as HTML or PDF."""
    if not reads.contracts(conn, caller.scope, code=code):
        raise not_found(f"contract {code!r}")
    try:
        result = emc.settle(conn, code, period, save=False)  # a GET changes nothing
    except (audit.AuditError, mv.InputError) as exc:
        raise _unprocessable(exc) from None
    if format == "json":
        return result
    from reports import emc as emc_report

    return _render(lambda: emc_report.page(result, lang=lang), format, f"{code}-{period}")
