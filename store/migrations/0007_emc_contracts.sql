-- 合同能源管理 contracts (registry import: emc_contracts; README "Registry"), settled by
-- `jieneng emc settle` from measured savings (IPMVP Option C on the contract's meter).
CREATE TABLE emc_contracts (
    id                 integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code               text NOT NULL UNIQUE CHECK (code <> ''),
    institution_id     integer NOT NULL REFERENCES institutions (id),
    name               text NOT NULL CHECK (name <> ''),
    kind               text NOT NULL
                           CHECK (kind IN ('shared_savings', 'guaranteed_savings', 'cost_trusteeship')),
    meter_id           integer NOT NULL REFERENCES points (id),
    esco               text,
    baseline_end       date NOT NULL,          -- the baseline is the 365 days before it
    reporting_start    date NOT NULL CHECK (reporting_start >= baseline_end),
    reporting_end      date,                   -- exclusive; NULL: open
    price              double precision NOT NULL CHECK (price >= 0),     -- CNY per meter unit
    esco_share         double precision NOT NULL DEFAULT 0 CHECK (esco_share BETWEEN 0 AND 1),
    guaranteed_per_year double precision NOT NULL DEFAULT 0 CHECK (guaranteed_per_year >= 0),
    fee_per_year       double precision NOT NULL DEFAULT 0 CHECK (fee_per_year >= 0),
    note               text,
    CHECK (reporting_end IS NULL OR reporting_end > reporting_start)
);
