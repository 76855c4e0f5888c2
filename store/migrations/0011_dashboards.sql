-- What the dashboards read (grafana/, README "Views"), and the read-only role they read it
-- with: jieneng_reader may SELECT these documented views and nothing else — no table, so
-- neither readings behind the views' back nor api_tokens, alert rules (webhook secrets) or
-- the outbox. A login role for Grafana is made a member of it (`jieneng grafana role`).

CREATE VIEW v_institutions AS
SELECT i.id AS institution_id, i.code AS institution_code, i.name, i.type, i.region_code,
       coalesce(i.headcount, sum(b.headcount)) AS headcount,
       sum(b.floor_area_m2) AS floor_area_m2, count(b.id) AS buildings
FROM institutions i LEFT JOIN buildings b ON b.institution_id = i.id
GROUP BY i.id;

CREATE VIEW v_buildings AS
SELECT b.id AS building_id, b.code AS building_code, b.name, b.institution_id,
       i.code AS institution_code, i.name AS institution_name, b.floor_area_m2,
       coalesce(b.headcount, i.headcount) AS headcount, b.climate_zone, b.gb51161_class,
       b.time_zone
FROM buildings b JOIN institutions i ON i.id = b.institution_id;

-- Use per hour / day of cumulative registers: the register's last value in the bucket minus
-- the one before (a rollover adds the rollover value; a drop without one is a reset and
-- gives no value), times the multiplier; energy_class is the code's first two characters.
CREATE VIEW v_consumption_1h AS
SELECT bucket, point_id, building_id, institution_id, energy_code,
       left(energy_code, 2) AS energy_class, unit,
       CASE WHEN delta >= 0 THEN delta * multiplier
            WHEN rollover_value IS NOT NULL THEN (delta + rollover_value) * multiplier
       END AS value
FROM (
    SELECT r.bucket, r.point_id, p.building_id, b.institution_id, p.energy_code, p.unit,
           p.multiplier, p.rollover_value,
           r.last_value - lag(r.last_value) OVER w AS delta,
           r.bucket - lag(r.bucket) OVER w AS step
    FROM rollup_1h r JOIN points p ON p.id = r.point_id JOIN buildings b ON b.id = p.building_id
    WHERE p.cumulative
    WINDOW w AS (PARTITION BY r.point_id ORDER BY r.bucket)
) d
WHERE step = interval '1 hour';

CREATE VIEW v_consumption_1d AS
SELECT bucket, point_id, building_id, institution_id, energy_code,
       left(energy_code, 2) AS energy_class, unit,
       CASE WHEN delta >= 0 THEN delta * multiplier
            WHEN rollover_value IS NOT NULL THEN (delta + rollover_value) * multiplier
       END AS value
FROM (
    SELECT r.bucket, r.point_id, p.building_id, b.institution_id, p.energy_code, p.unit,
           p.multiplier, p.rollover_value,
           r.last_value - lag(r.last_value) OVER w AS delta,
           r.bucket - lag(r.bucket) OVER w AS step
    FROM rollup_1d r JOIN points p ON p.id = r.point_id JOIN buildings b ON b.id = p.building_id
    WHERE p.cumulative
    WINDOW w AS (PARTITION BY r.point_id ORDER BY r.bucket)
) d
WHERE step BETWEEN interval '23 hours' AND interval '25 hours';

-- Alerts as the dashboards show them (no rule secrets, no notification targets).
CREATE VIEW v_alerts AS
SELECT a.id AS alert_id, a.title, a.rule, a.status, a.severity, a.point_id, a.building_id,
       b.code AS building_code, a.institution_id, a.started_at, a.opened_at, a.last_seen_at,
       a.acknowledged_at, a.acknowledged_by, a.assigned_to, a.snoozed_until, a.resolved_at,
       a.waste_per_day, a.waste_unit, a.kgce_per_day, a.cny_per_day
FROM alerts a JOIN buildings b ON b.id = a.building_id;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'jieneng_reader') THEN
        CREATE ROLE jieneng_reader NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO jieneng_reader;
GRANT SELECT ON v_institutions, v_buildings, v_points, v_readings, v_rollup_15m, v_rollup_1h,
    v_rollup_1d, v_consumption_1h, v_consumption_1d, v_anomalies, v_anomaly_runs, v_alerts
    TO jieneng_reader;
