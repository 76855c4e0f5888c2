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
-- the one in the bucket before (a rollover adds the rollover value; a drop without one is a
-- reset and gives no value), times the multiplier; energy_class is the code's first two
-- characters. The bucket before is found by an equality join on the rollup's key, not by a
-- window: a dashboard's filters on time, building or institution then reach the rollup scan
-- (a window over all points would compute every meter's year for each panel).
CREATE VIEW v_consumption_15m AS
SELECT r.bucket, r.point_id, p.building_id, b.institution_id, p.energy_code,
       left(p.energy_code, 2) AS energy_class, p.unit,
       CASE WHEN r.last_value >= prev.last_value
                THEN (r.last_value - prev.last_value) * p.multiplier
            WHEN p.rollover_value IS NOT NULL
                THEN (r.last_value - prev.last_value + p.rollover_value) * p.multiplier
       END AS value
FROM rollup_15m r
JOIN rollup_15m prev
  ON prev.point_id = r.point_id AND prev.bucket = r.bucket - interval '15 minutes'
JOIN points p ON p.id = r.point_id
JOIN buildings b ON b.id = p.building_id
WHERE p.cumulative;

CREATE VIEW v_consumption_1h AS
SELECT r.bucket, r.point_id, p.building_id, b.institution_id, p.energy_code,
       left(p.energy_code, 2) AS energy_class, p.unit,
       CASE WHEN r.last_value >= prev.last_value
                THEN (r.last_value - prev.last_value) * p.multiplier
            WHEN p.rollover_value IS NOT NULL
                THEN (r.last_value - prev.last_value + p.rollover_value) * p.multiplier
       END AS value
FROM rollup_1h r
JOIN rollup_1h prev ON prev.point_id = r.point_id AND prev.bucket = r.bucket - interval '1 hour'
JOIN points p ON p.id = r.point_id
JOIN buildings b ON b.id = p.building_id
WHERE p.cumulative;

-- Days are the service's (rollup_1d buckets are local midnights in ${service_tz}).
CREATE VIEW v_consumption_1d AS
SELECT r.bucket, r.point_id, p.building_id, b.institution_id, p.energy_code,
       left(p.energy_code, 2) AS energy_class, p.unit,
       CASE WHEN r.last_value >= prev.last_value
                THEN (r.last_value - prev.last_value) * p.multiplier
            WHEN p.rollover_value IS NOT NULL
                THEN (r.last_value - prev.last_value + p.rollover_value) * p.multiplier
       END AS value
FROM rollup_1d r
JOIN rollup_1d prev ON prev.point_id = r.point_id
 AND prev.bucket = ((r.bucket AT TIME ZONE ${service_tz}) - interval '1 day') AT TIME ZONE ${service_tz}
JOIN points p ON p.id = r.point_id
JOIN buildings b ON b.id = p.building_id
WHERE p.cumulative;

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
    v_rollup_1d, v_consumption_15m, v_consumption_1h, v_consumption_1d, v_anomalies, v_anomaly_runs, v_alerts
    TO jieneng_reader;
