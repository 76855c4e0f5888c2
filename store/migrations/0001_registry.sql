-- Registry: institutions, buildings, points, meter replacements; dead letters.
-- Codes follow 国家机关办公建筑和大型公共建筑能耗监测系统 分项能耗数据采集技术导则 (see README).

CREATE TABLE institutions (
    id           integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code         text NOT NULL UNIQUE CHECK (code <> ''),
    name         text NOT NULL CHECK (name <> ''),
    type         text NOT NULL CHECK (type IN ('government', 'school', 'hospital', 'other')),
    region_code  text CHECK (region_code ~ '^[0-9]{6}$'),
    headcount    integer CHECK (headcount >= 0),
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE buildings (
    id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code            text NOT NULL UNIQUE CHECK (code ~ '^[0-9]{6}[A-H][0-9]{3}$'),
    institution_id  integer NOT NULL REFERENCES institutions (id),
    name            text NOT NULL CHECK (name <> ''),
    floor_area_m2   double precision CHECK (floor_area_m2 > 0),
    heated_area_m2  double precision CHECK (heated_area_m2 >= 0),
    cooled_area_m2  double precision CHECK (cooled_area_m2 >= 0),
    headcount       integer CHECK (headcount >= 0),
    climate_zone    text CHECK (climate_zone IN
                        ('severe_cold', 'cold', 'hot_summer_cold_winter',
                         'hot_summer_warm_winter', 'mild')),
    gb51161_class   text CHECK (gb51161_class IN ('A', 'B')),
    time_zone       text NOT NULL DEFAULT 'Asia/Shanghai',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON buildings (institution_id);

CREATE TABLE points (
    id               integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key              text NOT NULL UNIQUE CHECK (key <> '' AND length(key) <= 200),
    building_id      integer REFERENCES buildings (id),
    name             text,
    kind             text NOT NULL CHECK (kind IN ('meter', 'sensor')),
    quantity         text NOT NULL
                         CHECK (quantity IN ('energy', 'power', 'volume', 'flow',
                                             'temperature', 'humidity')),
    unit             text NOT NULL,
    energy_code      text CHECK (energy_code ~ '^0[1-9][A-Z0-9]*$'),
    cumulative       boolean NOT NULL,
    multiplier       double precision NOT NULL DEFAULT 1 CHECK (multiplier > 0),
    rollover_value   double precision CHECK (rollover_value > 0),
    parent_id        integer REFERENCES points (id),
    auto_registered  boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS NULL OR parent_id <> id)
);
CREATE INDEX ON points (building_id);

CREATE TABLE meter_replacements (
    id                 integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    point_id           integer NOT NULL REFERENCES points (id),
    replaced_at        timestamptz NOT NULL,
    old_final_value    double precision,
    new_initial_value  double precision,
    new_multiplier     double precision CHECK (new_multiplier > 0),
    note               text,
    UNIQUE (point_id, replaced_at)
);

-- Every payload the collector refused, with the reason (per reading, in errors).
-- digest = sha256(topic || 0x00 || payload): a redelivered message is stored once.
CREATE TABLE dead_letters (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at       timestamptz NOT NULL,
    last_received_at  timestamptz NOT NULL,
    seen_count        integer NOT NULL DEFAULT 1,
    topic             text NOT NULL,
    payload           bytea NOT NULL,
    format            text NOT NULL,
    reason            text NOT NULL,
    errors            jsonb NOT NULL,
    accepted          integer NOT NULL DEFAULT 0,
    collector         text,
    digest            bytea NOT NULL UNIQUE
);
CREATE INDEX ON dead_letters (received_at);
