"""What an alert rule decides, without I/O: which findings it covers, when an alert clears,
when quiet hours let a notification go, how often a failed one is retried, what an alert
costs per day, and the words people read."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from jieneng.analyze import RULE_NAMES

SEVERITIES = ("low", "medium", "high")
#: The findings about waste, which alert rules cover by default (meter problems and data
#: quality are for the data-quality views, not for people's phones).
WASTE_RULES = frozenset(
    {
        "after_hours",
        "hvac_out_of_hours",
        "night_flow",
        "overcooling",
        "overheating",
        "submeter_imbalance",
        "baseline_residual",
        "level_shift",
    }
)
#: Notification attempts before one is given up.
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class AlertRule:
    id: int
    name: str
    institution_id: int | None
    rules: tuple[str, ...] | None
    min_severity: str
    min_duration: dt.timedelta
    clear_after: dt.timedelta
    quiet_start: dt.time | None
    quiet_end: dt.time | None
    webhook_url: str | None
    webhook_secret: str | None
    emails: tuple[str, ...]
    mqtt: bool

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AlertRule:
        return cls(
            id=row["id"],
            name=row["name"],
            institution_id=row["institution_id"],
            rules=tuple(row["rules"]) if row["rules"] is not None else None,
            min_severity=row["min_severity"],
            min_duration=dt.timedelta(minutes=row["min_duration_minutes"]),
            clear_after=dt.timedelta(minutes=row["clear_after_minutes"]),
            quiet_start=row["quiet_start"],
            quiet_end=row["quiet_end"],
            webhook_url=row["webhook_url"],
            webhook_secret=row["webhook_secret"],
            emails=tuple(row["emails"] or ()),
            mqtt=row["mqtt"],
        )

    def covers(self, finding: dict[str, Any]) -> bool:
        """Whether an open finding raises an alert under this rule: its institution, its
        rule, severity at least the minimum, and lasting at least the minimum duration."""
        if self.institution_id is not None and finding["institution_id"] != self.institution_id:
            return False
        if finding["rule"] not in (self.rules if self.rules is not None else WASTE_RULES):
            return False
        if SEVERITIES.index(finding["severity"]) < SEVERITIES.index(self.min_severity):
            return False
        return finding["ended_at"] - finding["started_at"] >= self.min_duration

    def quiet_until(self, now: dt.datetime, tz: str) -> dt.datetime | None:
        """The end of the quiet hours ``now`` falls in (in the building's zone ``tz``), or
        None when a notification may go now. A window may span midnight (22:00–07:00)."""
        if self.quiet_start is None or self.quiet_end is None:
            return None
        local = now.astimezone(ZoneInfo(tz))
        start = local.replace(
            hour=self.quiet_start.hour, minute=self.quiet_start.minute, second=0, microsecond=0
        )
        end = local.replace(
            hour=self.quiet_end.hour, minute=self.quiet_end.minute, second=0, microsecond=0
        )
        if self.quiet_start <= self.quiet_end:
            inside = start <= local < end
        else:  # over midnight
            inside = local >= start or local < end
            if local >= start:
                end += dt.timedelta(days=1)
        return end.astimezone(dt.UTC) if inside else None


def backoff(attempts: int) -> dt.timedelta:
    """Wait before the next attempt after ``attempts`` failures: 30 s, 1, 2, 4 … minutes,
    at most an hour."""
    return min(dt.timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), dt.timedelta(hours=1))


def per_day(finding: dict[str, Any]) -> dict[str, float | None]:
    """A finding's waste per day: what it measured over its span, spread over the span's
    days (at least one) — a nightly leak's litres per night, after-hours kWh per day."""
    days = max((finding["ended_at"] - finding["started_at"]) / dt.timedelta(days=1), 1.0)

    def each(key: str) -> float | None:
        value = finding.get(key)
        return None if value is None else value / days

    return {
        "waste_per_day": each("waste"),
        "kgce_per_day": each("kgce"),
        "cny_per_day": each("cny"),
    }


def title(finding: dict[str, Any], cost: dict[str, float | None]) -> str:
    """``哈尔滨示范机关1机关办公楼: 夜间用水(疑似漏水), 约 ¥32/天`` (Chinese first, English
    after a slash)."""
    zh, en = RULE_NAMES.get(finding["rule"], (finding["rule"], finding["rule"]))
    money = f", 约 ¥{cost['cny_per_day']:,.0f}/天" if cost["cny_per_day"] is not None else ""
    money_en = f", about ¥{cost['cny_per_day']:,.0f}/day" if cost["cny_per_day"] is not None else ""
    return f"{finding['building_name']}: {zh}{money} / {en}{money_en}"
