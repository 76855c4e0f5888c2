-- Findings of the analysis job (`jieneng analyze`, jieneng/analyze.py; semantics in
-- store/findings.py) and what it has analysed. Same on both storage paths.

-- Where a thermometer hangs: the setpoint rules compare indoor zones with the outdoor air.
-- NULL: told from the point's key or name ('outdoor', '室外' → outdoor, else indoor).
ALTER TABLE points ADD COLUMN location text CHECK (location IN ('indoor', 'outdoor'));

-- One row per incident: the runs (contiguous stretches of slots) one rule found on one point,
-- chained while less than the grace apart. status: open (may still grow), closed (the
-- analysis moved past its end + grace), resolved (closed by a user), retracted (a later
-- analysis of the same slots, e.g. after late data, no longer finds it).
CREATE TABLE anomalies (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    point_id          integer NOT NULL REFERENCES points (id),
    building_id       integer REFERENCES buildings (id),
    rule              text NOT NULL CHECK (rule <> ''),
    status            text NOT NULL DEFAULT 'open'
                          CHECK (status IN ('open', 'closed', 'resolved', 'retracted')),
    started_at        timestamptz NOT NULL,            -- start of the first slot
    ended_at          timestamptz NOT NULL,            -- end of the last slot seen
    last_seen_at      timestamptz NOT NULL,            -- when an analysis last found a run
    closed_at         timestamptz,
    run_count         integer NOT NULL CHECK (run_count >= 0),
    severity          text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    score             double precision,
    waste             double precision,                -- in waste_unit, over all runs
    waste_unit        text NOT NULL,
    kgce              double precision,                -- NULL: the rule claims no cost
    kgco2             double precision,
    cny               double precision,
    evidence          jsonb NOT NULL DEFAULT '{}',     -- of the latest run
    runs              jsonb NOT NULL DEFAULT '[]',     -- [{start, end, severity, score, waste, ...}]
    detector_version  text NOT NULL,
    acknowledged_at   timestamptz,
    acknowledged_by   text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (ended_at > started_at)
);
-- At most one open finding per point and rule.
CREATE UNIQUE INDEX anomalies_one_open ON anomalies (point_id, rule) WHERE status = 'open';
CREATE INDEX ON anomalies (building_id, ended_at);
CREATE INDEX ON anomalies (point_id, rule, ended_at);

-- Per building: the end of the newest window analysed.
CREATE TABLE analysis_state (
    building_id       integer PRIMARY KEY REFERENCES buildings (id) ON DELETE CASCADE,
    analyzed_until    timestamptz NOT NULL,
    window_start      timestamptz NOT NULL,
    analyzed_at       timestamptz NOT NULL DEFAULT now(),
    detector_version  text NOT NULL
);

-- Per building and day (v_rollup_1d buckets): how many readings the analysis saw. A day whose
-- count has grown since received late readings and is analysed again.
CREATE TABLE analysis_days (
    building_id  integer NOT NULL REFERENCES buildings (id) ON DELETE CASCADE,
    day          timestamptz NOT NULL,
    readings     bigint NOT NULL,
    analyzed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (building_id, day)
);

CREATE OR REPLACE VIEW v_points AS
SELECT p.id AS point_id, p.key AS point_key, p.name, p.kind, p.quantity, p.unit,
       p.energy_code, p.cumulative, p.multiplier, p.rollover_value, p.parent_id,
       p.building_id, b.code AS building_code, b.institution_id, b.time_zone, p.location
FROM points p LEFT JOIN buildings b ON b.id = p.building_id;

-- Findings that stand (retracted ones stay in the table, out of this view).
CREATE VIEW v_anomalies AS
SELECT a.id, a.point_id, p.key AS point_key, a.building_id, b.code AS building_code, a.rule,
       a.status, a.started_at, a.ended_at, a.last_seen_at, a.closed_at, a.run_count,
       a.severity, a.score, a.waste, a.waste_unit, a.kgce, a.kgco2, a.cny, a.evidence,
       a.detector_version, a.acknowledged_at, a.acknowledged_by, a.created_at, a.updated_at
FROM anomalies a
JOIN points p ON p.id = a.point_id
LEFT JOIN buildings b ON b.id = a.building_id
WHERE a.status <> 'retracted';

-- Each run of those findings (e.g. Grafana annotations, one per night of a leak).
CREATE VIEW v_anomaly_runs AS
SELECT a.id AS anomaly_id, a.point_id, a.building_id, a.rule, a.status,
       (r ->> 'start')::timestamptz AS started_at, (r ->> 'end')::timestamptz AS ended_at,
       r ->> 'severity' AS severity, (r ->> 'score')::double precision AS score,
       (r ->> 'waste')::double precision AS waste, a.waste_unit,
       (r ->> 'kgce')::double precision AS kgce, (r ->> 'kgco2')::double precision AS kgco2,
       (r ->> 'cny')::double precision AS cny
FROM anomalies a, jsonb_array_elements(a.runs) AS r
WHERE a.status <> 'retracted';
