-- Rollups as tables kept current by the service (store.maintenance.refresh_rollups),
-- with the same columns and the same bucket boundaries as the TimescaleDB aggregates.
CREATE TABLE rollup_15m (
    bucket       timestamptz NOT NULL,
    point_id     integer NOT NULL,
    n            bigint NOT NULL,
    sum          double precision NOT NULL,
    min          double precision NOT NULL,
    max          double precision NOT NULL,
    first_time   timestamptz NOT NULL,
    first_value  double precision NOT NULL,
    last_time    timestamptz NOT NULL,
    last_value   double precision NOT NULL,
    PRIMARY KEY (point_id, bucket)
);
CREATE INDEX ON rollup_15m (bucket);
CREATE TABLE rollup_1h (LIKE rollup_15m INCLUDING ALL);
CREATE TABLE rollup_1d (LIKE rollup_15m INCLUDING ALL);
