-- Audit inputs no meter gives (registry import: consumption_records, quotas; README "Registry").
-- Same on both storage paths.

-- Energy no meter sees (official-car fuel, coal, LPG, bought heat, an unmetered building's
-- bills), with the document it comes from. amount is in the carrier's unit in the factors file
-- (kg of fuel, kWh of electricity and heat, m³ of gas and water); the period is inclusive.
CREATE TABLE consumption_records (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    institution_id  integer NOT NULL REFERENCES institutions (id),
    building_id     integer REFERENCES buildings (id),      -- NULL: the institution's (vehicles)
    carrier         text NOT NULL CHECK (carrier <> ''),
    amount          double precision NOT NULL CHECK (amount >= 0),
    unit            text NOT NULL CHECK (unit <> ''),
    period_start    date NOT NULL,
    period_end      date NOT NULL,
    document        text NOT NULL CHECK (document <> ''),
    note            text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (period_end >= period_start),
    UNIQUE NULLS NOT DISTINCT
        (institution_id, building_id, carrier, period_start, period_end, document)
);
CREATE INDEX ON consumption_records (institution_id, period_start);

-- Quotas (定额) of an institution for a year: guide ≤ baseline ≤ constraint (引导值, 基准值,
-- 约束值), in the indicator's unit.
CREATE TABLE quotas (
    id               integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    institution_id   integer NOT NULL REFERENCES institutions (id),
    year             integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    indicator        text NOT NULL CHECK (indicator IN
                         ('energy_per_m2', 'energy_per_capita', 'electricity_per_m2',
                          'non_heating_energy_per_m2', 'water_per_capita')),
    unit             text NOT NULL CHECK (unit <> ''),
    guide            double precision,
    baseline         double precision,
    constraint_value double precision NOT NULL,
    source           text,
    CHECK (guide IS NULL OR guide <= coalesce(baseline, constraint_value)),
    CHECK (baseline IS NULL OR baseline <= constraint_value),
    UNIQUE (institution_id, year, indicator)
);
