-- Alerting (issue 6; alerting/, store/alerts.py): rules over the analysis job's findings,
-- one unresolved alert per (point, finding rule), its history, and the notifications to
-- send (an outbox: retried with backoff until delivered or given up).
CREATE TABLE alert_rules (
    id                    integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                  text NOT NULL UNIQUE CHECK (name <> ''),
    institution_id        integer REFERENCES institutions (id) ON DELETE CASCADE,  -- NULL: all
    rules                 text[],            -- finding rules it covers; NULL: the waste rules
    min_severity          text NOT NULL DEFAULT 'low' CHECK (min_severity IN ('low', 'medium', 'high')),
    min_duration_minutes  integer NOT NULL DEFAULT 0 CHECK (min_duration_minutes >= 0),
    clear_after_minutes   integer NOT NULL DEFAULT 60 CHECK (clear_after_minutes >= 0),
    quiet_start           time,              -- local time (the building's zone): notifications
    quiet_end             time,              -- wait until the quiet hours end
    webhook_url           text CHECK (webhook_url ~ '^https?://'),
    webhook_secret        text,
    emails                text[] NOT NULL DEFAULT '{}',
    mqtt                  boolean NOT NULL DEFAULT false,
    enabled               boolean NOT NULL DEFAULT true,
    created_at            timestamptz NOT NULL DEFAULT now(),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);

CREATE TABLE alerts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_rule_id    integer NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    anomaly_id       bigint NOT NULL REFERENCES anomalies (id),
    point_id         integer NOT NULL REFERENCES points (id),
    building_id      integer NOT NULL REFERENCES buildings (id),
    institution_id   integer NOT NULL REFERENCES institutions (id),
    rule             text NOT NULL,          -- the finding's rule
    status           text NOT NULL DEFAULT 'open'
                         CHECK (status IN ('open', 'acknowledged', 'resolved')),
    severity         text NOT NULL,
    title            text NOT NULL,
    started_at       timestamptz NOT NULL,   -- the finding's start
    opened_at        timestamptz NOT NULL DEFAULT now(),
    last_seen_at     timestamptz NOT NULL,   -- the finding's newest end
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    assigned_to      text,
    snoozed_until    timestamptz,
    resolved_at      timestamptz,
    resolved_by      text,
    waste_per_day    double precision,       -- in waste_unit
    waste_unit       text NOT NULL,
    kgce_per_day     double precision,
    cny_per_day      double precision,
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL))
);
-- One unresolved alert per point and finding rule: repeated analyses update it.
CREATE UNIQUE INDEX alerts_one_unresolved ON alerts (point_id, rule) WHERE status <> 'resolved';
CREATE INDEX ON alerts (institution_id, status, opened_at DESC);

CREATE TABLE alert_events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id  bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT now(),
    kind      text NOT NULL CHECK (kind IN ('opened', 'updated', 'acknowledged', 'assigned',
                                           'snoozed', 'resolved', 'notified', 'notify_failed')),
    actor     text NOT NULL,                 -- 'system' or a token's name
    note      text,
    data      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX ON alert_events (alert_id, at);

CREATE TABLE notifications (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id         bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    event            text NOT NULL CHECK (event IN ('opened', 'resolved')),
    channel          text NOT NULL CHECK (channel IN ('webhook', 'email', 'mqtt')),
    target           text NOT NULL,          -- URL, address, topic
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    UNIQUE (alert_id, event, channel, target)
);
CREATE INDEX ON notifications (next_attempt_at) WHERE status = 'pending';
