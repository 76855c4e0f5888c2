-- The API's tenants (issue 6): tokens stored hashed, with a role and the institutions they
-- may see; `jieneng token create` makes them (store/tokens.py). Nothing here is readable by
-- the dashboards' read-only role.
CREATE TABLE api_tokens (
    id                integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text NOT NULL CHECK (name <> ''),
    role              text NOT NULL CHECK (role IN ('viewer', 'engineer', 'admin')),
    prefix            text NOT NULL UNIQUE,        -- the token's first characters, for lists and logs
    secret_sha256     bytea NOT NULL UNIQUE,       -- SHA-256 of the whole token (256 random bits)
    all_institutions  boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_used_at      timestamptz,
    revoked_at        timestamptz,
    CHECK (role = 'admin' OR NOT all_institutions)  -- only an admin may see every institution
);

CREATE TABLE api_token_institutions (
    token_id        integer NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    institution_id  integer NOT NULL REFERENCES institutions (id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, institution_id)
);
