-- 0001: the last known status of every account, and the history of connection events.
--
-- Applied at startup by the PersistenceActor (rusqlite_migration, tracked in PRAGMA user_version).
-- Every timestamp is UTC RFC 3339 text with milliseconds ("2026-03-09T14:00:00.000Z"): one fixed
-- format, so text order is time order and `at >= '2026-03-09'` style comparisons work.

-- One row per account, upserted whenever the in-memory status board changes.
CREATE TABLE ibkr_status (
    account            TEXT PRIMARY KEY NOT NULL,
    paper_trading      INTEGER NOT NULL CHECK (paper_trading IN (0, 1)),
    -- 1 only in state 'connected' (the only state orders may flow in).
    connected          INTEGER NOT NULL CHECK (connected IN (0, 1)),
    -- disconnected | connecting | connected | degraded | reset_window | stopped
    state              TEXT NOT NULL,
    state_since        TEXT NOT NULL,
    -- The state with its data, as JSON (a reset window's "until", a degraded link's code, ...).
    state_detail       TEXT NOT NULL,
    host               TEXT NOT NULL,
    port               INTEGER NOT NULL,
    client_id          INTEGER NOT NULL,
    -- Kept across restarts: a NULL from a freshly started board does not erase a known value.
    last_checked       TEXT,
    last_connected     TEXT,
    reconnect_attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    TEXT,
    error_message      TEXT,
    probe_rtt_ms       REAL,
    -- When the supervisor saw this status.
    updated_at         TEXT NOT NULL
);

-- Every published status event, in publication order (id), never updated.
CREATE TABLE connection_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    -- The account, or '*' for supervisor-wide events (and persistence gaps).
    account    TEXT NOT NULL,
    -- state_changed, attempt_started, attempt_failed, connected, lost, probe_failed, notice,
    -- attempt_suppressed, actor_restarted, meltdown; persistence_gap when events had to be dropped.
    kind       TEXT NOT NULL,
    -- For state_changed only: the state names left and entered (uptime is derived from these).
    from_state TEXT,
    to_state   TEXT,
    -- The whole event as JSON: the same line the JSON-lines mirror (database.event_log) holds.
    detail     TEXT NOT NULL
);

CREATE INDEX connection_events_account_at ON connection_events (account, at);
CREATE INDEX connection_events_kind_at ON connection_events (kind, at);
