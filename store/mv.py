"""Stored M&V results (migration 0012): what :mod:`jieneng.mv` and :mod:`jieneng.emc` computed,
kept for the audit & M&V dashboard (``v_mv_results``, ``v_mv_days``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from store.db import finite, json_dumps

PURPOSES = ("measurement", "settlement", "to_date")


#: Per purpose, the columns that say it is the same computation (the partial unique indexes of
#: migration 0012): saving it again updates that row.
KEYS = {
    "measurement": ("point_id", "model", "calendar", "baseline_end", "reporting_start",
                    "reporting_end", "non_routine"),
    "settlement": ("contract_id", "reporting_start", "reporting_end"),
    "to_date": ("contract_id",),
}  # fmt: skip


def save(
    conn: psycopg.Connection,
    point_key: str,
    result: Mapping[str, Any],
    *,
    purpose: str = "measurement",
    contract: str | None = None,
    label: str | None = None,
    settlement: Mapping[str, Any] | None = None,
    computed_at: dt.datetime | None = None,
) -> int:
    """Store ``result`` (:func:`jieneng.mv.run` / :func:`~jieneng.mv.run_hourly` on the meter
    ``point_key``) and its days. What the same computation stored before (:data:`KEYS`: the
    same meter, model, calendar, periods and adjustment; a contract's same settlement period;
    its one ``to_date``) is updated in place and keeps its id; concurrent saves of the same
    thing wait for each other. A ``contract`` code (whose meter ``point_key`` must be) for a
    settlement or a to-date result, with ``settlement`` (:func:`analytics.emc.settle`) for the
    former. Returns the row's id; the caller commits."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose: {purpose!r} is not one of {', '.join(PURPOSES)}")
    if (contract is None) != (purpose == "measurement"):
        raise ValueError("contract: a settlement or to_date result needs one, a measurement none")
    hourly = "guideline14_hourly" in result
    g14 = result["guideline14_hourly" if hourly else "guideline14_monthly"]
    model, s = result["model"], result["savings"]
    row = conn.execute(
        "SELECT p.id, c.id, c.meter_id FROM points p"
        " LEFT JOIN emc_contracts c ON c.code = %s WHERE p.key = %s",
        (contract, point_key),
    ).fetchone()
    if row is None:
        raise ValueError(f"point_key: no point {point_key!r}")
    point_id, contract_id, contract_meter = row
    if contract is not None and contract_id is None:
        raise ValueError(f"contract: no contract {contract!r}")
    if contract is not None and contract_meter != point_id:
        raise ValueError(f"point_key: {point_key!r} is not the meter of contract {contract!r}")
    st = settlement or {}
    cvrmse = finite(g14["cvrmse"])
    columns = {
        "point_id": point_id,
        "contract_id": contract_id,
        "purpose": purpose,
        "label": label,
        "model": "hourly" if hourly else "daily",
        "calendar": model.get("calendar", "none"),
        "baseline_start": result["baseline"]["start"],
        "baseline_end": result["baseline"]["end"],
        "reporting_start": result["reporting"]["start"],
        "reporting_end": result["reporting"]["end"],
        "non_routine": s["non_routine"],
        "computed_at": computed_at or dt.datetime.now(dt.UTC),
        "g14_interval": g14["limits"]["interval"],
        "cvrmse": cvrmse,
        "nmbe": finite(g14["nmbe"]),
        "cvrmse_limit": g14["limits"]["cvrmse"],
        "nmbe_limit": g14["limits"]["nmbe"],
        "passes": None if cvrmse is None else bool(g14["passes"]),
        "fit_cvrmse": finite(model.get("cvrmse")),
        "r_squared": finite(model.get("r_squared")),
        "periods": int(s["days"]),
        "observed": finite(s["observed"]),
        "adjusted_baseline": finite(s["counterfactual"]),
        "avoided": finite(s["avoided"]),
        "uncertainty": finite(s["uncertainty"]),
        "value_cny": finite(st.get("value")),
        "esco_cny": finite(st.get("esco")),
        "agency_cny": finite(st.get("agency")),
        "result": Jsonb(
            {k: v for k, v in result.items() if k != "daily"}
            | ({"settlement": dict(st)} if st else {}),
            dumps=json_dumps,
        ),
    }
    key = KEYS[purpose]
    (result_id,) = conn.execute(
        f"INSERT INTO mv_results ({', '.join(columns)})"
        f" VALUES ({', '.join(f'%({c})s' for c in columns)})"
        f" ON CONFLICT ({', '.join(key)}) WHERE purpose = '{purpose}'"
        f" DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in columns if c not in key)}"
        " RETURNING id",
        columns,
    ).fetchone()
    conn.execute("DELETE FROM mv_days WHERE result_id = %s", (result_id,))
    days = result.get("daily")
    if days:
        with conn.cursor() as cur, cur.copy(
            "COPY mv_days (result_id, day, observed, baseline, temperature_c, avoided)"
            " FROM STDIN"
        ) as copy:  # fmt: skip
            for row in zip(days["date"], days["observed"], days["baseline"],
                           days["temperature_c"], days["avoided"], strict=True):  # fmt: skip
                copy.write_row((result_id, *row))
    return result_id
