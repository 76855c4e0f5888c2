"""M&V benchmark: CalTRACK daily fits of many meters at once (:func:`analytics.mv.fit_daily`)
against the same code fitting the meters one at a time, in the same run.

The meters are synthetic but shaped like buildings: a base load, heating and cooling loads
beyond balance points drawn per meter (10–16 °C and 18–24 °C), 8 % multiplicative noise, a
weekly rhythm, 3 % missing days, electricity and gas (no cooling models) mixed, over two years
of daily data with a shared weather year (seasonal cycle plus day-to-day weather).

- ``daily_fits_per_s``: meters ÷ wall time of one ``fit_daily`` call over all of them
  (median over rounds).
- ``loop_fits_per_s``: meters ÷ time of ``fit_daily`` called on one meter at a time, over the
  first ``--loop-meters``; ``speedup_vs_loop``: the ratio, within each round (median).
- ``same_models``: meters whose model type and balance points agree between the two ways.

Targets (issue): ≥ 1,000 daily fits/s over 1,000 meters × 2 years. Run
``python bench/mv.py --quick`` (200 meters); the last line is key=value figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from statistics import median

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics import mv  # noqa: E402


def portfolio(meters: int, days: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(use, temperature °C, cooling) of ``meters`` synthetic meters over ``days`` days."""
    rng = np.random.default_rng(seed)
    day = np.arange(days)
    weather = 14 + 13 * np.sin(2 * np.pi * (day - 105) / 365.25) + rng.normal(0, 3.5, days)
    temp = weather + rng.normal(0, 0.5, (meters, 1))  # sites a little warmer or cooler
    cooling = rng.random(meters) < 0.7
    base = rng.lognormal(4, 1, meters)
    heat = base * rng.uniform(0.02, 0.12, meters)
    cool = np.where(cooling, base * rng.uniform(0.02, 0.15, meters), 0.0)
    tb_h = rng.uniform(10, 16, meters)
    tb_c = rng.uniform(18, 24, meters)
    weekly = np.where(day % 7 >= 5, 0.8, 1.0)
    use = (
        base[:, None] * weekly
        + heat[:, None] * np.maximum(tb_h[:, None] - temp, 0)
        + cool[:, None] * np.maximum(temp - tb_c[:, None], 0)
    ) * (1 + rng.normal(0, 0.08, (meters, days)))
    use[rng.random(use.shape) < 0.03] = np.nan
    return use, temp, cooling


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 meters, 3 rounds")
    ap.add_argument("--meters", type=int, help="meters (default 1,000; 200 with --quick)")
    ap.add_argument("--days", type=int, default=730, help="days of daily data per meter")
    ap.add_argument("--rounds", type=int, help="timed rounds (default 5, 3 with --quick)")
    ap.add_argument("--loop-meters", type=int, default=100, help="meters the loop fits")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    meters = args.meters or (200 if args.quick else 1000)
    rounds = args.rounds or (3 if args.quick else 5)
    use, temp, cooling = portfolio(meters, args.days, args.seed)
    loop = min(args.loop_meters, meters)
    say(f"{meters} meters × {args.days} days; the loop fits {loop} of them one at a time")

    def fit_all() -> mv.DailyModel:
        return mv.fit_daily(use, temp, cooling=cooling)

    def fit_each() -> list[mv.DailyModel]:
        return [
            mv.fit_daily(use[k : k + 1], temp[k : k + 1], cooling=cooling[k : k + 1])
            for k in range(loop)
        ]

    fit_all(), fit_each()  # untimed: imports, scipy's first calls
    rates, loop_rates, ratios = [], [], []
    for r in range(rounds):
        t0 = time.perf_counter()
        together = fit_all()
        rates.append(meters / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        alone = fit_each()
        loop_rates.append(loop / (time.perf_counter() - t0))
        ratios.append(rates[-1] / loop_rates[-1])
        say(
            f"round {r + 1}: {rates[-1]:,.0f} fits/s together, {loop_rates[-1]:,.0f} one at a"
            f" time; ×{ratios[-1]:.1f}"
        )
    same = sum(
        int(
            together.model_type[k] == a.model_type[0]
            and np.array_equal(
                [together.hdd_balance_c[k], together.cdd_balance_c[k]],
                [a.hdd_balance_c[0], a.cdd_balance_c[0]],
                equal_nan=True,
            )
        )
        for k, a in enumerate(alone)
    )
    kinds = {t: int(np.sum(together.model_type == k)) for k, t in enumerate(mv.MODEL_TYPES)}
    say(f"models: {kinds}; median CV(RMSE) {np.nanmedian(together.cvrmse):.1%}")
    figures = {
        "meters": meters,
        "days": args.days,
        "rounds": rounds,
        "daily_fits_per_s": round(median(rates)),
        "loop_fits_per_s": round(median(loop_rates)),
        "speedup_vs_loop": round(median(ratios), 1),
        "same_models": f"{same}/{loop}",
    }
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
