-- A building's actual operating hours per year (GB/T 51161-2016 §5.2: the office energy
-- value is corrected by γ = 0.3 + 0.7·T0/T for buildings used longer or shorter than the
-- standard hours T0). NULL: the standard hours, no correction. Registry import: buildings.
ALTER TABLE buildings ADD COLUMN operating_hours double precision
    CHECK (operating_hours > 0 AND operating_hours <= 8784);
