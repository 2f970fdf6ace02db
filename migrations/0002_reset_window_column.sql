-- 0002: the end of a scheduled reset window as a column of its own.
--
-- ibkr_status holds one column per field of the status record (AccountStatus); the reset
-- window's end was only inside state_detail's JSON. /status shows it as reset_window_ends_at,
-- and "which account is in a reset window until when" should not need json_extract.
-- NULL outside a reset window. Rows written before this migration are filled in from their
-- state_detail, in the stored timestamp format ("2026-03-09T14:00:00.000Z").

ALTER TABLE ibkr_status ADD COLUMN reset_window_ends_at TEXT;

UPDATE ibkr_status
   SET reset_window_ends_at = strftime('%Y-%m-%dT%H:%M:%fZ', json_extract(state_detail, '$.until'))
 WHERE state = 'reset_window';
