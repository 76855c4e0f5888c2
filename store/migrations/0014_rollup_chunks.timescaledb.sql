-- Bigger chunks for the rollups' materialized hypertables. TimescaleDB gives a continuous
-- aggregate ten times its source's chunk interval (10 days here), so a year of any rollup was
-- 37 chunks; the consumption views (migration 0011) find each bucket's predecessor by an
-- index look-up that a nested loop repeats on every chunk (no chunk is excluded for a value
-- known only at run time), which made a year of one building's hours or all buildings' days
-- cost 8,760 × 37 or 161,000 × 37 probes. Chunks sized to hold about as many rows as the
-- readings' one-day chunks keep the probes to one or two chunks. Only chunks made from now on
-- take the new size.
SELECT set_chunk_time_interval('rollup_15m', interval '30 days');
SELECT set_chunk_time_interval('rollup_1h', interval '120 days');
SELECT set_chunk_time_interval('rollup_1d', interval '3650 days');
