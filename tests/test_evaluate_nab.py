"""``jieneng evaluate nab``: scoring against NAB windows, reading NAB files, and the
acceptance floor on the development split in ../shared/data/nab_dev (never copied here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from analytics import nab
from jieneng.cli import app
from jieneng.nab import NabError, load, read_series, read_windows

ROOT = Path(__file__).resolve().parents[1]
NAB_DEV = ROOT.parent / "shared" / "data" / "nab_dev"


def _times(n: int) -> np.ndarray:
    return np.datetime64("2014-04-01T00:00") + np.arange(n) * np.timedelta64(5, "m")


WINDOWS = [("2014-04-01 01:00:00.000000", "2014-04-01 01:30:00.000000")]  # rows 12 … 18


def test_window_index_includes_both_ends() -> None:
    inside = nab.window_index(_times(30), WINDOWS)
    assert np.flatnonzero(inside == 0).tolist() == list(range(12, 19))
    with pytest.raises(ValueError, match="window 0: end .* is before start"):
        nab.window_index(_times(3), [("2014-04-02", "2014-04-01")])


def test_a_flag_inside_hits_and_runs_outside_are_counted_once_each() -> None:
    flags = np.zeros(100, dtype=bool)
    flags[15] = True  # hit
    flags[40:45] = True  # one false flag of five points
    flags[60] = flags[62] = True  # two more
    sc = nab.score(_times(100), flags, WINDOWS)
    assert (sc.windows, sc.hit, sc.false_flags, sc.flagged_outside) == (1, 1, 3, 7)
    assert sc.points_outside == 93
    assert sc.false_per_1000 == pytest.approx(1000 * 3 / 93)
    assert sc.hit_ratio == 1.0


def test_a_run_reaching_into_a_window_is_a_hit_and_a_false_flag() -> None:
    flags = np.zeros(30, dtype=bool)
    flags[8:14] = True
    sc = nab.score(_times(30), flags, WINDOWS)
    assert (sc.hit, sc.false_flags, sc.flagged_outside) == (1, 1, 4)


def test_flags_and_points_in_the_warm_up_do_not_count() -> None:
    flags = np.zeros(100, dtype=bool)
    flags[5] = flags[50] = True
    sc = nab.score(_times(100), flags, WINDOWS, first=40)
    assert (sc.false_flags, sc.points_outside) == (1, 60)
    missed = nab.score(_times(100), flags, WINDOWS, first=20)
    assert missed.hit == 0 and missed.hit_ratio == 0.0


def test_totals_add_counts_not_rates() -> None:
    a = nab.WindowScore(2, 1, 1000, 1, 3)
    b = nab.WindowScore(3, 3, 9000, 0, 0)
    t = nab.total([a, b])
    assert (t.windows, t.hit, t.false_flags) == (5, 4, 1)
    assert t.false_per_1000 == pytest.approx(0.1)
    assert nab.total([]).false_per_1000 == 0.0


def test_score_refuses_flags_of_another_length() -> None:
    with pytest.raises(ValueError, match=r"flags have shape \(3,\), times \(4,\)"):
        nab.score(_times(4), np.zeros(3, dtype=bool), WINDOWS)


def _write_nab(root: Path, n: int = 2016, jump_at: int = 1700) -> tuple[Path, Path]:
    """A made-up NAB layout: one noisy series with a step, one labelled but absent."""
    rng = np.random.default_rng(3)
    values = rng.normal(10, 1, n)
    values[jump_at:] += 8
    times = _times(n)
    data = root / "data"
    (data / "artificialTest").mkdir(parents=True)
    lines = ["timestamp,value"] + [
        f"{str(t).replace('T', ' ')},{v:.4f}" for t, v in zip(times, values, strict=True)
    ]
    (data / "artificialTest" / "step.csv").write_text("\n".join(lines) + "\n")
    start, end = times[jump_at - 50], times[jump_at + 50]
    labels = root / "windows.json"
    labels.write_text(
        json.dumps(
            {
                "artificialTest/step.csv": [[str(start), str(end)]],
                "artificialTest/absent.csv": [],
            }
        )
    )
    return data, labels


def test_load_reads_labelled_series_and_names_the_missing(tmp_path: Path) -> None:
    data, labels = _write_nab(tmp_path)
    series, missing = load(data, labels)
    assert missing == ["artificialTest/absent.csv"]
    (s,) = series
    assert s.name == "artificialTest/step.csv" and s.values.shape == s.times.shape == (2016,)
    assert s.times.dtype == np.dtype("datetime64[us]") and len(s.windows) == 1


def test_read_series_takes_empty_cells_and_refuses_other_headers(tmp_path: Path) -> None:
    good = tmp_path / "a.csv"
    good.write_text("timestamp,value\n2014-01-01 00:00:00,1.5\n2014-01-01 00:05:00,\n")
    times, values = read_series(good)
    assert times.size == 2 and values[0] == 1.5 and np.isnan(values[1])
    bad = tmp_path / "b.csv"
    bad.write_text("time,reading\n")
    with pytest.raises(NabError, match="first line must be 'timestamp,value'"):
        read_series(bad)
    (tmp_path / "w.json").write_text('{"x.csv": [["2014-01-01"]]}')
    with pytest.raises(NabError, match=r"x.csv: windows must be a list of \[start, end\]"):
        read_windows(tmp_path / "w.json")


def test_cli_says_when_the_data_folder_is_missing(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["evaluate", "nab", "--data", str(tmp_path / "nope"), "--labels", "x.json"]
    )
    assert result.exit_code == 2
    assert "数据目录不存在 data folder not found" in result.output


def test_cli_scores_a_made_up_nab_folder(tmp_path: Path) -> None:
    data, labels = _write_nab(tmp_path)
    result = CliRunner().invoke(
        app, ["evaluate", "nab", "--data", str(data), "--labels", str(labels)]
    )
    assert result.exit_code == 0, result.output
    assert "no CSV for 1 labelled series" in result.output
    assert "windows=1 windows_hit=1 windows_hit_ratio=1.000 false_flags=0" in result.output


@pytest.mark.skipif(
    not (NAB_DEV / "combined_windows_dev.json").is_file(),
    reason=f"NAB development split not found at {NAB_DEV} (shared data beside the clone)",
)
def test_nab_development_split_meets_the_acceptance_floor() -> None:
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "nab",
            "--data",
            str(NAB_DEV / "data"),
            "--labels",
            str(NAB_DEV / "combined_windows_dev.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = dict(re.findall(r"(\w+)=([\d.]+)", result.output.strip().splitlines()[-1]))
    assert int(summary["windows"]) == 25
    assert float(summary["windows_hit_ratio"]) >= 0.8, result.output
    assert float(summary["false_per_1000"]) <= 1.0, result.output
