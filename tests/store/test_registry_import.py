"""Registry import from YAML and CSV: upserts, idempotency, and errors naming row and field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jieneng.cli import app
from store import RegistryError, registry_import
from store.registry_import import import_file
from tests.fix_db import Database

DATA = Path(__file__).parent.parent / "data"
EXAMPLE = DATA / "registry_example.yaml"
POINTS_CSV = DATA / "points_example.csv"
TABLES = registry_import.ENTITIES
BOM = "\ufeff"

HOSPITAL_YAML = """\
institutions:
  - {code: GZ-TH-YY-001, name: 广州市天河区人民医院, type: 医院, region_code: "440106"}
buildings:
  - {code: 440106E001, institution: GZ-TH-YY-001, name: 门诊楼, climate_zone: 夏热冬暖}
"""


@pytest.fixture
def db(plain_database: Database) -> Database:
    """The module's database with an empty registry."""
    with plain_database.connect(autocommit=True) as conn:
        conn.execute(
            "TRUNCATE emc_contracts, consumption_records, quotas, meter_replacements, points,"
            " buildings,"
            " institutions RESTART IDENTITY CASCADE"
        )
    return plain_database


def run(db: Database, path: Path) -> dict[str, int]:
    with db.connect() as conn:
        return import_file(conn, path)


def snapshot(db: Database) -> dict[str, list[tuple[object, ...]]]:
    """Every registry row with its xmin: equal snapshots mean no row was written."""
    with db.connect(autocommit=True) as conn:
        return {
            t: conn.execute(f"SELECT xmin::text, * FROM {t} ORDER BY id").fetchall() for t in TABLES
        }


def rows(db: Database, query: str) -> list[tuple[object, ...]]:
    with db.connect(autocommit=True) as conn:
        return conn.execute(query).fetchall()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# --- YAML ------------------------------------------------------------------------------------


def test_yaml_example_imports(db: Database) -> None:
    counts = run(db, EXAMPLE)

    assert counts == {"institutions": 2, "buildings": 3, "points": 11, "meter_replacements": 2}
    assert rows(db, "SELECT code, type, region_code, headcount FROM institutions ORDER BY id") == [
        ("BJ-HD-JG-001", "government", "110108", 420),
        ("SH-XH-XX-001", "school", "310104", 1850),
    ]
    assert rows(
        db,
        """SELECT b.code, i.code, b.climate_zone, b.gb51161_class, b.time_zone,
                              b.cooled_area_m2
                       FROM buildings b JOIN institutions i ON i.id = b.institution_id
                       ORDER BY b.id""",
    ) == [
        ("110108A001", "BJ-HD-JG-001", "cold", "B", "Asia/Shanghai", 11000.5),
        ("110108A002", "BJ-HD-JG-001", "cold", "A", "Asia/Shanghai", None),
        ("310104D001", "SH-XH-XX-001", "hot_summer_cold_winter", None, "Asia/Shanghai", None),
    ]
    points = {
        r[0]: r[1:]
        for r in rows(
            db,
            """
        SELECT p.key, p.kind, p.quantity, p.unit, p.energy_code, p.cumulative, p.multiplier,
               p.rollover_value, parent.key, b.code
        FROM points p LEFT JOIN points parent ON parent.id = p.parent_id
                      LEFT JOIN buildings b ON b.id = p.building_id""",
        )
    }
    main = "110108A001/elec/main"
    assert points[main] == (
        "meter",
        "energy",
        "kWh",
        "01",
        True,
        80.0,
        999999.99,
        None,
        "110108A001",
    )
    hvac = points["110108A001/elec/hvac"]
    assert hvac[:5] == ("meter", "energy", "kWh", "01B", True)  # given in Wh
    assert hvac[6] == pytest.approx(1e6)  # 1e9 Wh in kWh
    assert hvac[7] == main
    assert points["110108A001/elec/lighting"][7] == main  # parent listed after the child
    assert points["110108A001/elec/hvac/chiller"][7] == "110108A001/elec/hvac"
    assert points["110108A001/power/main"][:6] == ("meter", "power", "kW", "01", False, 1.0)
    assert points["110108A001/water/main"][:5] == ("meter", "volume", "m3", "02", True)
    assert points["310104D001/temp/room101"][:5] == ("sensor", "temperature", "degC", None, False)
    assert points["310104D001/rh/room101"][:3] == ("sensor", "humidity", "%")
    assert rows(
        db,
        """SELECT p.key, r.replaced_at, r.old_final_value, r.new_initial_value,
                              r.new_multiplier, r.note
                       FROM meter_replacements r JOIN points p ON p.id = r.point_id
                       ORDER BY r.id""",
    ) == [
        (main, datetime(2024, 3, 1, 2, 0, tzinfo=UTC), 123456.7, 0.0, 80.0, "电表故障更换"),
        # written without an offset: local time of the building (Asia/Shanghai)
        ("310104D001/gas/main", datetime(2024, 5, 20, 1, 30, tzinfo=UTC), 8765.4, 12.5, None, None),
    ]


def test_reimport_changes_nothing(db: Database) -> None:
    first = run(db, EXAMPLE)
    before = snapshot(db)

    assert run(db, EXAMPLE) == first
    assert snapshot(db) == before  # same rows, same xmin: nothing rewritten


def test_changed_attributes_are_updated(db: Database, tmp_path: Path) -> None:
    run(db, EXAMPLE)
    text = (
        EXAMPLE.read_text(encoding="utf-8")
        .replace("name: 附楼\n", "name: 附楼（东）\n")
        .replace("multiplier: 40", "multiplier: 60")
        .replace("    parent: 110108A001/elec/hvac\n", "")
        .replace("note: 电表故障更换", "note: 雷击损坏")
    )

    counts = run(db, write(tmp_path / "registry.yaml", text))

    assert counts["points"] == 11
    assert rows(db, "SELECT name FROM buildings WHERE code = '110108A002'") == [("附楼（东）",)]
    assert rows(db, "SELECT multiplier FROM points WHERE key = '310104D001/elec/main'") == [(60.0,)]
    assert rows(db, "SELECT parent_id FROM points WHERE key = '110108A001/elec/hvac/chiller'") == [
        (None,)
    ]
    assert rows(db, "SELECT note FROM meter_replacements ORDER BY id") == [("雷击损坏",), (None,)]
    assert rows(db, "SELECT count(*) FROM points") == [(11,)]


def test_import_inside_callers_transaction(db: Database) -> None:
    """In an open transaction the import is a savepoint: the caller decides."""
    with db.connect() as conn:
        conn.execute("SELECT 1")
        import_file(conn, EXAMPLE)
        conn.rollback()
    assert rows(db, "SELECT count(*) FROM points") == [(0,)]
    with db.connect(autocommit=True) as conn:
        import_file(conn, EXAMPLE)
    assert rows(db, "SELECT count(*) FROM points") == [(11,)]


def test_import_takes_over_auto_registered_point(db: Database) -> None:
    with db.connect(autocommit=True) as conn:
        conn.execute("""INSERT INTO points (key, kind, quantity, unit, cumulative, auto_registered)
                        VALUES ('110108A001/elec/main', 'meter', 'energy', 'kWh', true, true)""")
    run(db, EXAMPLE)
    assert rows(
        db, "SELECT id, auto_registered, multiplier FROM points WHERE key = '110108A001/elec/main'"
    ) == [(1, False, 80.0)]


# --- CSV -------------------------------------------------------------------------------------


def test_csv_import_utf8_bom_and_gb18030(db: Database, tmp_path: Path) -> None:
    assert POINTS_CSV.read_bytes().startswith(BOM.encode())  # as Excel saves "CSV UTF-8"
    institutions = write(
        tmp_path / "institutions.csv",
        BOM
        + (
            "code,name,type,region_code,headcount\r\n"
            'GZ-TH-YY-001,广州市天河区人民医院,医院,440106,"1,250"\r\n'
            "XJ-WLMQ-JG-001,乌鲁木齐市机关事务管理局,政府,650102,300\r\n"
        ),
    )
    # Saved by an older Excel as GB18030, under a name that says nothing: the header tells.
    buildings = write(
        tmp_path / "楼宇清单.csv",
        (
            "code,institution,name,floor_area_m2,climate_zone,gb51161_class,time_zone\n"
            '440106E001,GZ-TH-YY-001,门诊楼,"21,000.5",夏热冬暖,b,\n'
            "650102A001,XJ-WLMQ-JG-001,办公楼,5600,严寒,A,Asia/Urumqi\n"
        ),
        "gb18030",
    )
    replacements = write(
        tmp_path / "换表记录.csv",
        BOM
        + (
            "point,replaced_at,old_final_value,new_initial_value,new_multiplier,note\n"
            "440106E001/elec/main,2024-06-01 08:00,50210.5,0,120,更换互感器\n"
        ),
    )

    assert run(db, institutions) == {"institutions": 2}
    assert run(db, buildings) == {"buildings": 2}
    assert run(db, POINTS_CSV) == {"points": 5}
    assert run(db, replacements) == {"meter_replacements": 1}

    assert rows(db, "SELECT name, type, headcount FROM institutions ORDER BY id") == [
        ("广州市天河区人民医院", "hospital", 1250),
        ("乌鲁木齐市机关事务管理局", "government", 300),
    ]
    assert rows(
        db,
        "SELECT code, name, floor_area_m2, climate_zone, gb51161_class, time_zone"
        " FROM buildings ORDER BY id",
    ) == [
        ("440106E001", "门诊楼", 21000.5, "hot_summer_warm_winter", "B", "Asia/Shanghai"),
        ("650102A001", "办公楼", 5600.0, "severe_cold", "A", "Asia/Urumqi"),
    ]
    assert rows(
        db,
        """SELECT p.key, p.name, p.kind, p.unit, p.cumulative, p.multiplier,
                              p.rollover_value, parent.key
                       FROM points p LEFT JOIN points parent ON parent.id = p.parent_id
                       ORDER BY p.id""",
    ) == [
        ("440106E001/elec/main", "门诊楼总进线", "meter", "kWh", True, 120.0, None, None),
        (
            "440106E001/elec/lighting",
            "门诊楼照明插座",
            "meter",
            "kWh",
            True,
            1.0,
            None,
            "440106E001/elec/main",
        ),
        (
            "440106E001/elec/hvac",
            "门诊楼空调",
            "meter",
            "kWh",
            True,
            1.0,
            None,
            "440106E001/elec/main",
        ),
        ("440106E001/water/main", "门诊楼总水表", "meter", "m3", True, 1.0, 99999.0, None),
        ("440106E001/temp/lobby", "门诊大厅温度", "sensor", "degC", False, 1.0, None, None),
    ]
    assert rows(db, "SELECT replaced_at, note FROM meter_replacements") == [
        (datetime(2024, 6, 1, 0, 0, tzinfo=UTC), "更换互感器")
    ]

    before = snapshot(db)
    for path in (institutions, buildings, POINTS_CSV, replacements):
        run(db, path)
    assert snapshot(db) == before


def test_naive_replacement_time_is_building_local(db: Database, tmp_path: Path) -> None:
    run(
        db,
        write(
            tmp_path / "registry.yaml",
            """\
institutions: [{code: XJ-1, name: 乌鲁木齐市机关, type: 机关}]
buildings: [{code: 650102A001, institution: XJ-1, name: 办公楼, time_zone: Asia/Urumqi}]
points: [{key: xj/elec/main, building: 650102A001, unit: kWh}]
""",
        ),
    )
    run(
        db,
        write(
            tmp_path / "meter_replacements.csv",
            "point,replaced_at\nxj/elec/main,2024-01-01T08:00:00\n",
        ),
    )
    assert rows(db, "SELECT replaced_at FROM meter_replacements") == [
        (datetime(2024, 1, 1, 2, 0, tzinfo=UTC),)
    ]


# --- errors ----------------------------------------------------------------------------------

YAML_ERRORS = {
    "bad building code": (
        "  - code: 110108A002\n",
        "  - code: 11010A002\n",
        r"registry\.yaml buildings item 2 \(code '11010A002'\), field 'code': must be a"
        r" 10-character 导则 building code: 6-digit region code \+ category letter A-H",
    ),
    "unknown institution": (
        "institution: SH-XH-XX-001",
        "institution: SH-XH-XX-999",
        r"registry\.yaml buildings item 3 \(code '310104D001'\), field 'institution': unknown"
        r" institution 'SH-XH-XX-999': not in this file nor in the database",
    ),
    "bad unit": (
        "unit: m³",
        "unit: m4",
        r"registry\.yaml points item 6 \(key '110108A001/water/main'\), field 'unit': unknown"
        r" unit 'm4' \(known: .*kWh",
    ),
    "bad multiplier": (
        "multiplier: 40",
        "multiplier: -40",
        r"registry\.yaml points item 8 \(key '310104D001/elec/main'\), field 'multiplier': must"
        r" be a number > 0, got -40",
    ),
    "unknown parent": (
        "parent: 110108A001/elec/hvac\n",
        "parent: 110108A001/elec/hvca\n",
        r"points item 3 \(key '110108A001/elec/hvac/chiller'\), field 'parent': no point with"
        r" key '110108A001/elec/hvca' in this file nor in the database",
    ),
    "parent cycle": (
        "    multiplier: 80 ",
        "    parent: 110108A001/elec/hvac/chiller\n    multiplier: 80 ",
        r"points item 2 \(key '110108A001/elec/hvac'\), field 'parent': the parent chain forms"
        r" a cycle: 110108A001/elec/hvac → 110108A001/elec/main → 110108A001/elec/hvac/chiller"
        r" → 110108A001/elec/hvac",
    ),
    "self parent": (
        "    multiplier: 80 ",
        "    parent: 110108A001/elec/main\n    multiplier: 80 ",
        r"points item 4 \(key '110108A001/elec/main'\), field 'parent': a point cannot be its"
        r" own parent",
    ),
    "parent of another quantity": (
        "    energy_code: 02\n",
        "    energy_code: 02\n    parent: 110108A001/elec/main\n",
        r"points item 6 \(key '110108A001/water/main'\), field 'parent': parent"
        r" '110108A001/elec/main' measures energy, this point volume",
    ),
    "bad time zone": (
        "time_zone: Asia/Shanghai",
        "time_zone: Asia/Beijing",
        r"buildings item 3 \(code '310104D001'\), field 'time_zone': must be an IANA time zone"
        r" such as Asia/Shanghai, got 'Asia/Beijing'",
    ),
    "missing unit": (
        "    unit: kW\n",
        "",
        r"points item 5 \(key '110108A001/power/main'\), field 'unit': is required",
    ),
    "missing building name": (
        "    name: 教学楼\n",
        "",
        r"buildings item 3 \(code '310104D001'\), field 'name': is required",
    ),
    "unknown field": (
        "multiplier: 40",
        "multipler: 40",
        r"points item 8 \(key '310104D001/elec/main'\), field 'multipler': unknown field"
        r" \(expected key, building, name",
    ),
    "energy code without leading zero": (
        "energy_code: 01A",
        "energy_code: 1A",
        r"points item 1 \(key '110108A001/elec/lighting'\), field 'energy_code': must be a"
        r" 导则 energy classification code .* got '1A' \(the leading zero was lost",
    ),
    "bad institution type": (
        "type: school",
        "type: university",
        r"institutions item 2 \(code 'SH-XH-XX-001'\), field 'type': must be one of government,"
        r" school, hospital, other \(or 机关/政府, 学校, 医院, 其他\), got 'university'",
    ),
    "heated area above floor area": (
        "heated_area_m2: 11800",
        "heated_area_m2: 13800",
        r"buildings item 1 \(code '110108A001'\), field 'heated_area_m2': 13800 m² exceeds"
        r" floor_area_m2 12500 m²",
    ),
    "rollover of an instantaneous value": (
        "    unit: kW\n",
        "    unit: kW\n    rollover_value: 1000\n",
        r"points item 5 \(key '110108A001/power/main'\), field 'rollover_value': only a"
        r" cumulative register rolls over",
    ),
    "duplicate key": (
        "key: 110108A002/elec/main",
        "key: 110108A001/elec/main",
        r"points item 7 \(key '110108A001/elec/main'\): duplicate key \(first at points item 4\)",
    ),
    "unit of another quantity than stored": (
        "unit: m³",
        "unit: kWh",
        r"points item 6 \(key '110108A001/water/main'\), field 'unit': the point exists"
        r" measuring volume \(m3\); kWh would mislabel its stored readings",
    ),
    "replacement of an unknown point": (
        "point: 310104D001/gas/main",
        "point: 310104D001/gas/kitchen",
        r"meter_replacements item 2 \(point '310104D001/gas/kitchen'\), field 'point': no point"
        r" with key '310104D001/gas/kitchen'",
    ),
    "replacement without time of day": (
        "replaced_at: 2024-03-01T10:00:00+08:00",
        "replaced_at: 2024-03-01",
        r"meter_replacements item 1 \(point '110108A001/elec/main'\), field 'replaced_at':"
        r" must be an ISO 8601 date and time such as 2024-03-01T10:00:00\+08:00, got"
        r" '2024-03-01'",
    ),
    "unknown section": (
        "buildings:\n",
        "building:\n",
        r"registry\.yaml: unknown section 'building' \(expected institutions, buildings",
    ),
    "invalid YAML": (
        "  - code: 110108A002\n",
        "  - code: [110108A002\n",
        r"registry\.yaml line \d+: invalid YAML",
    ),
}


@pytest.mark.parametrize(("old", "new", "match"), YAML_ERRORS.values(), ids=YAML_ERRORS.keys())
def test_yaml_error_names_row_and_field_and_writes_nothing(
    db: Database, tmp_path: Path, old: str, new: str, match: str
) -> None:
    run(db, EXAMPLE)
    before = snapshot(db)
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text
    # A valid change in the same file must not be written either.
    text = text.replace(old, new, 1).replace("name: 上海市徐汇区第一中学", "name: 改名")

    with pytest.raises(RegistryError, match=match):
        run(db, write(tmp_path / "registry.yaml", text))
    assert snapshot(db) == before


def test_error_on_empty_database_writes_nothing(db: Database, tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace("multiplier: 40", "multiplier: abc")
    with pytest.raises(RegistryError, match="field 'multiplier': must be a number > 0, got 'abc'"):
        run(db, write(tmp_path / "registry.yaml", text))
    assert all(not table for table in snapshot(db).values())


def test_csv_error_names_spreadsheet_line(db: Database, tmp_path: Path) -> None:
    run(db, write(tmp_path / "hospital.yaml", HOSPITAL_YAML))
    before = snapshot(db)
    lines = POINTS_CSV.read_text(encoding="utf-8-sig").splitlines()
    lines[2] = lines[2].replace(",1,,", ",abc,,")  # the lighting meter, line 3
    lines[3] = lines[3].replace(",440106E001/elec/main", ",440106E001/elec/mian")  # line 4

    with pytest.raises(RegistryError) as caught:
        run(db, write(tmp_path / "points.csv", BOM + "\r\n".join(lines) + "\r\n"))
    assert str(caught.value).splitlines() == [
        "points.csv line 3, field 'multiplier': must be a number > 0, got 'abc'",
        "points.csv line 4, field 'parent': no point with key '440106E001/elec/mian' in this"
        " file nor in the database",
    ]
    assert snapshot(db) == before


def test_csv_header_errors(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path / "points.csv", "key,building,unitt\nk1,,kWh\n")
    with pytest.raises(RegistryError) as caught:
        run(db, path)
    assert str(caught.value).splitlines() == [
        "points.csv line 1, field 'unitt': unknown column for points (expected key, building,"
        " name, kind, unit, energy_code, cumulative, multiplier, rollover_value, parent,"
        " location)",
        "points.csv line 1, field 'unit': required column for points is missing",
    ]
    with pytest.raises(RegistryError, match=r"data\.csv line 1: cannot tell which table"):
        run(db, write(tmp_path / "data.csv", "a,b\n1,2\n"))


def test_many_errors_are_cut_at_twenty(db: Database, tmp_path: Path) -> None:
    body = "".join(f"k{i},kWh,{-i}\n" for i in range(25))
    with pytest.raises(RegistryError) as caught:
        run(db, write(tmp_path / "points.csv", "key,unit,multiplier\n" + body))
    lines = str(caught.value).splitlines()
    assert len(lines) == 21
    assert lines[0] == "points.csv line 2, field 'multiplier': must be a number > 0, got '0'"
    assert lines[-1] == "... and 5 more errors"


def test_undecodable_file(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    path.write_bytes(b"key,unit\nk1,kWh\xff\n")
    with pytest.raises(
        RegistryError,
        match=r"points\.csv: cannot read the text: not UTF-8 .*"
        r" nor GB18030",
    ):
        run(db, path)


def test_database_refusal_names_row_and_field(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A constraint violation that slips past validation still names the row."""
    monkeypatch.setitem(
        registry_import._FIELDS["points"], "multiplier", registry_import._Field(float)
    )
    path = write(
        tmp_path / "registry.yaml",
        "points:\n  - {key: a, unit: kWh}\n  - {key: b, unit: kWh, multiplier: -2}\n",
    )
    with pytest.raises(
        RegistryError,
        match=(
            r"^registry\.yaml points item 2 \(key 'b'\), field 'multiplier': the database refused"
            r" the row: .*points_multiplier_check"
        ),
    ):
        run(db, path)
    assert all(not table for table in snapshot(db).values())


# --- command line ----------------------------------------------------------------------------


def test_cli_registry_import(db: Database, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"JIENENG_DATABASE_URL": db.url, "JIENENG_CONFIG": ""}

    ok = runner.invoke(app, ["registry", "import", str(EXAMPLE)], env=env)
    assert ok.exit_code == 0, ok.output
    assert "institutions 2, buildings 3, points 11, meter_replacements 2" in " ".join(
        ok.output.split()
    )

    bad = write(tmp_path / "points.csv", "key,unit,multiplier\nk1,kWh,abc\n")
    failed = runner.invoke(app, ["registry", "import", str(bad)], env=env)
    assert failed.exit_code == 1
    assert "points.csv line 2, field 'multiplier': must be a number > 0, got 'abc'" in " ".join(
        failed.output.split()
    )
    assert rows(db, "SELECT count(*) FROM points") == [(11,)]


AUDIT_YAML = """\
consumption_records:
  - {institution: GZ-TH-YY-001, carrier: 柴油, amount: 0.2, unit: t, period_start: 2023-06-01,
     period_end: 2023-06-30, document: 油卡对账单 2023-06, note: 公务用车}
  - {institution: GZ-TH-YY-001, building: 440106E001, carrier: heat, amount: 36, unit: GJ,
     period_start: 2023-01-01, period_end: 2023-01-31, document: 热力账单 2023-01}
quotas:
  - {institution: GZ-TH-YY-001, year: 2023, indicator: energy_per_m2, unit: kgce/(m2·a),
     guide: 6.5, baseline: 11.9, constraint: 20.0, source: DB37/T 2672-2019}
"""


def test_consumption_records_and_quotas(db: Database, tmp_path: Path) -> None:
    run(db, write(tmp_path / "hospital.yaml", HOSPITAL_YAML))
    counts = run(db, write(tmp_path / "audit.yaml", AUDIT_YAML))
    assert counts == {"consumption_records": 2, "quotas": 1}
    got = rows(
        db,
        "SELECT building_id IS NULL, carrier, amount, unit, period_start::text, document"
        " FROM consumption_records ORDER BY id",
    )
    assert got[0] == (True, "diesel", 200.0, "kg", "2023-06-01", "油卡对账单 2023-06")
    assert got[1][1:4] == ("heat", pytest.approx(10_000.0), "kWh")  # 36 GJ
    assert rows(db, "SELECT guide, baseline, constraint_value FROM quotas") == [(6.5, 11.9, 20.0)]
    before = snapshot(db)
    run(db, tmp_path / "audit.yaml")  # again: nothing changes, the vehicle record included
    assert snapshot(db) == before
    csv = write(
        tmp_path / "records.csv",
        "institution,carrier,amount,unit,period_start,period_end,document\n"
        "GZ-TH-YY-001,汽油,120,kg,2023-07-01,2023-07-31,油卡对账单 2023-07\n",
    )
    assert run(db, csv) == {"consumption_records": 1}


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        ("carrier: petrol, amount: 1, unit: kg", "carrier", "must be one of electricity"),
        ("carrier: diesel, amount: 1, unit: L", "unit", "'L' is not a unit of diesel"),
        ("carrier: diesel, amount: -1, unit: kg", "amount", "must be a number >= 0"),
    ],
)
def test_consumption_record_errors_name_the_field(
    db: Database, tmp_path: Path, row: str, field: str, reason: str
) -> None:
    run(db, write(tmp_path / "hospital.yaml", HOSPITAL_YAML))
    bad = write(
        tmp_path / "bad.yaml",
        "consumption_records:\n  - {institution: GZ-TH-YY-001, " + row + ", period_start: "
        "2023-06-01, period_end: 2023-05-01, document: x}\n",
    )
    before = snapshot(db)
    with pytest.raises(RegistryError) as err:
        run(db, bad)
    assert f"field '{field}': {reason}" in str(err.value)
    assert "field 'period_end': is before period_start" in str(err.value)
    assert snapshot(db) == before


def test_quota_levels_and_unknown_institution(db: Database, tmp_path: Path) -> None:
    bad = write(
        tmp_path / "quotas.csv",
        "institution,year,indicator,unit,guide,baseline,constraint\n"
        "NOWHERE,2023,energy_per_m2,kgce/(m2·a),12,11,20\n",
    )
    with pytest.raises(RegistryError) as err:
        run(db, bad)
    text = str(err.value)
    assert "quotas.csv line 2, field 'constraint': levels must run guide ≤ baseline" in text
    assert "field 'institution': unknown institution 'NOWHERE'" in text


def test_contract_errors_name_the_field(db: Database, tmp_path: Path) -> None:
    run(db, write(tmp_path / "hospital.yaml", HOSPITAL_YAML))
    bad = write(
        tmp_path / "contracts.yaml",
        "emc_contracts:\n  - {code: EMC-9, institution: GZ-TH-YY-001, name: x, kind: leasing,"
        " meter: no/such/meter, baseline_end: 2026-07-01, reporting_start: 2026-06-01,"
        " price: 0.8, esco_share: 1.5}\n",
    )
    with pytest.raises(RegistryError) as err:
        run(db, bad)
    text = str(err.value)
    for field in ("kind", "esco_share", "reporting_start", "meter"):
        assert f"field '{field}'" in text, text
