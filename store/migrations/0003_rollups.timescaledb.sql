-- Rollups as TimescaleDB continuous aggregates. The service refreshes them itself
-- (store.maintenance) rather than trusting the job scheduler alone.
CREATE MATERIALIZED VIEW rollup_15m WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(interval '15 minutes', time) AS bucket, point_id,
       count(*) AS n, sum(value) AS sum, min(value) AS min, max(value) AS max,
       min(time) AS first_time, first(value, time) AS first_value,
       max(time) AS last_time, last(value, time) AS last_value
FROM readings GROUP BY 1, 2 WITH NO DATA;

CREATE MATERIALIZED VIEW rollup_1h WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(interval '1 hour', time) AS bucket, point_id,
       count(*) AS n, sum(value) AS sum, min(value) AS min, max(value) AS max,
       min(time) AS first_time, first(value, time) AS first_value,
       max(time) AS last_time, last(value, time) AS last_value
FROM readings GROUP BY 1, 2 WITH NO DATA;

CREATE MATERIALIZED VIEW rollup_1d WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(interval '1 day', time, ${service_tz}) AS bucket, point_id,
       count(*) AS n, sum(value) AS sum, min(value) AS min, max(value) AS max,
       min(time) AS first_time, first(value, time) AS first_value,
       max(time) AS last_time, last(value, time) AS last_value
FROM readings GROUP BY 1, 2 WITH NO DATA;
