-- The documented read interface (README, "Views"). Grafana and the API read only these.
CREATE TABLE store_meta (
    key    text PRIMARY KEY,
    value  text NOT NULL
);

CREATE VIEW v_points AS
SELECT p.id AS point_id, p.key AS point_key, p.name, p.kind, p.quantity, p.unit,
       p.energy_code, p.cumulative, p.multiplier, p.rollover_value, p.parent_id,
       p.building_id, b.code AS building_code, b.institution_id, b.time_zone
FROM points p LEFT JOIN buildings b ON b.id = p.building_id;

CREATE VIEW v_readings AS
SELECT r.time, r.point_id, p.key AS point_key, r.value, r.quality
FROM readings r JOIN points p ON p.id = r.point_id;

CREATE VIEW v_rollup_15m AS
SELECT bucket, point_id, n, sum / n AS avg, min, max, sum,
       first_time, first_value, last_time, last_value
FROM rollup_15m;

CREATE VIEW v_rollup_1h AS
SELECT bucket, point_id, n, sum / n AS avg, min, max, sum,
       first_time, first_value, last_time, last_value
FROM rollup_1h;

CREATE VIEW v_rollup_1d AS
SELECT bucket, point_id, n, sum / n AS avg, min, max, sum,
       first_time, first_value, last_time, last_value
FROM rollup_1d;

CREATE VIEW v_dead_letters AS
SELECT id, received_at, last_received_at, seen_count, topic, format, reason, errors, accepted,
       collector, octet_length(payload) AS payload_bytes, payload
FROM dead_letters;
