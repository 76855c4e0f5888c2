"""Measurement and verification (IPMVP Option C, GB/T 28750): CalTRACK 2.0 daily models of many
meters at once, ASHRAE Guideline 14 statistics, avoided energy and its fractional savings
uncertainty.

The daily model (CalTRACK 2.0 §3) explains a meter's use per day by a base load and linear
heating and cooling loads beyond balance points::

    use = μ + β_H · HDD(b_H) + β_C · CDD(b_C)

with ``HDD(b) = max(b − T, 0)`` and ``CDD(b) = max(T − b, 0)`` of the day's mean outdoor
temperature ``T``. For every meter, every balance point of a grid and every pair with
``b_C ≥ b_H`` is fitted by ordinary least squares; a candidate qualifies when its slopes are
positive and significant (p < 0.1), its intercept is positive and its degree days are enough
(§3.2.2.2); the candidate with the highest adjusted R² wins, the intercept-only model (adjusted
R² 0) if none does.

All candidates of all meters come from a handful of sums per meter and balance point: the
heating and cooling degree days of one day are never both above zero when ``b_C ≥ b_H``, so the
cross product of an HDD and a CDD column is zero and each two-slope fit is a 2 × 2 solve on
sums already taken for the one-slope fits. No per-meter loop.

References
----------
.. [1] CalTRACK Methods 2.0, sections 2.2 (data sufficiency), 3.2–3.4 (daily models), 4.3
   (CV(RMSE), fractional savings uncertainty).
.. [2] ASHRAE Guideline 14-2014, Measurement of Energy, Demand, and Water Savings, 4.3.2.4
   (calibration: monthly CV(RMSE) ≤ 15 %, NMBE ≤ ±5 %; hourly ≤ 30 %, ≤ ±10 %).
.. [3] GB/T 28750-2012 节能量测量和验证技术通则.
.. [4] Sun, Y., Baltazar, J. C. (2013). Analysis and improvement on the estimation of building
   energy savings uncertainty. ASHRAE Transactions 119(1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from analytics import baseline

#: Candidate balance points, °C: −1 … 32 °C in 1 K steps (CalTRACK's 30–90 °F, gaps ≤ 3 °F).
BALANCE_POINTS_C = tuple(float(b) for b in range(-1, 33))
#: Fewest days with degree days above zero, and fewest degree days in all (20 °F·d = 11.1 K·d),
#: for a balance point to qualify (CalTRACK 3.2.2.2).
MIN_NONZERO_DAYS = 10
MIN_DEGREE_DAYS_C = 20 / 1.8
#: Largest p-value of a qualifying slope (CalTRACK 2.0, as eemeter implements it).
MAX_P_VALUE = 0.1
#: Model types, in the order of ``DailyModel.model_type`` codes.
MODEL_TYPES = ("intercept_only", "hdd_only", "cdd_only", "hdd_cdd")
#: Sun and Baltazar's coefficients (a, b, d) of the autocorrelation correction of the FSU
#: (CalTRACK 4.3.2.4.6).
FSU_COEFFICIENTS = {"daily": (-0.00024, 0.03535, 1.00286), "billing": (-0.00022, 0.03306, 0.94054)}
#: ASHRAE Guideline 14 calibration limits: (CV(RMSE), |NMBE|) by interval.
G14_LIMITS = {"monthly": (0.15, 0.05), "hourly": (0.30, 0.10)}
#: Days of a year a baseline should have, and the most of them that may be missing (2.2.1.2).
BASELINE_DAYS = 365
MAX_MISSING_DAYS = 37


@dataclass(frozen=True)
class MVWarning:
    """A non-fatal finding about the data or a fit: stable ``key``, what it means, its numbers."""

    key: str
    description: str
    data: dict[str, Any] = field(default_factory=dict)


def _valid(use: np.ndarray, temp: np.ndarray, zero_is_missing: np.ndarray) -> np.ndarray:
    """Days with a use and a temperature; a 0 is missing on electricity meters (CalTRACK
    2.2.1.4)."""
    with np.errstate(invalid="ignore"):
        return ~np.isnan(use) & ~np.isnan(temp) & ~(zero_is_missing[:, None] & (use == 0))


def sufficiency(
    use: np.ndarray,
    temp: np.ndarray,
    *,
    zero_is_missing: np.ndarray | bool = True,
) -> list[list[MVWarning]]:
    """Data sufficiency of daily baseline data, per meter (CalTRACK 2.2.1–2.2.2).

    Parameters
    ----------
    use : array_like, shape (meters, days)
        Use per day (kWh, m³ …), NaN where missing.
    temp : array_like, shape (meters, days) or (days,)
        Mean outdoor temperature of each day, °C, NaN where missing.
    zero_is_missing : bool or array_like of bool, shape (meters,)
        Whether a 0 counts as missing (electricity: yes; gas: no).

    Returns
    -------
    list of list of MVWarning
        For each meter, what falls short: ``baseline_too_short`` (fewer than 365 days),
        ``too_many_missing_days`` (more than 37 without a use and a temperature).
    """
    u = np.atleast_2d(np.asarray(use, dtype=np.float64))
    t = np.broadcast_to(np.asarray(temp, dtype=np.float64), u.shape)
    zero = np.broadcast_to(np.asarray(zero_is_missing, dtype=bool), (len(u),))
    ok = _valid(u, t, zero)
    days = u.shape[1]
    out: list[list[MVWarning]] = []
    for k in range(len(u)):
        found = []
        if days < BASELINE_DAYS:
            found.append(
                MVWarning(
                    "baseline_too_short",
                    f"基准期不足 365 天 baseline has {days} days, CalTRACK asks for 365",
                    {"days": days, "required": BASELINE_DAYS},
                )
            )
        missing = int(days - ok[k].sum())
        if missing > MAX_MISSING_DAYS:
            found.append(
                MVWarning(
                    "too_many_missing_days",
                    f"缺失天数过多 {missing} days lack a use or a temperature "
                    f"(at most {MAX_MISSING_DAYS})",
                    {"missing": missing, "allowed": MAX_MISSING_DAYS},
                )
            )
        out.append(found)
    return out


@dataclass
class DailyModel:
    """Fitted CalTRACK daily models of ``meters`` meters (arrays of shape (meters,)).

    Attributes
    ----------
    model_type : ndarray of int
        Index into :data:`MODEL_TYPES`.
    intercept : ndarray
        Base load μ, use per day.
    beta_hdd, beta_cdd : ndarray
        Use per day per K of heating / cooling degree days (0 where the model has none).
    hdd_balance_c, cdd_balance_c : ndarray
        Balance points, °C (NaN where the model has none).
    n : ndarray of int
        Baseline days fitted.
    r_squared, r_squared_adj, cvrmse, nmbe : ndarray
        Fit statistics on the baseline days (CV(RMSE) with ``n − c`` degrees of freedom, c the
        slopes, CalTRACK 4.3.2.2).
    autocorrelation : ndarray
        Lag-1 autocorrelation of the baseline residuals (for the effective number of days).
    mean_use : ndarray
        Mean baseline use per day.
    warnings : list of list of MVWarning
    """

    model_type: np.ndarray
    intercept: np.ndarray
    beta_hdd: np.ndarray
    beta_cdd: np.ndarray
    hdd_balance_c: np.ndarray
    cdd_balance_c: np.ndarray
    n: np.ndarray
    r_squared: np.ndarray
    r_squared_adj: np.ndarray
    cvrmse: np.ndarray
    nmbe: np.ndarray
    autocorrelation: np.ndarray
    mean_use: np.ndarray
    warnings: list[list[MVWarning]] = field(default_factory=list)

    _ARRAYS = (
        "model_type",
        "intercept",
        "beta_hdd",
        "beta_cdd",
        "hdd_balance_c",
        "cdd_balance_c",
        "n",
        "r_squared",
        "r_squared_adj",
        "cvrmse",
        "nmbe",
        "autocorrelation",
        "mean_use",
    )

    @property
    def slopes(self) -> np.ndarray:
        """Number of slopes c of each model (0, 1 or 2)."""
        return np.array([0, 1, 1, 2])[self.model_type]

    def predict(self, temp: np.ndarray) -> np.ndarray:
        """Use per day, shape (meters, days), for mean daily temperatures ``temp`` (°C, shape
        (meters, days) or (days,)); NaN where the temperature is missing."""
        t = np.asarray(temp, dtype=np.float64)
        if t.ndim == 2 and len(t) != len(self.intercept):
            raise ValueError(f"temp: {len(t)} rows for a model of {len(self.intercept)} meters")
        t = np.broadcast_to(t, (len(self.intercept), t.shape[-1]))
        hdd = np.maximum(np.nan_to_num(self.hdd_balance_c)[:, None] - t, 0.0)
        cdd = np.maximum(t - np.nan_to_num(self.cdd_balance_c)[:, None], 0.0)
        return self.intercept[:, None] + self.beta_hdd[:, None] * hdd + self.beta_cdd[:, None] * cdd

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; :meth:`from_dict` restores it."""
        out: dict[str, Any] = {"kind": "caltrack_daily", "version": 1}
        for name in self._ARRAYS:
            out[name] = _json_list(getattr(self, name))
        out["model_type"] = [MODEL_TYPES[k] for k in self.model_type.tolist()]
        out["warnings"] = [[asdict(w) for w in ws] for ws in self.warnings]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DailyModel:
        if data.get("kind") != "caltrack_daily":
            raise ValueError(f"kind: expected 'caltrack_daily', got {data.get('kind')!r}")
        arrays = {
            name: np.array([np.nan if v is None else v for v in data[name]], dtype=np.float64)
            for name in cls._ARRAYS
            if name != "model_type"
        }
        arrays["n"] = arrays["n"].astype(np.int64)
        types = [MODEL_TYPES.index(t) for t in data["model_type"]]
        warnings = [[MVWarning(**w) for w in ws] for ws in data.get("warnings", [])]
        return cls(model_type=np.array(types, dtype=np.int64), warnings=warnings, **arrays)


def _json_list(values: np.ndarray) -> list[Any]:
    """A numeric array as a JSON list, NaN as null."""
    return [None if isinstance(v, float) and np.isnan(v) else v for v in values.tolist()]


def _sums(x: np.ndarray, w: np.ndarray, yc: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per meter and balance point, of degree days ``x`` (meters, points, days) on the valid
    days ``w``: Σx, Σx², Σx·yc (yc: centred use, 0 on invalid days), days with x > 0."""
    xv = x * w[:, None, :]
    return (
        xv.sum(axis=2),
        np.einsum("mbd,mbd->mb", xv, xv),
        np.einsum("mbd,md->mb", xv, yc),
        np.count_nonzero(xv > 0, axis=2),
    )


def fit_daily(
    use: np.ndarray,
    temp: np.ndarray,
    *,
    cooling: np.ndarray | bool = True,
    zero_is_missing: np.ndarray | bool | None = None,
    balance_points: tuple[float, ...] = BALANCE_POINTS_C,
    min_nonzero_days: int = MIN_NONZERO_DAYS,
    min_degree_days: float = MIN_DEGREE_DAYS_C,
    max_p_value: float = MAX_P_VALUE,
    block: int = 16,
) -> DailyModel:
    """Fit CalTRACK 2.0 daily models of many meters at once.

    Parameters
    ----------
    use : array_like, shape (meters, days)
        Baseline use per day (kWh, m³ …), NaN where missing.
    temp : array_like, shape (meters, days) or (days,)
        Mean outdoor temperature of each day, °C.
    cooling : bool or array_like of bool, shape (meters,)
        Whether cooling-degree-day models are candidates (electricity: yes; natural gas and
        district heat: no, CalTRACK 3.2.1.1).
    zero_is_missing : bool or array_like of bool, optional
        Whether a 0 is missing (CalTRACK 2.2.1.4: electricity yes, gas no); default
        ``cooling``.
    balance_points : tuple of float
        Candidate balance points, °C, for heating and for cooling.
    min_nonzero_days, min_degree_days : int, float
        A balance point qualifies with at least this many days of degree days above zero and
        this many degree days (K·d) over the baseline.
    max_p_value : float
        Largest p-value of a qualifying slope.
    block : int
        Meters fitted at a time (their (meters, points, days) arrays bound the memory).

    Returns
    -------
    DailyModel
        With the baseline's sufficiency warnings, and ``no_qualified_temperature_model`` where
        the intercept-only model won by default.
    """
    u = np.atleast_2d(np.asarray(use, dtype=np.float64))
    m, d = u.shape
    t = np.broadcast_to(np.asarray(temp, dtype=np.float64), (m, d))
    if t.shape != (m, d):
        raise ValueError(f"temp: shape {np.shape(temp)} does not match use {u.shape}")
    cool = np.broadcast_to(np.asarray(cooling, dtype=bool), (m,))
    zero = cool if zero_is_missing is None else np.asarray(zero_is_missing, dtype=bool)
    zero = np.broadcast_to(zero, (m,))
    bp = np.asarray(balance_points, dtype=np.float64)
    if bp.ndim != 1 or not len(bp) or np.any(np.diff(bp) <= 0):
        raise ValueError("balance_points: must be increasing temperatures, °C")
    fields = {name: np.full(m, np.nan) for name in DailyModel._ARRAYS}
    for s in range(0, m, block):
        part = slice(s, min(m, s + block))
        for name, values in _fit_block(
            u[part],
            t[part],
            cool[part],
            zero[part],
            bp,
            min_nonzero_days,
            min_degree_days,
            max_p_value,
        ).items():
            fields[name][part] = values
    fields["model_type"] = fields["model_type"].astype(np.int64)
    fields["n"] = fields["n"].astype(np.int64)
    warnings = sufficiency(u, t, zero_is_missing=zero)
    for k in np.flatnonzero(fields["model_type"] == 0):
        warnings[k].append(
            MVWarning(
                "no_qualified_temperature_model",
                "无合格的温度模型 no heating or cooling model qualified: intercept only",
                {},
            )
        )
    return DailyModel(warnings=warnings, **fields)


def _fit_block(
    u: np.ndarray,
    t: np.ndarray,
    cool: np.ndarray,
    zero: np.ndarray,
    bp: np.ndarray,
    min_nonzero_days: int,
    min_degree_days: float,
    max_p: float,
) -> dict[str, np.ndarray]:
    m, d = u.shape
    w = _valid(u, t, zero)
    n = w.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(w, u, 0.0).sum(axis=1) / n
    yc = np.where(w, u - mean[:, None], 0.0)  # centred: sums stay exact on large meters
    syy = (yc * yc).sum(axis=1)
    tt = np.where(w, t, 0.0)[:, None, :]
    h = _sums(np.maximum(bp[None, :, None] - tt, 0.0), w, yc)  # heating, per balance point
    c = _sums(np.maximum(tt - bp[None, :, None], 0.0), w, yc)  # cooling
    nn = n[:, None]

    def enough(s: tuple[np.ndarray, ...]) -> np.ndarray:
        return (s[3] >= min_nonzero_days) & (s[0] >= min_degree_days)

    with np.errstate(invalid="ignore", divide="ignore"):
        # One slope: x centred by its mean; the use is centred already.
        def one(s: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
            sx, sxx, sxy, _ = s
            sxx_c = sxx - sx * sx / nn
            beta = sxy / sxx_c
            ss_res = syy[:, None] - beta * sxy
            se = np.sqrt(ss_res / (nn - 2) / sxx_c)
            mu = mean[:, None] - beta * sx / nn
            return beta, mu, ss_res, beta / se

        # A slope's p-value is below max_p where its t statistic is beyond the Student
        # quantile (two-sided): one quantile per meter instead of a p-value per candidate.
        t1 = stats.t.isf(max_p / 2, n - 2)[:, None]
        t2 = stats.t.isf(max_p / 2, n - 3)[:, None, None]
        bh, mh, rh, th = one(h)
        bc, mc, rc, tc = one(c)
        ok_h = enough(h) & (bh > 0) & (np.abs(th) > t1) & (mh > 0)
        ok_c = enough(c) & (bc > 0) & (np.abs(tc) > t1) & (mc > 0) & cool[:, None]
        # Two slopes, every pair with the cooling balance point at or above the heating one:
        # the HDD and CDD of one day are never both above zero, so Σ h·c = 0.
        sh, shh, shy = (x[:, :, None] for x in h[:3])
        sc, scc, scy = (x[:, None, :] for x in c[:3])
        n3 = nn[:, :, None]
        a11, a22 = shh - sh * sh / n3, scc - sc * sc / n3
        a12 = -sh * sc / n3
        det = a11 * a22 - a12 * a12
        beta_h = (a22 * shy - a12 * scy) / det
        beta_c = (a11 * scy - a12 * shy) / det
        ss_res2 = syy[:, None, None] - beta_h * shy - beta_c * scy
        var = ss_res2 / (n3 - 3)
        t_h = np.abs(beta_h / np.sqrt(var * a22 / det))
        t_c = np.abs(beta_c / np.sqrt(var * a11 / det))
        mu2 = mean[:, None, None] - (beta_h * sh + beta_c * sc) / n3
        ok2 = (
            (bp[None, :, None] <= bp[None, None, :])
            & enough(h)[:, :, None]
            & enough(c)[:, None, :]
            & (beta_h > 0)
            & (beta_c > 0)
            & (t_h > t2)
            & (t_c > t2)
            & (mu2 > 0)
            & cool[:, None, None]
        )

        # Adjusted R² (CalTRACK 3.4.3.3): 1 − (SS_res / (n − c − 1)) / (SS_tot / (n − 1)).
        def adj(ss_res: np.ndarray, slopes: int, nx: np.ndarray) -> np.ndarray:
            return 1 - (ss_res / (nx - slopes - 1)) / (
                syy.reshape(nx.shape[:1] + (1,) * (nx.ndim - 1)) / (nx - 1)
            )

        r_h = np.where(ok_h, adj(rh, 1, nn), -np.inf)
        r_c = np.where(ok_c, adj(rc, 1, nn), -np.inf)
        r_2 = np.where(ok2, adj(ss_res2, 2, n3), -np.inf)

    rows = np.arange(m)
    ih, ic = r_h.argmax(axis=1), r_c.argmax(axis=1)
    i2 = r_2.reshape(m, -1).argmax(axis=1)
    i2h, i2c = np.divmod(i2, len(bp))
    best = np.stack([np.zeros(m), r_h[rows, ih], r_c[rows, ic], r_2[rows, i2h, i2c]], axis=1)
    best[:, 1:] = np.where(np.isfinite(best[:, 1:]), best[:, 1:], -np.inf)
    kind = best.argmax(axis=1)  # ties keep the simpler model
    out = {
        "model_type": kind,
        "intercept": np.select(
            [kind == 1, kind == 2, kind == 3],
            [mh[rows, ih], mc[rows, ic], mu2[rows, i2h, i2c]],
            mean,
        ),
        "beta_hdd": np.select([kind == 1, kind == 3], [bh[rows, ih], beta_h[rows, i2h, i2c]], 0.0),
        "beta_cdd": np.select([kind == 2, kind == 3], [bc[rows, ic], beta_c[rows, i2h, i2c]], 0.0),
        "hdd_balance_c": np.select([kind == 1, kind == 3], [bp[ih], bp[i2h]], np.nan),
        "cdd_balance_c": np.select([kind == 2, kind == 3], [bp[ic], bp[i2c]], np.nan),
        "n": n,
        "mean_use": mean,
    }
    # Statistics of the chosen models on their baseline days.
    model = DailyModel(
        **{k: np.asarray(v) for k, v in out.items()},
        **{
            k: np.zeros(m)
            for k in ("r_squared", "r_squared_adj", "cvrmse", "nmbe", "autocorrelation")
        },
    )
    pred = model.predict(t)
    resid = np.where(w, u - pred, np.nan)
    slopes = model.slopes
    with np.errstate(invalid="ignore", divide="ignore"):
        ss_res = np.nansum(resid * resid, axis=1)
        out["r_squared"] = np.where(kind > 0, 1 - ss_res / syy, 0.0)
        out["r_squared_adj"] = np.where(
            kind > 0, 1 - (ss_res / (n - slopes - 1)) / (syy / (n - 1)), 0.0
        )
        out["cvrmse"] = np.sqrt(ss_res / (n - slopes)) / mean
        out["nmbe"] = np.nansum(resid, axis=1) / ((n - slopes) * mean)
        out["autocorrelation"] = _lag1(resid)
    return out


def _lag1(resid: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation of each row's residuals over consecutive known days."""
    a, b = resid[:, :-1], resid[:, 1:]
    both = ~np.isnan(a) & ~np.isnan(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        num = np.where(both, a * b, 0.0).sum(axis=1)
        den = np.nansum(resid * resid, axis=1)
        return num / den


@dataclass
class HourlyModel:
    """Fitted hourly time-of-week × temperature (TOWT) baselines of ``meters`` meters
    (:func:`analytics.baseline.fit_towt`, least squares without the robust refit), with
    their statistics on the baseline hours (arrays of shape (meters,)).

    ``explanatory`` counts the model's explanatory variables besides the intercept (the
    167 other times of week and the temperature bands), the c of CV(RMSE)'s ``n − c``."""

    towt: baseline.TowtModel
    n: np.ndarray
    r_squared: np.ndarray
    cvrmse: np.ndarray
    nmbe: np.ndarray
    autocorrelation: np.ndarray
    mean_use: np.ndarray
    warnings: list[list[MVWarning]] = field(default_factory=list)

    @property
    def explanatory(self) -> int:
        return baseline.HOURS_PER_WEEK - 1 + 2 * (len(self.towt.knots) + 1)

    def predict(self, temp: np.ndarray, tow: np.ndarray) -> np.ndarray:
        """Use per hour, shape (meters, hours), for outdoor ``temp`` (°C) and times of week
        ``tow`` (0–167, :func:`analytics.baseline.time_of_week`)."""
        t = np.asarray(temp, dtype=np.float64)
        return self.towt.predict(np.broadcast_to(t, (len(self.n), t.shape[-1])), tow)

    def to_dict(self) -> dict[str, Any]:
        m = self.towt
        return {
            "kind": "towt_hourly",
            "version": 1,
            "tow": [_json_list(row) for row in m.tow],
            "slopes": m.slopes.tolist(),
            "occupied": m.occupied.tolist(),
            "knots": list(m.knots),
            "sigma": _json_list(m.sigma),
            **{
                name: _json_list(getattr(self, name))
                for name in ("n", "r_squared", "cvrmse", "nmbe", "autocorrelation", "mean_use")
            },
            "warnings": [[asdict(w) for w in ws] for ws in self.warnings],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HourlyModel:
        if data.get("kind") != "towt_hourly":
            raise ValueError(f"kind: expected 'towt_hourly', got {data.get('kind')!r}")

        def floats(x: Any) -> np.ndarray:
            return np.array(x, dtype=object).astype(np.float64)  # None → NaN

        towt = baseline.TowtModel(
            floats(data["tow"]),
            np.array(data["slopes"], dtype=np.float64),
            np.array(data["occupied"], dtype=bool),
            tuple(data["knots"]),
            floats(data["sigma"]),
        )
        stats_ = {
            name: floats(data[name])
            for name in ("r_squared", "cvrmse", "nmbe", "autocorrelation", "mean_use")
        }
        warnings = [[MVWarning(**w) for w in ws] for ws in data.get("warnings", [])]
        n = np.array(data["n"], dtype=np.int64)
        return cls(towt=towt, n=n, warnings=warnings, **stats_)


def fit_hourly(
    use: np.ndarray,
    temp: np.ndarray,
    tow: np.ndarray,
    *,
    zero_is_missing: np.ndarray | bool = False,
) -> HourlyModel:
    """Fit hourly TOWT baselines of many meters at once (CalTRACK 3.7-style, one model over
    the whole baseline).

    Parameters
    ----------
    use : array_like, shape (meters, hours)
        Baseline use per hour, NaN where missing.
    temp : array_like, shape (meters, hours) or (hours,)
        Outdoor air temperature, °C.
    tow : array_like of int, shape (hours,)
        Time of week of each hour, 0–167 (:func:`analytics.baseline.time_of_week`).
    zero_is_missing : bool or array_like of bool, shape (meters,)
        Whether an hour of 0 is missing (an interval meter reads 0 when a whole building is
        off, so the default keeps zeros).
    """
    u = np.atleast_2d(np.asarray(use, dtype=np.float64))
    t = np.broadcast_to(np.asarray(temp, dtype=np.float64), u.shape)
    zero = np.broadcast_to(np.asarray(zero_is_missing, dtype=bool), (len(u),))
    w = _valid(u, t, zero)
    u = np.where(w, u, np.nan)
    towt = baseline.fit_towt(u, t, tow, robust_passes=0)
    pred = towt.predict(t, tow)
    resid = np.where(w & ~np.isnan(pred), u - pred, np.nan)
    ok = ~np.isnan(resid)
    n = ok.sum(axis=1)
    c = baseline.HOURS_PER_WEEK - 1 + 2 * (len(towt.knots) + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, u, 0.0).sum(axis=1) / n
        ss_res = np.nansum(resid * resid, axis=1)
        ss_tot = (np.where(ok, u - mean[:, None], 0.0) ** 2).sum(axis=1)
        model = HourlyModel(
            towt=towt,
            n=n,
            r_squared=1 - ss_res / ss_tot,
            cvrmse=np.sqrt(ss_res / (n - c)) / mean,
            nmbe=np.nansum(resid, axis=1) / ((n - c) * mean),
            autocorrelation=_lag1(resid),
            mean_use=mean,
        )
    hours = u.shape[1]
    for k in range(len(u)):
        found = []
        if hours < BASELINE_DAYS * 24:
            found.append(
                MVWarning(
                    "baseline_too_short",
                    f"基准期不足 365 天 baseline has {hours} hours, a year has 8760",
                    {"hours": hours, "required": BASELINE_DAYS * 24},
                )
            )
        if n[k] < 0.9 * hours:
            found.append(
                MVWarning(
                    "too_many_missing_hours",
                    f"缺失小时过多 {hours - n[k]} of {hours} hours lack a use or a temperature",
                    {"missing": int(hours - n[k]), "hours": hours},
                )
            )
        model.warnings.append(found)
    return model


@dataclass
class Savings:
    """Avoided energy of ``meters`` meters over a reporting period (arrays of shape (meters,)).

    Attributes
    ----------
    days : ndarray of int
        Reporting periods (days, or hours of an hourly model) with a use and a temperature
        (Q).
    observed, counterfactual : ndarray
        Metered use and the adjusted baseline over those days.
    non_routine : ndarray
        Non-routine adjustments added to the adjusted baseline.
    avoided : ndarray
        Avoided energy = adjusted baseline − reporting-period use + non-routine adjustments.
    fractional : ndarray
        ``avoided / counterfactual``.
    fsu : ndarray
        Fractional savings uncertainty at ``confidence`` (CalTRACK 4.3.2.4).
    uncertainty : ndarray
        ``fsu × |avoided|``: the ± on the avoided energy.
    confidence : float
    counted : ndarray of bool, shape (meters, periods)
        The periods in those totals (a use, a temperature and a prediction): day by day,
        ``sum(counted · (prediction − use))`` is ``avoided − non_routine``.
    """

    days: np.ndarray
    observed: np.ndarray
    counterfactual: np.ndarray
    non_routine: np.ndarray
    avoided: np.ndarray
    fractional: np.ndarray
    fsu: np.ndarray
    uncertainty: np.ndarray
    confidence: float
    counted: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"confidence": self.confidence}
        for name in (
            "days",
            "observed",
            "counterfactual",
            "non_routine",
            "avoided",
            "fractional",
            "fsu",
            "uncertainty",
        ):
            out[name] = _json_list(getattr(self, name))
        return out


def savings(
    model: DailyModel | HourlyModel,
    use: np.ndarray,
    temp: np.ndarray,
    *,
    tow: np.ndarray | None = None,
    non_routine: np.ndarray | float = 0.0,
    confidence: float = 0.90,
    zero_is_missing: np.ndarray | bool | None = None,
) -> Savings:
    """Avoided energy over a reporting period (IPMVP Option C).

    Parameters
    ----------
    model : DailyModel or HourlyModel
        Baseline models of the meters.
    use : array_like, shape (meters, periods)
        Reporting-period use per day (daily model) or hour (hourly), NaN where missing.
    temp : array_like, shape (meters, periods) or (periods,)
        Mean outdoor temperature of each period, °C.
    tow : array_like of int, shape (periods,), optional
        Times of week of the hours (hourly model only).
    non_routine : float or array_like, shape (meters,)
        Non-routine adjustments (a floor added: +, a wing closed: −), in the use's unit.
    confidence : float
        Confidence level of the uncertainty (two-sided; 0.90 as CalTRACK suggests).
    zero_is_missing : bool or array_like of bool, optional
        As in :func:`fit_daily`; default: daily meters whose model may cool, no hourly meter.

    Notes
    -----
    A period without a use or a temperature counts in neither total (CalTRACK 3.5). The FSU
    is ``t · (aM² + bM + d) · CV(RMSE) · √(P/P′ · (1 + 2/P′) / Q) / F`` with t the Student
    quantile at ``n − c`` degrees of freedom, M the reporting months, Q its periods, P the
    baseline periods, P′ = P (1 − ρ)/(1 + ρ) with ρ the lag-1 autocorrelation of the baseline
    residuals, F the fractional savings, and (a, b, d) Sun and Baltazar's daily coefficients;
    hourly models have no such coefficients (a = b = 0, d = 1): their autocorrelation is in P′.
    """
    u = np.atleast_2d(np.asarray(use, dtype=np.float64))
    meters = len(model.n)
    if len(u) != meters:
        raise ValueError(f"use: {len(u)} meters for a model of {meters}")
    t = np.broadcast_to(np.asarray(temp, dtype=np.float64), u.shape)
    if isinstance(model, HourlyModel):
        if tow is None:
            raise ValueError("tow: an hourly model needs the times of week of the hours")
        pred = model.predict(t, tow)
        explanatory = np.full(meters, model.explanatory)
        zero = False if zero_is_missing is None else zero_is_missing
        a, b, d = 0.0, 0.0, 1.0
        per_month = 365.25 / 12 * 24
    else:
        pred = model.predict(t)
        explanatory = model.slopes
        zero = (model.beta_cdd > 0) if zero_is_missing is None else zero_is_missing
        a, b, d = FSU_COEFFICIENTS["daily"]
        per_month = 365.25 / 12
    w = _valid(u, t, np.broadcast_to(np.asarray(zero, dtype=bool), (meters,))) & ~np.isnan(pred)
    q = w.sum(axis=1)
    observed = np.where(w, u, 0.0).sum(axis=1)
    counterfactual = np.where(w, pred, 0.0).sum(axis=1)
    adjust = np.broadcast_to(np.asarray(non_routine, dtype=np.float64), (meters,)).copy()
    avoided = counterfactual - observed + adjust
    with np.errstate(invalid="ignore", divide="ignore"):
        fractional = avoided / counterfactual
        months = q / per_month
        p = model.n.astype(np.float64)
        rho = np.clip(np.nan_to_num(model.autocorrelation), -0.99, 0.99)
        p_eff = p * (1 - rho) / (1 + rho)
        tq = stats.t.ppf(1 - (1 - confidence) / 2, p - explanatory)
        fsu = (
            tq
            * (a * months**2 + b * months + d)
            * model.cvrmse
            * np.sqrt(p / p_eff * (1 + 2 / p_eff) / q)
            / np.abs(fractional)
        )
    return Savings(
        days=q,
        observed=observed,
        counterfactual=counterfactual,
        non_routine=adjust,
        avoided=avoided,
        fractional=fractional,
        fsu=fsu,
        uncertainty=fsu * np.abs(avoided),
        confidence=confidence,
        counted=w,
    )


def guideline14(
    observed: np.ndarray, predicted: np.ndarray, *, parameters: int, interval: str = "monthly"
) -> dict[str, Any]:
    """ASHRAE Guideline 14 statistics of a model against the data it was fitted on, per row.

    Parameters
    ----------
    observed, predicted : array_like, shape (meters, periods)
        Use per period (months for ``monthly``, hours for ``hourly``); NaN drops a period.
    parameters : int
        Parameters of the model, intercept included (p in G14's n − p).
    interval : {"monthly", "hourly"}
        Which calibration limits apply: CV(RMSE) ≤ 15 % and |NMBE| ≤ 5 % monthly, ≤ 30 % and
        ≤ 10 % hourly.

    Returns
    -------
    dict
        ``cvrmse``, ``nmbe``, ``r_squared`` (arrays) and ``passes`` (bool array), with the
        ``limits`` used.
    """
    if interval not in G14_LIMITS:
        raise ValueError(f"interval: must be one of {sorted(G14_LIMITS)}, got {interval!r}")
    y = np.atleast_2d(np.asarray(observed, dtype=np.float64))
    yhat = np.atleast_2d(np.asarray(predicted, dtype=np.float64))
    if y.shape != yhat.shape:
        raise ValueError(f"predicted: shape {yhat.shape} differs from observed {y.shape}")
    ok = ~np.isnan(y) & ~np.isnan(yhat)
    n = ok.sum(axis=1)
    r = np.where(ok, y - yhat, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, y, 0.0).sum(axis=1) / n
        dof = np.where(n > parameters, n - parameters, np.nan)  # too few periods: no verdict
        cvrmse = np.sqrt((r * r).sum(axis=1) / dof) / mean
        nmbe = r.sum(axis=1) / (dof * mean)
        ss_tot = (np.where(ok, y - mean[:, None], 0.0) ** 2).sum(axis=1)
        r2 = 1 - (r * r).sum(axis=1) / ss_tot
    cv_max, nmbe_max = G14_LIMITS[interval]
    return {
        "cvrmse": cvrmse,
        "nmbe": nmbe,
        "r_squared": r2,
        "passes": (cvrmse <= cv_max) & (np.abs(nmbe) <= nmbe_max),
        "limits": {"cvrmse": cv_max, "nmbe": nmbe_max, "interval": interval},
    }
