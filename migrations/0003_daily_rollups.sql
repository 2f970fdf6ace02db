-- 0003: uptime per account per day, kept after the raw events are pruned (database.retention).
--
-- One row per account, per day, per time zone: 'UTC' and the trading time zone (the settings'
-- `timezone`, an IANA name). Every duration is in milliseconds of that local day (23 or 25 hours
-- on a DST change). The writer thread rolls a day up from the raw connection_events once the
-- day is over (and again if a late event for it lands), so /uptime over a year reads a few
-- hundred small rows instead of every state change. Self-contained: the rows are derived, the
-- writer fills them in for every day still in connection_events when it first opens the file.
--
-- The switch to PRAGMA auto_vacuum = INCREMENTAL (so pruned pages are given back to the file
-- system) cannot happen inside a migration's transaction: open_database does it after the
-- migrations, with a one-time VACUUM of a file created before this release.

CREATE TABLE daily_rollups (
    account           TEXT NOT NULL,
    -- 'UTC' or an IANA zone name.
    zone              TEXT NOT NULL,
    -- The local day, 'YYYY-MM-DD'.
    day               TEXT NOT NULL,
    -- The length of the day (86 400 000 except on a DST change).
    covered_ms        INTEGER NOT NULL,
    up_ms             INTEGER NOT NULL,
    -- Part of down_ms: degraded (connected to the gateway, IB upstream lost).
    degraded_ms       INTEGER NOT NULL,
    -- Disconnected, connecting or degraded.
    down_ms           INTEGER NOT NULL,
    -- Inside scheduled reset windows: not downtime.
    reset_ms          INTEGER NOT NULL,
    -- Not observed (before the first record, while stopped, across a gap).
    unknown_ms        INTEGER NOT NULL,
    -- Stretches of downtime that began this day.
    outages           INTEGER NOT NULL,
    -- The longest stretch of downtime within this day.
    longest_outage_ms INTEGER NOT NULL,
    -- attempt_started events this day.
    attempts          INTEGER NOT NULL,
    PRIMARY KEY (zone, account, day)
) WITHOUT ROWID;

-- Per zone: every day up to and including rolled_through is in daily_rollups.
CREATE TABLE rollup_progress (
    zone           TEXT PRIMARY KEY NOT NULL,
    rolled_through TEXT NOT NULL
) WITHOUT ROWID;
