-- Undoes what up.sql does to a database gamehall created. What an adopted database gained
-- (columns, NOT NULLs, the cascading foreign key, UNIQUE (game_id, seq)) is gamehall's shape
-- from the first migration on, so it stays; that migration's down.sql drops the tables anyway.

DROP INDEX IF EXISTS archive.idx_game_events_type;
DROP INDEX IF EXISTS archive.idx_completed_games_kind_completed;
-- Fails, rather than cutting them short, if longer event kinds have been stored since.
ALTER TABLE archive.game_events ALTER COLUMN event_type TYPE VARCHAR(50);
