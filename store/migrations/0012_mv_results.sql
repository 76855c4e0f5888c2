-- Stored measurement & verification (IPMVP Option C): what `jieneng mv --meter …`,
-- `jieneng emc settle` and the analysis job's daily "to date" measurement of every running
-- 合同能源管理 contract computed, so that the audit & M&V dashboard (and anyone with SQL) can
-- show it without fitting again. One row per result, its days in mv_days. Computing the same
-- thing again updates the row in place (its id stays: a dashboard link to it keeps working).
CREATE TABLE mv_results (
    id                integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    point_id          integer NOT NULL REFERENCES points (id),
    contract_id       integer REFERENCES emc_contracts (id) ON DELETE CASCADE,
    -- measurement: one asked for; settlement: a contract's period (label 2026-07 …);
    -- to_date: the contract's reporting period so far, replaced every day.
    purpose           text NOT NULL CHECK (purpose IN ('measurement', 'settlement', 'to_date')),
    label             text,
    model             text NOT NULL CHECK (model IN ('daily', 'hourly')),
    calendar          text NOT NULL DEFAULT 'none' CHECK (calendar IN ('cn', 'none')),
    baseline_start    date NOT NULL,
    baseline_end      date NOT NULL,           -- exclusive
    reporting_start   date NOT NULL,
    reporting_end     date NOT NULL,           -- exclusive
    non_routine       double precision NOT NULL DEFAULT 0,
    computed_at       timestamptz NOT NULL DEFAULT now(),
    -- ASHRAE Guideline 14 on the baseline period (monthly for daily models, hourly for TOWT)
    -- and the limits it was judged by, as analytics.mv.guideline14 gave them.
    g14_interval      text NOT NULL CHECK (g14_interval IN ('monthly', 'hourly')),
    cvrmse            double precision,
    nmbe              double precision,
    cvrmse_limit      double precision NOT NULL,
    nmbe_limit        double precision NOT NULL,
    passes            boolean,                 -- NULL: too few periods for a verdict
    fit_cvrmse        double precision,        -- the model's own CV(RMSE) on its periods
    r_squared         double precision,
    periods           integer NOT NULL,        -- reporting days (hours) counted
    observed          double precision,
    adjusted_baseline double precision,
    avoided           double precision,
    uncertainty       double precision,        -- ± at 90 %
    value_cny         double precision,        -- a settlement's shares (NULL otherwise)
    esco_cny          double precision,
    agency_cny        double precision,
    result            jsonb NOT NULL,          -- the whole result but its days
    CHECK (reporting_start >= baseline_end AND reporting_end > reporting_start),
    CHECK ((purpose = 'measurement') = (contract_id IS NULL))
);
-- What "the same thing" is, per purpose (store/mv.py upserts on these).
CREATE UNIQUE INDEX mv_results_measurement ON mv_results
    (point_id, model, calendar, baseline_end, reporting_start, reporting_end, non_routine)
    WHERE purpose = 'measurement';
CREATE UNIQUE INDEX mv_results_settlement ON mv_results (contract_id, reporting_start, reporting_end)
    WHERE purpose = 'settlement';
CREATE UNIQUE INDEX mv_results_to_date ON mv_results (contract_id) WHERE purpose = 'to_date';

-- Day by day, both periods: the use, the baseline model's value for the day (the fit in the
-- baseline period, the adjusted baseline after), the day's mean outdoor temperature, and on
-- reporting days that the savings counted, the avoided energy (baseline − use; their sum is
-- the result's avoided energy less its non-routine adjustment).
CREATE TABLE mv_days (
    result_id     integer NOT NULL REFERENCES mv_results (id) ON DELETE CASCADE,
    day           date NOT NULL,
    observed      double precision,
    baseline      double precision,
    temperature_c double precision,
    avoided       double precision,
    PRIMARY KEY (result_id, day)
);

-- A contract's results belong to the contract's institution (as the API scopes contracts),
-- a measurement's to its meter's building's.
CREATE VIEW v_mv_results AS
SELECT m.id AS result_id, m.purpose, m.label, m.model, m.calendar, p.key AS point_key, p.unit,
       p.energy_code, p.building_id, b.code AS building_code, i.id AS institution_id,
       i.code AS institution_code, c.code AS contract_code, c.name AS contract_name,
       c.kind AS contract_kind, c.price, m.baseline_start, m.baseline_end, m.reporting_start,
       m.reporting_end, m.non_routine, m.computed_at, m.g14_interval, m.cvrmse, m.nmbe,
       m.passes, m.cvrmse_limit, m.nmbe_limit,
       m.fit_cvrmse, m.r_squared, m.periods, m.observed, m.adjusted_baseline, m.avoided,
       m.uncertainty, m.avoided / nullif(m.adjusted_baseline, 0) AS savings_fraction,
       m.value_cny, m.esco_cny, m.agency_cny,
       coalesce(c.code || ' ' || coalesce(m.label, ''), p.key) || ' · ' || m.model || ' · '
           || m.reporting_start || ' – ' || m.reporting_end AS title
FROM mv_results m
JOIN points p ON p.id = m.point_id
JOIN buildings b ON b.id = p.building_id
LEFT JOIN emc_contracts c ON c.id = m.contract_id
JOIN institutions i ON i.id = coalesce(c.institution_id, b.institution_id);

-- Days as timestamps at the building's local midnight (what a time series panel plots), and
-- the avoided energy accumulated over the reporting period.
CREATE VIEW v_mv_days AS
SELECT d.result_id, d.day::timestamp AT TIME ZONE b.time_zone AS time, d.day,
       CASE WHEN d.day < m.reporting_start THEN 'baseline' ELSE 'reporting' END AS period,
       d.observed, d.baseline, d.temperature_c, d.avoided,
       CASE WHEN d.day >= m.reporting_start THEN
           sum(coalesce(d.avoided, 0)) OVER (PARTITION BY d.result_id ORDER BY d.day)
       END AS cumulative_avoided,
       p.unit, p.building_id, coalesce(c.institution_id, b.institution_id) AS institution_id
FROM mv_days d
JOIN mv_results m ON m.id = d.result_id
JOIN points p ON p.id = m.point_id
JOIN buildings b ON b.id = p.building_id
LEFT JOIN emc_contracts c ON c.id = m.contract_id;

-- The service's time zone: the daily rollups' days are its days.
CREATE VIEW v_service AS SELECT ${service_tz}::text AS time_zone;

GRANT SELECT ON v_mv_results, v_mv_days, v_service TO jieneng_reader;
