-- Readings with a quality flag, by point: the meter-detail dashboard's quality panel (and any
-- "what was flagged" query) finds them without reading the point's unflagged readings. Few
-- readings are flagged, so the index is small and costs inserts little; on TimescaleDB it is
-- made on every chunk, compressed ones included.
CREATE INDEX readings_flagged ON readings (point_id, time) WHERE quality <> 0;
