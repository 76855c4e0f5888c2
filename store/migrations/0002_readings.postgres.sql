-- Readings, plain PostgreSQL: declarative monthly range partitions on time.
-- Partitions are created ahead by the service (store.maintenance) and on demand by the writer.
CREATE TABLE readings (
    time      timestamptz NOT NULL,
    point_id  integer NOT NULL,
    value     double precision NOT NULL,
    quality   smallint NOT NULL DEFAULT 0,
    -- Unique per (point, time); time leads so that inserts append to the index's right edge
    -- (2x the write rate of (point_id, time) here, see bench/ingest.py); rollups serve
    -- long per-point ranges.
    PRIMARY KEY (time, point_id)
) PARTITION BY RANGE (time);

-- Time ranges written since the rollups were last refreshed (the writer adds one per batch).
CREATE TABLE rollup_invalidations (
    id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lo  timestamptz NOT NULL,
    hi  timestamptz NOT NULL
);
