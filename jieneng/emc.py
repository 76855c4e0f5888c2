"""``jieneng emc settle``: one settlement period of a 合同能源管理 contract from the store: the
contract's meter measured with the CalTRACK daily model (:func:`jieneng.mv.stored_daily`,
:func:`jieneng.mv.run`), then settled by its terms (:func:`analytics.emc.settle`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg.rows import dict_row

from analytics import emc as emclib
from jieneng import mv
from jieneng.audit import AuditError, Period

#: Below this share of its days measured, a settlement says it covers only part of its period.
INCOMPLETE_SHARE = 0.9


def settle(conn: Any, code: str, period_text: str) -> dict[str, Any]:
    """The settlement of contract ``code`` over a year, quarter or month (clipped to the
    contract's reporting period); ``conn`` in autocommit mode."""
    with conn.cursor(row_factory=dict_row) as cur:
        c = cur.execute(
            """SELECT c.code, c.name, c.kind, p.key AS meter, c.esco, c.baseline_end,
                      c.reporting_start, c.reporting_end, c.price, c.esco_share,
                      c.guaranteed_per_year, c.fee_per_year
               FROM emc_contracts c JOIN points p ON p.id = c.meter_id WHERE c.code = %s""",
            (code,),
        ).fetchone()
    if c is None:
        raise AuditError(f"--contract: no contract with code {code!r}")
    period = Period.parse(period_text)
    start = max(period.start, c["reporting_start"])
    end = min(period.end, c["reporting_end"] or period.end)
    if end <= start:
        raise AuditError(
            f"--period: {period_text} is outside the contract's reporting period"
            f" (from {c['reporting_start']} to {c['reporting_end'] or 'open'})"
        )
    measured = mv.run_stored(
        conn, c["meter"], baseline_end=c["baseline_end"], reporting_start=start, reporting_end=end
    )
    # Guarantees and fees are per year: prorated by the days measured (a day with a use and a
    # temperature), so that both sides of the settlement cover the same days.
    measured_days = int(measured["savings"]["days"])
    if measured_days == 0:
        raise AuditError(
            f"--period: no day from {start} to {end} has both a use and a temperature: nothing"
            " to settle"
        )
    period_days = (end - start).days
    warnings = []
    if measured_days < INCOMPLETE_SHARE * period_days:
        warnings.append(
            {
                "key": "reporting_period_incomplete",
                "description": (
                    f"结算期 {period_days} 天中仅 {measured_days} 天有实测数据, 按实测天数结算"
                    f" / only {measured_days} of the {period_days} days were measured; settled"
                    " over those days"
                ),
                "data": {"days": period_days, "measured_days": measured_days},
            }
        )
    share_of_year = measured_days / 365
    terms = emclib.Contract(
        c["kind"],
        price=c["price"],
        esco_share=c["esco_share"],
        guaranteed=c["guaranteed_per_year"] * share_of_year,
        fee=c["fee_per_year"] * share_of_year,
    )
    s = measured["savings"]
    statement = emclib.settle(
        terms,
        avoided=s["avoided"],
        uncertainty=s["uncertainty"],
        adjusted_baseline=s["counterfactual"],
        actual=s["observed"],
    )
    contract = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in c.items()}
    return {
        "contract": contract,
        "period": {
            "label": period_text,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "days": period_days,
            "measured_days": measured_days,
        },
        "warnings": warnings,
        "measurement": measured,
        "settlement": statement,
    }
