"""The dashboards, as code (grafanalib): portfolio overview, building live, meter detail,
waste & alerts, audit & M&V. Every panel reads the store's documented views (``v_*``) through one
PostgreSQL datasource (uid :data:`DATASOURCE_UID`) with the read-only role; variables
``institution``, ``building``, ``energy_class`` (and ``point`` on the meter page, ``result``
— a stored M&V result — on the audit & M&V page).

Chinese titles by default, English with ``lang="en"``. Standard-coal factors in the SQL come
from ``analytics/data/factors.yaml`` (the same numbers as the audit), not from literals here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grafanalib.core as G

from analytics import factors as factorlib
from analytics.mv import G14_LIMITS

DATASOURCE_UID = "jieneng-pg"
DATASOURCE = {"type": "grafana-postgresql-datasource", "uid": DATASOURCE_UID}

#: key → (中文, English)
WORDS: dict[str, tuple[str, str]] = {
    "portfolio": ("单位总览", "Portfolio overview"),
    "building": ("建筑实时", "Building live"),
    "meter": ("计量点详情", "Meter detail"),
    "waste": ("浪费与告警", "Waste & alerts"),
    "institution": ("单位", "Institution"),
    "building_var": ("建筑", "Building"),
    "energy_class": ("能源分类", "Energy class"),
    "point": ("计量点", "Point"),
    "ranking": ("单位面积能耗排名 (kgce/m², 所选时段)", "Energy per m² ranking (kgce/m², range)"),
    "per_capita": ("人均能耗 (kgce/人, 所选时段)", "Energy per person (kgce, range)"),
    "today_vs_week": ("今日用电与上周同日对比", "Electricity today vs the same weekday last week"),
    "open_alerts": ("未处理告警", "Open alerts"),
    "power_by_item": ("分项用电 (kW, 小时平均)", "Power by end use (kW, hourly mean)"),
    "temperatures": ("室内外温度 (°C)", "Indoor and outdoor temperature (°C)"),
    "base_load": ("基础负荷占比", "Base-load ratio"),
    "night_water": ("夜间用水 (0–5 点, m³/h)", "Night water flow (0–5 h, m³/h)"),
    "raw_vs_clean": ("原始读数与 15 分钟均值", "Raw readings vs 15-minute means"),
    "quality": ("数据质量标记", "Quality flags"),
    "findings": ("发现的浪费 (¥, kgce)", "Findings (¥, kgce)"),
    "alerts": ("告警", "Alerts"),
    "waste_by_rule": ("按问题的浪费金额 (¥)", "Waste by rule (¥)"),
    "mv": ("审计与节能量核定", "Audit & M&V"),
    "result": ("节能量测量", "Measurement"),
    "cvrmse": ("CV(RMSE) (基准期, 指南 14)", "CV(RMSE) (baseline, Guideline 14)"),
    "nmbe": ("NMBE (基准期, 指南 14)", "NMBE (baseline, Guideline 14)"),
    "verdict": ("模型是否合格 (ASHRAE 指南 14)", "Model passes ASHRAE Guideline 14"),
    "pass": ("合格", "passes"),
    "fail": ("不合格", "fails"),
    "value": ("节能效益 (¥)", "Value of the savings (¥)"),
    "baseline_vs_actual": ("基准与实测 (日)", "Baseline vs actual (daily)"),
    "observed": ("实测", "actual"),
    "baseline": ("基准", "baseline"),
    "cumulative": ("累计节能量", "Cumulative savings"),
    "avoided": ("节能量", "avoided"),
    "summary": ("测量结果", "Measurement result"),
    "monthly_kgce": ("逐月能耗 (kgce)", "Energy by month (kgce)"),
    "year_over_year": ("与上年同期对比", "Against the same period a year earlier"),
    "all_results": ("全部节能量测量", "Every stored measurement"),
}

ENERGY_CLASSES = (("01", "电 electricity"), ("02", "水 water"), ("03", "燃气 gas"),
                  ("04", "热 heat"))  # fmt: skip


def _t(key: str, lang: str) -> str:
    zh, en = WORDS[key]
    return zh if lang == "zh" else en


def _sql(raw: str, ref: str = "A", fmt: str = "time_series") -> G.SqlTarget:
    return G.SqlTarget(rawSql=raw.strip(), format=fmt, refId=ref, datasource=DATASOURCE)


def _kgce_case(column: str = "energy_class") -> str:
    """SQL turning a class's use (kWh, m³) into kgce with the factors file's numbers."""
    f = factorlib.load()
    heat_per_kwh = f.kgce("heat") * 3.6  # heat meters count kWh; the factor is per MJ
    return (
        f"CASE {column} WHEN '01' THEN {f.kgce('electricity')} WHEN '03' THEN"
        f" {f.kgce('natural_gas')} WHEN '04' THEN {heat_per_kwh:.6f} ELSE 0 END"
    )


def _class_name(column: str) -> str:
    """SQL naming an energy class code (``ENERGY_CLASSES``), e.g. '01' → '电 electricity'."""
    cases = " ".join(f"WHEN '{code}' THEN '{label}'" for code, label in ENERGY_CLASSES)
    return f"CASE {column} {cases} ELSE {column} END"


def _variables(lang: str, *, point: bool = False) -> G.Templating:
    items = [
        G.Template(
            name="institution",
            label=_t("institution", lang),
            query="SELECT institution_code AS __value, name AS __text FROM v_institutions"
            " ORDER BY institution_code",
            dataSource=DATASOURCE,
            type="query",
            multi=True,
            includeAll=True,
            refresh=1,
        ),
        G.Template(
            name="building",
            label=_t("building_var", lang),
            query="SELECT building_code AS __value, name AS __text FROM v_buildings"
            " WHERE institution_code IN (${institution:sqlstring}) ORDER BY building_code",
            dataSource=DATASOURCE,
            type="query",
            multi=False,
            refresh=1,
        ),
        G.Template(
            name="energy_class",
            label=_t("energy_class", lang),
            query=",".join(f"{label} : {code}" for code, label in ENERGY_CLASSES),
            type="custom",
            multi=True,
            includeAll=True,
            default="01",
        ),
    ]
    if point:
        items.append(
            G.Template(
                name="point",
                label=_t("point", lang),
                query="SELECT point_key FROM v_points WHERE building_code = '${building}'"
                " ORDER BY point_key",
                dataSource=DATASOURCE,
                type="query",
                refresh=1,
            )
        )
    return G.Templating(list=items)


#: The chosen building's id, as a value the planner knows before it joins (an InitPlan): a
#: join to ``v_buildings`` on the code alone let it read every building's meters first.
_BUILDING_ID = "(SELECT building_id FROM v_buildings WHERE building_code = '${building}')"

#: The span of the dashboard's time range, in SQL.
_SPAN = "$__timeTo()::timestamptz - $__timeFrom()::timestamptz"


def _by_range(short: str, long: str, *, days: int, group: str = "") -> str:
    """One query that reads ``short`` (a SELECT … WHERE …) for ranges up to ``days`` and
    ``long`` beyond: PostgreSQL runs only the branch whose one-time filter holds (a year of a
    building's hours is 35,000 rows on scattered pages; its days are 365)."""
    return (
        f"{short}\n  AND {_SPAN} <= interval '{days} days' {group}\nUNION ALL\n"
        f"{long}\n  AND {_SPAN} > interval '{days} days' {group}\nORDER BY 1"
    )


def _panel(kind: type, title: str, *queries: str, pos: G.GridPos, unit: str, **extra: Any):
    """A panel on the datasource: time series (``queries`` A, B …) or a table/stat (one query,
    ``format="table"``); ``unit`` is Grafana's unit id (a stat's ``format``)."""
    table = kind is not G.TimeSeries
    targets = [_sql(q, chr(ord("A") + k), fmt="table" if table else "time_series")
               for k, q in enumerate(queries)]  # fmt: skip
    units = {"format": unit} if kind is G.Stat else {"unit": unit}
    return kind(title=title, dataSource=DATASOURCE, targets=targets, gridPos=pos, **units,
                **extra)  # fmt: skip


def _pos(x: int, y: int, w: int, h: int) -> G.GridPos:
    return G.GridPos(h=h, w=w, x=x, y=y)


def portfolio(lang: str = "zh") -> G.Dashboard:
    kgce = _kgce_case()
    ranking = f"""
        SELECT i.name AS "{_t("institution", lang)}",
               sum(c.value * {kgce}) / nullif(max(i.floor_area_m2), 0) AS kgce_per_m2,
               sum(c.value * {kgce}) / nullif(max(i.headcount), 0) AS kgce_per_person
        FROM v_consumption_1d c JOIN v_institutions i USING (institution_id)
        WHERE $__timeFilter(c.bucket) AND i.institution_code IN (${{institution:sqlstring}})
          AND c.energy_code IN ('01', '02', '03', '04')
        GROUP BY i.name ORDER BY kgce_per_m2"""
    today = """
        SELECT b.name AS building,
               sum(c.value) FILTER (WHERE c.bucket >= b.midnight) AS today_kwh,
               sum(c.value) FILTER (WHERE c.bucket >= b.midnight - interval '7 days'
                                      AND c.bucket < now() - interval '7 days') AS last_week_kwh
        FROM v_consumption_1h c
        JOIN (SELECT building_id, name, institution_code,
                     date_trunc('day', now() AT TIME ZONE time_zone) AT TIME ZONE time_zone
                         AS midnight  -- the building's local midnight, not the session's
              FROM v_buildings) b USING (building_id)
        WHERE c.energy_code = '01' AND c.bucket >= b.midnight - interval '7 days'
          AND c.bucket >= now() - interval '8 days'  -- the same, as a bound the index can use
          AND b.institution_code IN (${institution:sqlstring})
        GROUP BY b.name ORDER BY b.name"""
    open_alerts = """
        SELECT count(*) AS alerts FROM v_alerts a JOIN v_buildings b USING (building_id)
        WHERE a.status <> 'resolved' AND b.institution_code IN (${institution:sqlstring})"""
    return G.Dashboard(
        title=f"jieneng · {_t('portfolio', lang)}",
        uid=f"jieneng-portfolio-{lang}",
        tags=["jieneng"],
        templating=_variables(lang),
        time=G.Time("now-30d", "now"),
        panels=[
            _panel(G.Table, _t("ranking", lang), ranking, pos=_pos(0, 0, 16, 10), unit="none"),
            _panel(
                G.Stat,
                _t("open_alerts", lang),
                open_alerts,
                pos=_pos(16, 0, 8, 5),
                unit="none",
                reduceCalc="lastNotNull",
            ),
            _panel(
                G.Table, _t("today_vs_week", lang), today, pos=_pos(0, 10, 24, 8), unit="kwatth"
            ),
        ],
    ).auto_panel_ids()


def building(lang: str = "zh") -> G.Dashboard:
    power = f"""
        SELECT c.bucket AS "time", c.energy_code AS metric, sum(c.value)SCALE AS value
        FROM VIEW c
        WHERE $__timeFilter(c.bucket) AND c.building_id = {_BUILDING_ID}
          AND c.energy_code IN ('01A', '01B', '01C', '01D')"""
    power = _by_range(
        power.replace("VIEW", "v_consumption_1h").replace("SCALE", ""),
        power.replace("VIEW", "v_consumption_1d").replace("SCALE", " / 24"),  # kWh/day → kW
        days=31,
        group="GROUP BY 1, 2",
    )
    temperatures = """
        SELECT $__timeGroupAlias(r.bucket, $__interval), p.point_key AS metric, avg(r.avg) AS value
        FROM VIEW r JOIN v_points p USING (point_id)
        WHERE $__timeFilter(r.bucket) AND p.building_code = '${building}'
          AND p.quantity = 'temperature'"""
    temperatures = _by_range(
        temperatures.replace("VIEW", "v_rollup_1h"),
        temperatures.replace("VIEW", "v_rollup_1d"),
        days=31,
        group="GROUP BY 1, 2",
    )
    base_load = f"""
        SELECT min(v) / nullif(avg(v), 0) AS base_load_ratio FROM (
            SELECT c.bucket, sum(c.value) AS v
            FROM v_consumption_1h c
            WHERE $__timeFilter(c.bucket) AND c.building_id = {_BUILDING_ID}
              AND c.energy_code = '01'
            GROUP BY c.bucket) h"""
    night_water = f"""
        SELECT c.bucket AS "time", sum(c.value) AS value
        FROM v_consumption_1h c JOIN v_buildings b USING (building_id)
        WHERE $__timeFilter(c.bucket) AND c.building_id = {_BUILDING_ID}
          AND c.energy_class = '02'
          AND extract(hour FROM c.bucket AT TIME ZONE b.time_zone) < 5
        GROUP BY 1 ORDER BY 1"""
    limits = [  # the setpoint rule's lines (国办发〔2007〕42号)
        G.Threshold("blue", 0, 0.0),
        G.Threshold("green", 1, 20.0),  # heating not above 20 °C
        G.Threshold("orange", 2, 26.0),  # cooling not below 26 °C
    ]
    return G.Dashboard(
        title=f"jieneng · {_t('building', lang)}",
        uid=f"jieneng-building-{lang}",
        tags=["jieneng"],
        templating=_variables(lang),
        time=G.Time("now-7d", "now"),
        refresh="5m",
        panels=[
            _panel(
                G.TimeSeries,
                _t("power_by_item", lang),
                power,
                pos=_pos(0, 0, 16, 9),
                unit="kwatt",
                stacking={"mode": "normal", "group": "A"},
                fillOpacity=40,
            ),
            _panel(
                G.Stat,
                _t("base_load", lang),
                base_load,
                pos=_pos(16, 0, 8, 9),
                unit="percentunit",
                reduceCalc="lastNotNull",
            ),
            _panel(
                G.TimeSeries,
                _t("temperatures", lang),
                temperatures,
                pos=_pos(0, 9, 16, 9),
                unit="celsius",
                thresholdsStyleMode="line",
                thresholds=limits,
            ),
            _panel(
                G.TimeSeries, _t("night_water", lang), night_water, pos=_pos(16, 9, 8, 9), unit="m3"
            ),
        ],
    ).auto_panel_ids()


def meter(lang: str = "zh") -> G.Dashboard:
    raw = _by_range(  # raw readings for a week; beyond, hourly means (a year is 35,000 points)
        """SELECT r.time AS "time", r.value AS raw
           FROM v_readings r WHERE $__timeFilter(r.time) AND r.point_key = '${point}'""",
        """SELECT r.bucket AS "time", r.avg AS raw
           FROM v_rollup_1h r JOIN v_points p USING (point_id)
           WHERE $__timeFilter(r.bucket) AND p.point_key = '${point}'""",
        days=7,
    )
    clean = """
        SELECT r.bucket AS "time", r.avg AS mean_15m
        FROM VIEW r JOIN v_points p USING (point_id)
        WHERE $__timeFilter(r.bucket) AND p.point_key = '${point}'"""
    clean = _by_range(
        clean.replace("VIEW", "v_rollup_15m"), clean.replace("VIEW", "v_rollup_1d"), days=31
    )
    flags = """
        SELECT r.quality AS flags, count(*) AS readings, min(r.time) AS first, max(r.time) AS last
        FROM v_readings r WHERE $__timeFilter(r.time) AND r.point_key = '${point}'
          AND r.quality <> 0  -- the partial index readings_flagged (migration 0013)
        GROUP BY r.quality ORDER BY readings DESC"""
    return G.Dashboard(
        title=f"jieneng · {_t('meter', lang)}",
        uid=f"jieneng-meter-{lang}",
        tags=["jieneng"],
        templating=_variables(lang, point=True),
        time=G.Time("now-2d", "now"),
        panels=[
            _panel(
                G.TimeSeries,
                _t("raw_vs_clean", lang),
                raw,
                clean,
                pos=_pos(0, 0, 24, 10),
                unit="none",
            ),
            _panel(G.Table, _t("quality", lang), flags, pos=_pos(0, 10, 24, 7), unit="none"),
        ],
    ).auto_panel_ids()


def waste(lang: str = "zh") -> G.Dashboard:
    findings = """
        SELECT a.started_at, a.building_code, a.point_key, a.rule, a.status, a.severity,
               a.waste, a.waste_unit, a.kgce, a.cny
        FROM v_anomalies a JOIN v_buildings b USING (building_id)
        WHERE $__timeFilter(a.started_at) AND b.institution_code IN (${institution:sqlstring})
        ORDER BY a.started_at DESC LIMIT 500"""
    alerts = """
        SELECT a.opened_at, a.title, a.status, a.severity, a.assigned_to, a.cny_per_day,
               a.kgce_per_day
        FROM v_alerts a JOIN v_buildings b USING (building_id)
        WHERE b.institution_code IN (${institution:sqlstring})
          AND (a.status <> 'resolved' OR $__timeFilter(a.opened_at))
        ORDER BY a.opened_at DESC LIMIT 200"""
    by_rule = """
        SELECT $__timeGroupAlias(r.started_at, '1d'), r.rule AS metric, sum(r.cny) AS value
        FROM v_anomaly_runs r JOIN v_buildings b USING (building_id)
        WHERE $__timeFilter(r.started_at) AND b.institution_code IN (${institution:sqlstring})
          AND r.cny IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1"""
    annotations = G.Annotations(list=[{
        "name": _t("findings", lang), "datasource": DATASOURCE, "enable": True,
        "iconColor": "orange",
        "target": {"rawQuery": True, "format": "table", "refId": "Anno", "datasource": DATASOURCE,
                   "rawSql": (
            "SELECT r.started_at AS time, r.ended_at AS timeend, r.rule AS text"
            " FROM v_anomaly_runs r JOIN v_buildings b USING (building_id)"
            " WHERE $__timeFilter(r.started_at)"
            " AND b.institution_code IN (${institution:sqlstring})")},
    }])  # fmt: skip
    return G.Dashboard(
        title=f"jieneng · {_t('waste', lang)}",
        uid=f"jieneng-waste-{lang}",
        tags=["jieneng"],
        templating=_variables(lang),
        annotations=annotations,
        time=G.Time("now-30d", "now"),
        panels=[
            _panel(
                G.TimeSeries,
                _t("waste_by_rule", lang),
                by_rule,
                pos=_pos(0, 0, 24, 8),
                unit="currencyCNY",
                drawStyle="bars",
                stacking={"mode": "normal", "group": "A"},
            ),
            _panel(G.Table, _t("alerts", lang), alerts, pos=_pos(0, 8, 24, 8), unit="none"),
            _panel(G.Table, _t("findings", lang), findings, pos=_pos(0, 16, 24, 10), unit="none"),
        ],
    ).auto_panel_ids()


def mv(lang: str = "zh") -> G.Dashboard:
    """Audit & M&V: a stored measurement (``v_mv_results``/``v_mv_days``: ``jieneng mv``,
    ``jieneng emc settle``, the analysis job's contracts to date) — its Guideline 14 checks,
    baseline vs actual, cumulative savings — and the building's energy by month and against
    the same period a year earlier."""
    kgce = _kgce_case("c.energy_class")
    chosen = "nullif('${result}', '')::int"  # no measurement chosen: no rows, not an error

    def checks(column: str) -> str:
        return f"""
        SELECT {column} AS value FROM v_mv_results r
        WHERE r.result_id = {chosen} AND r.institution_code IN (${{institution:sqlstring}})"""

    def days(series: str, column: str, where: str = "") -> str:
        """A time series of the chosen result's days, named with its unit."""
        return f"""
        SELECT d.time, '{_t(series, lang)} (' || d.unit || ')' AS metric, d.{column} AS value
        FROM v_mv_days d JOIN v_mv_results r USING (result_id)
        WHERE d.result_id = {chosen} AND $__timeFilter(d.time){where}
          AND r.institution_code IN (${{institution:sqlstring}})"""

    series = f"{days('observed', 'observed')}\nUNION ALL{days('baseline', 'baseline')}\nORDER BY 1"
    cumulative = days("avoided", "cumulative_avoided", " AND d.period = 'reporting'")
    summary = f"""
        SELECT r.point_key, r.contract_code, r.model, r.calendar, r.baseline_start,
               r.baseline_end, r.reporting_start, r.reporting_end, r.periods, r.unit,
               r.observed, r.adjusted_baseline, r.non_routine, r.avoided, r.uncertainty,
               r.savings_fraction, r.r_squared, r.computed_at
        FROM v_mv_results r
        WHERE r.result_id = {chosen} AND r.institution_code IN (${{institution:sqlstring}})"""
    # Months of the service's days (the daily rollups' buckets), shown at the building's
    # local midnight.
    monthly = f"""
        SELECT date_trunc('month', c.bucket AT TIME ZONE s.time_zone) AT TIME ZONE b.time_zone
                   AS "time",
               {_class_name("c.energy_class")} AS metric, sum(c.value * {kgce}) AS value
        FROM v_consumption_1d c JOIN v_buildings b USING (building_id) CROSS JOIN v_service s
        WHERE $__timeFilter(c.bucket) AND c.building_id = {_BUILDING_ID}
          AND c.energy_code IN (${{energy_class:sqlstring}})
        GROUP BY 1, 2 ORDER BY 1"""
    year_earlier = "c.bucket >= $__timeFrom()::timestamptz - interval '1 year'" \
        " AND c.bucket < $__timeTo()::timestamptz - interval '1 year'"  # fmt: skip
    yoy = f"""
        SELECT {_class_name("c.energy_code")} AS energy_class, min(c.unit) AS unit,
               count(DISTINCT c.bucket) FILTER (WHERE $__timeFilter(c.bucket)) AS days,
               sum(c.value) FILTER (WHERE $__timeFilter(c.bucket)) AS use,
               sum(c.value * {kgce}) FILTER (WHERE $__timeFilter(c.bucket))
                   / nullif(min(b.floor_area_m2), 0) AS kgce_per_m2,
               count(DISTINCT c.bucket) FILTER (WHERE {year_earlier}) AS days_a_year_earlier,
               sum(c.value) FILTER (WHERE {year_earlier}) AS use_a_year_earlier,
               sum(c.value) FILTER (WHERE $__timeFilter(c.bucket))
                   / nullif(sum(c.value) FILTER (WHERE {year_earlier}), 0) - 1 AS change
        FROM v_consumption_1d c JOIN v_buildings b USING (building_id)
        WHERE c.building_id = {_BUILDING_ID} AND c.energy_code IN (${{energy_class:sqlstring}})
          AND ($__timeFilter(c.bucket) OR ({year_earlier}))
        GROUP BY c.energy_code ORDER BY c.energy_code"""
    (cv_m, nmbe_m), (cv_h, nmbe_h) = G14_LIMITS["monthly"], G14_LIMITS["hourly"]
    limits = {  # ASHRAE Guideline 14's calibration limits (the ones the results were judged by)
        "cvrmse": (f"月度模型 ≤ {cv_m:.0%}, 小时模型 ≤ {cv_h:.0%}",
                   f"≤ {cv_m:.0%} for monthly, ≤ {cv_h:.0%} for hourly"),
        "nmbe": (f"月度模型 ±{nmbe_m:.0%} 以内, 小时模型 ±{nmbe_h:.0%} 以内",
                 f"within ±{nmbe_m:.0%} monthly, ±{nmbe_h:.0%} hourly"),
    }  # fmt: skip
    results = """
        SELECT r.computed_at, r.title, r.building_code, r.purpose, r.g14_interval, r.cvrmse,
               r.nmbe, r.passes, r.avoided, r.uncertainty, r.unit, r.savings_fraction,
               r.value_cny
        FROM v_mv_results r WHERE r.institution_code IN (${institution:sqlstring})
        ORDER BY r.computed_at DESC LIMIT 200"""
    variables = _variables(lang)
    variables.list.append(
        G.Template(
            name="result",
            label=_t("result", lang),
            query="SELECT result_id AS __value, title AS __text FROM v_mv_results"
            " WHERE institution_code IN (${institution:sqlstring})"
            " ORDER BY computed_at DESC, result_id DESC",
            dataSource=DATASOURCE,
            type="query",
            refresh=1,
        )
    )
    stat = {"colorMode": "none", "reduceCalc": "lastNotNull", "noValue": "—"}
    verdicts = [
        {"type": "value", "options": {
            "0": {"text": _t("fail", lang), "color": "red", "index": 0},
            "1": {"text": _t("pass", lang), "color": "green", "index": 1},
        }},
    ]  # fmt: skip
    return G.Dashboard(
        title=f"jieneng · {_t('mv', lang)}",
        uid=f"jieneng-mv-{lang}",
        tags=["jieneng"],
        templating=variables,
        time=G.Time("now-2y", "now"),
        panels=[
            _panel(G.Stat, _t("cvrmse", lang), checks("r.cvrmse"), pos=_pos(0, 0, 6, 4),
                   unit="percentunit", decimals=1,
                   description=limits["cvrmse"][lang != "zh"], **stat),
            _panel(G.Stat, _t("nmbe", lang), checks("r.nmbe"), pos=_pos(6, 0, 6, 4),
                   unit="percentunit", decimals=2,
                   description=limits["nmbe"][lang != "zh"], **stat),
            _panel(G.Stat, _t("verdict", lang), checks("r.passes::int"), pos=_pos(12, 0, 6, 4),
                   unit="none", mappings=verdicts, **(stat | {"colorMode": "value"})),
            _panel(G.Stat, _t("value", lang), checks("coalesce(r.value_cny, r.avoided * r.price)"),
                   pos=_pos(18, 0, 6, 4), unit="currencyCNY", **stat),
            _panel(G.TimeSeries, _t("baseline_vs_actual", lang), series, pos=_pos(0, 4, 24, 9),
                   unit="none"),
            _panel(G.TimeSeries, _t("cumulative", lang), cumulative, pos=_pos(0, 13, 14, 8),
                   unit="none", fillOpacity=20),
            _panel(G.Table, _t("summary", lang), summary, pos=_pos(14, 13, 10, 8), unit="none"),
            _panel(G.TimeSeries, _t("monthly_kgce", lang), monthly, pos=_pos(0, 21, 14, 8),
                   unit="none", drawStyle="bars", stacking={"mode": "normal", "group": "A"},
                   fillOpacity=80),
            _panel(G.Table, _t("year_over_year", lang), yoy, pos=_pos(14, 21, 10, 8),
                   unit="none"),
            _panel(G.Table, _t("all_results", lang), results, pos=_pos(0, 29, 24, 8),
                   unit="none"),
        ],
    ).auto_panel_ids()  # fmt: skip


#: Every dashboard builder.
DASHBOARDS: tuple[Callable[[str], G.Dashboard], ...] = (portfolio, building, meter, waste, mv)


def all_dashboards(lang: str = "zh") -> list[dict[str, Any]]:
    """The dashboards' JSON models (as Grafana stores them)."""
    import json

    from grafanalib._gen import DashboardEncoder

    return [json.loads(json.dumps(make(lang).to_json_data(), cls=DashboardEncoder))
            for make in DASHBOARDS]  # fmt: skip
