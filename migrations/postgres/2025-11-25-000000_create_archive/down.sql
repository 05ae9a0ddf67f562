DROP TABLE IF EXISTS archive.game_events;
DROP TABLE IF EXISTS archive.completed_games;
-- Without CASCADE: if anything we did not create lives in the schema, fail rather than drop it.
DROP SCHEMA IF EXISTS archive;
