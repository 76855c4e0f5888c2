"""The reports' charts, drawn by matplotlib into SVG strings (text as paths: the CJK glyphs
are in the chart, whatever fonts the reader has).

Each function takes plain numbers — lists as they come in the audit and M&V JSON, None where
unknown — and the language; none reads the store.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
from collections.abc import Iterator, Sequence

import numpy as np

from reports.fonts import cjk_family
from reports.text import month, t

#: 分项 colours: lighting & plugs, HVAC, power, special, the rest.
COLORS = {
    "01A": "#f2b134",
    "01B": "#3b7dd8",
    "01C": "#6aa84f",
    "01D": "#a64d79",
    "rest": "#b7b7b7",
}
INK = "#333333"


@contextlib.contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    family = cjk_family()
    with matplotlib.rc_context(
        {
            "font.family": "sans-serif",
            "font.sans-serif": [family, "DejaVu Sans"],
            "axes.unicode_minus": False,  # CJK fonts often lack U+2212
            "svg.fonttype": "path",
            "svg.hashsalt": "jieneng",  # the same chart gives the same SVG
            "font.size": 9,
            "axes.edgecolor": INK,
            "axes.labelcolor": INK,
            "xtick.color": INK,
            "ytick.color": INK,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    ):
        yield


def _figure(width: float = 6.8, height: float = 2.8):  # inches
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _svg(fig, name: str) -> str:
    """The figure as an inline ``<svg>`` element whose ids (glyphs, clip paths) start with
    ``name``: several charts on one page must not share an id."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'\bid="([^"]+)"', rf'id="{name}-\1"', text)
    text = re.sub(r'href="#([^"]+)"', rf'href="#{name}-\1"', text)
    return re.sub(r"url\(#([^)]+)\)", rf"url(#{name}-\1)", text)


def _nums(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def monthly_by_end_use(
    months: Sequence[int],
    by_code: dict[str, Sequence[float | None]],
    names: dict[str, str],
    lang: str,
) -> str:
    """Stacked bars of electricity per month by 分项 (kWh); ``by_code`` holds 12 values per
    code (``01`` main and ``01A``…); what the main meter measured beyond its sub-meters is
    stacked as 'other'."""
    with _style():
        fig = _figure()
        ax = fig.add_subplot()
        idx = np.array(months) - 1
        x = np.arange(len(months))
        bottom = np.zeros(len(months))
        subs = [c for c in ("01A", "01B", "01C", "01D") if c in by_code]
        for code in subs:
            v = np.nan_to_num(_nums(by_code[code])[idx])
            ax.bar(x, v, 0.6, bottom=bottom, color=COLORS[code], label=f"{names[code]} {code}")
            bottom += v
        if "01" in by_code:
            rest = np.nan_to_num(_nums(by_code["01"])[idx]) - bottom
            if (rest > 0).any():
                ax.bar(
                    x,
                    np.maximum(rest, 0),
                    0.6,
                    bottom=bottom,
                    color=COLORS["rest"],
                    label=t("unsubmetered", lang),
                )
        ax.set_xticks(x, [month(m, lang) for m in months])
        pad = max(0.6, (6 - len(months)) / 2)  # a month or a quarter: bars of a year's width
        ax.set_xlim(-pad, len(months) - 1 + pad)
        ax.set_ylabel("kWh")
        ax.set_title(t("chart_monthly", lang), loc="left", fontsize=11)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        ax.yaxis.set_major_formatter(_thousands())
        return _svg(fig, "monthly")


def load_profile(
    workday_kw: Sequence[float | None] | None,
    non_workday_kw: Sequence[float | None] | None,
    lang: str,
    *,
    base_load_kw: float | None = None,
) -> str:
    """Mean demand by hour of workdays and of weekends and holidays (kW)."""
    with _style():
        fig = _figure(3.3, 2.6)
        ax = fig.add_subplot()
        hours = np.arange(24) + 0.5
        if workday_kw is not None:
            ax.plot(hours, _nums(workday_kw), color="#3b7dd8", lw=2, label=t("workday", lang))
        if non_workday_kw is not None:
            ax.plot(
                hours, _nums(non_workday_kw), color="#e06666", lw=2, label=t("non_workday", lang)
            )
        if base_load_kw is not None:
            ax.axhline(base_load_kw, color="#999999", lw=1, ls="--", label=t("base_load", lang))
        ax.set_xlim(0, 24)
        ax.set_xticks([0, 6, 12, 18, 24])
        ax.set_ylim(bottom=0)
        ax.set_xlabel(t("hour", lang))
        ax.set_ylabel("kW")
        ax.set_title(t("chart_profile", lang), loc="left", fontsize=10)
        ax.legend(frameon=False, fontsize=8)
        return _svg(fig, "profile")


def heat_map(hourly_kwh: Sequence[Sequence[float | None]], first_day: str, lang: str) -> str:
    """kWh per hour: days across, hours of the day down."""
    with _style():
        fig = _figure(3.5, 2.6)
        ax = fig.add_subplot()
        grid = np.array([_nums(row) for row in hourly_kwh]).T  # (24, days)
        days = grid.shape[1]
        masked = np.ma.masked_invalid(grid)
        image = ax.imshow(
            masked,
            aspect="auto",
            origin="lower",
            cmap="YlOrRd",
            extent=(0, days, 0, 24),
            interpolation="nearest",
        )
        ax.set_yticks([0, 6, 12, 18, 24])
        start = dt.date.fromisoformat(first_day)
        step = max(1, days // 6)
        ticks = list(range(0, days, step))
        labels = [(start + dt.timedelta(k)).strftime("%m-%d") for k in ticks]
        ax.set_xticks([k + 0.5 for k in ticks], labels)
        ax.set_xlabel(t("day", lang))
        ax.set_ylabel(t("hour", lang))
        ax.set_title(t("chart_heatmap", lang), loc="left", fontsize=10)
        bar = fig.colorbar(image, ax=ax, pad=0.02)
        bar.set_label("kWh/h")
        return _svg(fig, "heatmap")


def intensity(
    bars: Sequence[tuple[str, float, str]],
    lines: Sequence[tuple[str, float, str]],
    lang: str,
    *,
    unit: str,
) -> str:
    """Horizontal bars of intensities (label, value, colour) against benchmark lines (label,
    value, colour), in ``unit``."""
    with _style():
        fig = _figure(6.8, 0.55 + 0.42 * max(len(bars), 2))
        ax = fig.add_subplot()
        y = np.arange(len(bars))[::-1]
        ax.barh(y, [b[1] for b in bars], 0.55, color=[b[2] for b in bars])
        ax.set_yticks(y, [b[0] for b in bars])
        top = max([b[1] for b in bars] + [line[1] for line in lines] + [1e-9])
        for k, (_, value, _) in enumerate(bars):
            ax.text(value, y[k], f" {value:,.1f}", va="center", fontsize=8, color=INK)
        for label, value, color in lines:
            ax.axvline(value, color=color, lw=1.5, ls="--", label=f"{label} {value:,.1f}")
        if lines:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
        ax.set_xlim(0, top * 1.15)
        ax.set_ylim(-0.6, len(bars) - 0.4)
        ax.set_xlabel(unit)
        ax.set_title(t("chart_intensity", lang), loc="left", fontsize=11)
        return _svg(fig, "intensity")


def baseline_vs_actual(
    dates: Sequence[str],
    observed: Sequence[float | None],
    baseline: Sequence[float | None],
    avoided: Sequence[float | None],
    reporting_start: str,
    lang: str,
    *,
    unit: str,
) -> str:
    """Daily use against the baseline model (the fit before ``reporting_start``, the adjusted
    baseline after), and the cumulative avoided energy over the reporting period: the sum of
    ``avoided``, the days the savings counted (:func:`jieneng.mv.run`), so that it ends where
    the statement's avoided energy does (less any non-routine adjustment)."""
    with _style():
        fig = _figure(6.8, 3.2)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
        days = np.array(dates, dtype="datetime64[D]")
        obs, base = _nums(observed), _nums(baseline)
        start = np.datetime64(reporting_start, "D")
        rep = days >= start
        top.plot(days, obs, color="#555555", lw=0.8, label=t("actual", lang))
        top.plot(
            days[~rep],
            base[~rep],
            color="#3b7dd8",
            lw=1,
            alpha=0.8,
            label=f"{t('fit', lang)}",
        )
        top.plot(days[rep], base[rep], color="#e69138", lw=1.5, label=t("adjusted_baseline", lang))
        top.fill_between(
            days[rep],
            obs[rep],
            base[rep],
            where=(base[rep] >= obs[rep]),
            color="#93c47d",
            alpha=0.5,
            label=t("avoided", lang),
            interpolate=True,
        )
        top.axvline(start, color=INK, lw=1, ls=":")
        top.set_ylabel(f"{unit}/d")
        top.set_ylim(bottom=0)
        top.set_title(t("chart_baseline", lang), loc="left", fontsize=11)
        top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
        cumulative = np.where(rep, np.cumsum(np.nan_to_num(_nums(avoided))), np.nan)
        bottom.plot(days, cumulative, color="#38761d", lw=1.5)
        bottom.axhline(0, color="#999999", lw=0.8)
        bottom.axvline(start, color=INK, lw=1, ls=":")
        bottom.set_ylabel(unit)
        bottom.set_title(t("chart_cumulative", lang), loc="left", fontsize=9)
        bottom.yaxis.set_major_formatter(_thousands())
        fig.autofmt_xdate()
        return _svg(fig, "baseline")


def _thousands():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:,.0f}")
