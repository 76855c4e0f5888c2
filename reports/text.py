"""The words of the reports, in Chinese (default) and English."""

from __future__ import annotations

LANGUAGES = ("zh", "en")

#: key → (中文, English)
LABELS: dict[str, tuple[str, str]] = {
    # audit
    "audit_title": ("能源审计报告", "Energy audit report"),
    "building": ("建筑", "Building"),
    "institution": ("单位", "Institution"),
    "period": ("审计期", "Period"),
    "floor_area": ("建筑面积", "Floor area"),
    "headcount": ("用能人数", "Headcount"),
    "generated": ("生成时间", "Generated"),
    "total_energy": ("综合能耗", "Total energy"),
    "co2": ("二氧化碳排放", "CO₂ emissions"),
    "cost": ("能源费用", "Energy cost"),
    "per_m2": ("单位面积能耗", "Energy per m²"),
    "per_person": ("人均综合能耗", "Energy per person"),
    "kwh_per_m2": ("单位面积电耗", "Electricity per m²"),
    "water_per_person": ("人均用水量", "Water per person"),
    "yoy": ("同比", "YoY"),
    "mom": ("环比", "MoM"),
    "no_comparison": ("无可比数据", "no comparable data"),
    "incomplete": ("本期数据缺失 {missing}, 不作比较", "{missing} missing: not compared"),
    "not_judged": ("数据不全, 不评价", "incomplete: not judged"),
    "person": ("人", "person"),
    "by_code": ("分类分项能耗", "Use by energy class and end use"),
    "code": ("编码", "Code"),
    "item": ("分类/分项", "Class / end use"),
    "use": ("用量", "Use"),
    "unit": ("单位", "Unit"),
    "kgce": ("折标煤 (kgce)", "Standard coal (kgce)"),
    "kgco2": ("CO₂ (kg)", "CO₂ (kg)"),
    "cny": ("费用 (元)", "Cost (CNY)"),
    "estimated": ("估算占比", "Estimated"),
    "missing": ("缺失占比", "Missing"),
    "breakdown": ("(分项, 不重复计入)", "(breakdown, not counted twice)"),
    "records": ("非计量能耗记录", "Consumption records (no meter)"),
    "tou": ("分时电价", "Time-of-use pricing"),
    "band_name": ("时段", "Band"),
    "price_kwh": ("电价 (元/kWh)", "Price (CNY/kWh)"),
    "share": ("占比", "Share"),
    "average_price": ("平均电价", "Average price"),
    "tou_note": (
        "电费按总表 15 分钟用电量和电价 {tariff} 的峰平谷时段计算; 分项按平均电价。",
        "Electricity priced from the main meters' 15-minute use by the bands of tariff {tariff};"
        " end uses at the average price.",
    ),
    "document": ("凭证", "Document"),
    "benchmark": ("对标", "Benchmarks"),
    "gb51161": ("GB/T 51161 非供暖能耗指标", "GB/T 51161 office energy (non-heating)"),
    "corrected": ("使用时间修正后", "after the operating-hours correction"),
    "constraint": ("约束值", "constraint"),
    "guide": ("引导值", "guide"),
    "baseline_quota": ("基准值", "baseline"),
    "meets": ("达标", "met"),
    "fails": ("未达标", "not met"),
    "unverified": ("标准值待核实", "values unverified"),
    "prorated": ("按期间天数折算", "prorated by the period's days"),
    "hours_note": (
        "按实际使用时间 {hours:,.0f} h/a 修正 (γ = 0.3 + 0.7 × T0/T)。",
        "corrected for {hours:,.0f} operating hours a year (γ = 0.3 + 0.7 × T0/T).",
    ),
    "quotas": ("能耗定额", "Energy quotas (定额)"),
    "no_benchmarks": (
        "无对标数据: GB/T 51161 指标用于办公建筑的按建筑审计; 能耗定额在登记表 quotas 中设置。",
        "No benchmarks: GB/T 51161 applies to office buildings audited one by one; quotas are set"
        " in the registry (quotas).",
    ),
    "no_base_data": ("基准年同期 ({base}) 无可比数据", "no comparable data for {base}"),
    "incomplete_period": ("本期数据不全, 不计算进度", "this period is incomplete: no progress"),
    "meter_problems": ("本期表计问题", "Meter problems found in the period"),
    "times": (" 次", "×"),
    "quotas_yearly": (
        "定额为年度值, 仅在全年审计中比较; 图中按期间天数折算。",
        "quotas are yearly: compared in whole-year audits only; the chart prorates them by days.",
    ),
    "indicator": ("指标", "Indicator"),
    "value": ("数值", "Value"),
    "band": ("所处区间", "Band"),
    "ranking": ("单位能耗排名", "Ranking by energy per m²"),
    "rank": ("名次", "Rank"),
    "kgce_person": ("kgce/人", "kgce/person"),
    "ranking_note": (
        "按单位面积综合能耗由低到高排名, 同一审计期; 加粗行为本单位。",
        "Ranked by total energy per m², lowest first, over the same period; this institution in"
        " bold.",
    ),
    "targets": ("节能降碳目标进度", "Progress towards the plans' targets"),
    "base": ("基准年", "Base year"),
    "current": ("本期", "This period"),
    "change": ("变化", "Change"),
    "expected": ("进度要求", "Due by now"),
    "target": ("目标", "Target"),
    "status": ("状态", "Status"),
    "on_track": ("按进度", "on track"),
    "behind": ("落后进度", "behind"),
    "targets_note": (
        "本期与基准年同期比较 ({base}); 进度要求按基准年到目标年直线分配。",
        "This period against the same months of the base year ({base}); the change due by now"
        " is a straight line from the base year to the target year.",
    ),
    "quality": ("数据质量", "Data quality"),
    "quality_note": (
        "估算: 由表码补齐的缺口与停走段; 缺失: 前后都无读数、无法计量的时间。",
        "Estimated: gaps and stuck registers filled from the registers; missing: time with no"
        " readings on either side, not measured.",
    ),
    "findings": ("节能诊断与节能潜力", "Findings and savings potential"),
    "rule": ("问题", "Finding"),
    "count": ("次数", "Count"),
    "waste": ("浪费量", "Waste"),
    "potential_total": ("节能潜力合计", "Savings potential, total"),
    "of_total": ("占综合能耗", "of total energy"),
    "no_findings": ("本期未发现浪费。", "No waste found in the period."),
    "load": ("负荷特征", "Load shape"),
    "base_load": ("基础负荷", "Base load"),
    "peak": ("峰值负荷", "Peak demand"),
    "base_ratio": ("基础负荷/平均负荷", "Base / mean demand"),
    "factors_note": (
        "折标系数: GB/T 2589-2020 ({method}); 电网排放因子 {co2} kgCO₂/kWh ({source});"
        " 费用按示例电价, 可在配置中替换。",
        "Standard coal: GB/T 2589-2020 ({method}); grid CO₂ factor {co2} kgCO₂/kWh ({source});"
        " costs at example tariffs, replaceable in the configuration.",
    ),
    "equivalent": ("当量值", "equivalent value"),
    "equal_value": ("等价值", "equal-value"),
    # charts
    "chart_monthly": ("逐月用电量(按分项)", "Monthly electricity by end use"),
    "chart_profile": ("工作日/非工作日日负荷曲线", "Load profile: workdays vs days off"),
    "chart_heatmap": ("逐时用电热力图", "Hourly electricity heat map"),
    "chart_intensity": ("能耗强度与对标", "Intensity against benchmarks"),
    "month": ("月份", "Month"),
    "hour": ("时刻", "Hour"),
    "day": ("日期", "Day"),
    "workday": ("工作日", "Workdays"),
    "non_workday": ("周末及节假日", "Weekends and holidays"),
    "unsubmetered": ("其他(未分项)", "Other (not sub-metered)"),
    "this": ("本期", "This period"),
    "last_year": ("上年同期", "Same period last year"),
    # EMC
    "emc_title": ("合同能源管理 节能量结算单", "Energy performance contract: settlement statement"),
    "contract": ("合同", "Contract"),
    "contract_type": ("合同类型", "Contract type"),
    "shared_savings": ("节能效益分享型", "shared savings"),
    "guaranteed_savings": ("节能量保证型", "guaranteed savings"),
    "cost_trusteeship": ("能源费用托管型", "energy-cost trusteeship"),
    "esco": ("节能服务公司", "ESCO"),
    "agency": ("用能单位", "Agency"),
    "meter": ("计量表", "Meter"),
    "baseline_period": ("基准期", "Baseline period"),
    "reporting_period": ("结算期", "Settlement period"),
    "method": ("测量与验证方法", "M&V method"),
    "method_text": (
        "IPMVP 选项 C / GB/T 28750 整体计量, CalTRACK 2.0 日模型 ({model}), 温度调整基准",
        "IPMVP Option C / GB/T 28750 whole facility, CalTRACK 2.0 daily model ({model}),"
        " weather-adjusted baseline",
    ),
    "g14": ("ASHRAE Guideline 14 (月)", "ASHRAE Guideline 14 (monthly)"),
    "passes": ("通过", "passes"),
    "fails_g14": ("未通过", "fails"),
    "measured_days": ("实测天数 / 结算期天数", "Days measured / days in the period"),
    "days": ("天", "days"),
    "adjusted_baseline": ("调整后基准能耗", "Adjusted baseline"),
    "actual": ("实际能耗", "Metered use"),
    "avoided": ("节能量", "Avoided energy"),
    "uncertainty": ("不确定度", "Uncertainty"),
    "fractional": ("节能率", "Savings fraction"),
    "price": ("结算单价", "Contract price"),
    "savings_value": ("节能效益", "Value of savings"),
    "esco_gets": ("节能服务公司分得", "To the ESCO"),
    "agency_gets": ("用能单位分得", "To the agency"),
    "guaranteed": ("保证节能量", "Guaranteed savings"),
    "shortfall": ("未达保证量", "Shortfall"),
    "compensation": ("节能服务公司补偿", "ESCO compensation"),
    "fee": ("托管费用", "Trusteeship fee"),
    "actual_cost": ("实际能源费用", "Actual energy cost"),
    "warnings": ("数据与模型提示", "Data and model warnings"),
    "uncertainty_note": (
        "不确定度为 {confidence} 置信度下的节能量区间 (CalTRACK 2.0 FSU)。",
        "The uncertainty is the range of the avoided energy at {confidence} confidence"
        " (CalTRACK 2.0 FSU).",
    ),
    "end_exclusive": ("期间终止日不含在内。", "Periods end before their last date."),
    "chart_baseline": ("基准能耗与实际能耗(逐日)", "Baseline vs metered use, daily"),
    "chart_cumulative": ("累计节能量", "Cumulative avoided energy"),
    "fit": ("基准模型拟合", "baseline fit"),
    "signatures": ("签章", "Signatures"),
    "sign_agency": ("用能单位(甲方)", "Agency (party A)"),
    "sign_esco": ("节能服务公司(乙方)", "ESCO (party B)"),
    "sign_mv": ("第三方测量与验证机构", "Independent M&V"),
    "date": ("日期", "Date"),
}

BANDS: dict[str, tuple[str, str]] = {
    "guide": ("优于引导值", "within the guide value"),
    "baseline": ("优于基准值", "within the baseline value"),
    "constraint": ("低于约束值", "within the constraint"),
    "over": ("超定额", "over the quota"),
}

TOU_BANDS: dict[str, tuple[str, str]] = {
    "sharp": ("尖峰", "critical peak"),
    "peak": ("高峰", "peak"),
    "flat": ("平段", "flat"),
    "valley": ("低谷", "valley"),
    "deep_valley": ("深谷", "deep valley"),
}

PLANS: dict[str, tuple[str, str]] = {
    "plan_14th": ("“十四五”公共机构节能规划", "14th Five-Year Plan (public institutions)"),
    "plan_15th": ("“十五五”公共机构节能降碳方案", "15th Five-Year Plan (public institutions)"),
}

INDICATORS: dict[str, tuple[str, str]] = {
    "co2_per_m2": ("单位面积碳排放", "CO₂ per m²"),
    "energy_per_m2": ("单位面积能耗", "energy per m²"),
    "energy_per_capita": ("人均综合能耗", "energy per person"),
    "electricity_per_m2": ("单位面积电耗", "electricity per m²"),
    "water_per_capita": ("人均用水量", "water per person"),
}

#: What no meter sees (the factors file's carriers).
CARRIERS: dict[str, tuple[str, str]] = {
    "electricity": ("电", "electricity"),
    "natural_gas": ("天然气", "natural gas"),
    "heat": ("外购热力", "bought heat"),
    "water": ("水", "water"),
    "gasoline": ("汽油", "gasoline"),
    "diesel": ("柴油", "diesel"),
    "lpg": ("液化石油气", "LPG"),
    "lng": ("液化天然气", "LNG"),
    "raw_coal": ("原煤", "raw coal"),
    "steam": ("蒸汽", "steam"),
}

MONTHS_ZH = [f"{m}月" for m in range(1, 13)]
MONTHS_EN = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def check(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"lang: {lang!r} is not one of {', '.join(LANGUAGES)}")
    return lang


def t(key: str, lang: str, table: dict[str, tuple[str, str]] = LABELS) -> str:
    """The words for ``key`` in ``lang`` ("zh" or "en"); the key itself when unknown."""
    pair = table.get(key)
    if pair is None:
        return key
    return pair[0] if lang == "zh" else pair[1]


def month(m: int, lang: str) -> str:
    return (MONTHS_ZH if lang == "zh" else MONTHS_EN)[m - 1]
