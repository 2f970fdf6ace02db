-- 0004: when the current outage began, as a column of its own.
--
-- ibkr_status holds one column per field of the status record (AccountStatus), which now says
-- when the outage began (the first step out of "connected", kept through every attempt that
-- follows), so that "down 3 m 12 s, since 19:04:29" is not reset by each failed attempt.
-- NULL while usable or inside a reset window. Rows written before this migration are filled
-- in from their state when it is a down state (its start is the best known bound).

ALTER TABLE ibkr_status ADD COLUMN outage_since TEXT;

UPDATE ibkr_status
   SET outage_since = state_since
 WHERE state IN ('disconnected', 'connecting', 'degraded');
