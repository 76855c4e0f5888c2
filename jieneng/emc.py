"""``jieneng emc settle``: one settlement period of a 合同能源管理 contract from the store: the
contract's meter measured with the CalTRACK daily model (:func:`jieneng.mv.stored_daily`,
:func:`jieneng.mv.run`), then settled by its terms (:func:`analytics.emc.settle`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from typing import Any

from psycopg.rows import dict_row

from analytics import emc as emclib
from jieneng import mv
from jieneng.audit import AuditError, Period
from store import mv as stored

#: Below this share of its days measured, a settlement says it covers only part of its period.
INCOMPLETE_SHARE = 0.9


def settle(conn: Any, code: str, period_text: str, *, save: bool = True) -> dict[str, Any]:
    """The settlement of contract ``code`` over a year, quarter or month (clipped to the
    contract's reporting period), stored (``mv_results``, purpose settlement) unless not
    ``save``; ``conn`` in autocommit mode."""
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
    if save:
        with conn.transaction():
            stored.save(conn, c["meter"], measured, purpose="settlement", contract=code,
                        label=period_text, settlement=statement)  # fmt: skip
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


def measure_to_date(
    conn: Any,
    today: dt.date | None = None,
    *,
    contract: str | None = None,
    again: bool = False,
    skip: Collection[str] = (),
    stop: Callable[[], bool] = lambda: False,
) -> dict[str, str]:
    """Measure every contract's reporting period so far — up to ``today`` (exclusive; by
    default each building's own local date) or to its end — and store it as the contract's
    ``to_date`` result, which the audit & M&V dashboard shows. A contract whose stored result
    already covers just that (its meter, baseline and reporting start, to the same day) is
    left alone unless ``again``; so are the codes in ``skip``, and every contract after
    ``stop()`` turns true. Only ``contract`` when given. Returns code → "measured",
    "current", "skipped" or the reason it could not be measured (a contract's failure does
    not stop the others); ``conn`` in autocommit mode."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """SELECT c.code, p.key AS meter, c.baseline_end, c.reporting_start,
                      least(c.reporting_end, t.today) AS reporting_end,
                      EXISTS (SELECT FROM mv_results m
                              WHERE m.contract_id = c.id AND m.purpose = 'to_date'
                                AND m.point_id = c.meter_id AND m.baseline_end = c.baseline_end
                                AND m.reporting_start = c.reporting_start
                                AND m.reporting_end = least(c.reporting_end, t.today)) AS current
               FROM emc_contracts c
               JOIN points p ON p.id = c.meter_id
               JOIN buildings b ON b.id = p.building_id
               CROSS JOIN LATERAL (
                   SELECT coalesce(%(today)s::date, (now() AT TIME ZONE b.time_zone)::date)
                       AS today) t
               WHERE c.reporting_start < t.today AND (%(code)s::text IS NULL OR c.code = %(code)s)
               ORDER BY c.code""",
            {"today": today, "code": contract},
        ).fetchall()
    if contract is not None and not rows:
        raise AuditError(f"--contract: no contract {contract!r} whose reporting has begun")
    done: dict[str, str] = {}
    for c in rows:
        if stop():
            break
        if c["code"] in skip or (c["current"] and not again):
            done[c["code"]] = "skipped" if c["code"] in skip else "current"
            continue
        try:
            measured = mv.run_stored(
                conn, c["meter"], baseline_end=c["baseline_end"],
                reporting_start=c["reporting_start"], reporting_end=c["reporting_end"],
            )  # fmt: skip
            with conn.transaction():
                stored.save(conn, c["meter"], measured, purpose="to_date", contract=c["code"],
                            label="to_date")  # fmt: skip
            done[c["code"]] = "measured"
        except Exception as exc:  # the next contract is measured all the same
            done[c["code"]] = str(exc).replace("--meter: ", "meter: ", 1)
    return done
