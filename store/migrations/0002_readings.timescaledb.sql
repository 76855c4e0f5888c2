-- Readings, TimescaleDB: a hypertable with 1-day chunks, compressed after N days.
CREATE TABLE readings (
    time      timestamptz NOT NULL,
    point_id  integer NOT NULL,
    value     double precision NOT NULL,
    quality   smallint NOT NULL DEFAULT 0,
    -- Unique per (point, time); time leads so that inserts append to the index's right edge
    -- (2x the write rate of (point_id, time) here, see bench/ingest.py); rollups serve
    -- long per-point ranges.
    PRIMARY KEY (time, point_id)
);
SELECT create_hypertable('readings', 'time', chunk_time_interval => interval '1 day',
                         create_default_indexes => false);

ALTER TABLE readings SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'point_id',
    timescaledb.compress_orderby = 'time DESC'
);
SELECT add_compression_policy('readings', interval '${compress_after_days} days');
