-- The SQLite archive keeps the indexes gamehall's own queries use and drops three that none
-- does: by room, by winner and by event kind. PostgreSQL keeps them (they are the seed's, and
-- users of that archive query by them); on SQLite, the embedded default with no such users,
-- each costs every write: an entry per game for room and winner, one per event for its kind.
-- Without them the archive writer took about a quarter less CPU at 20,000 moves a second
-- (docs/benchmarks.md, "matches"). Reads by game id, by time, by kind and time, and by player
-- are unchanged. Keep in step with migrations/postgres/2026-12-05-000000_sqlite_indexes_for_gamehall_queries.
DROP INDEX IF EXISTS idx_completed_games_room;
DROP INDEX IF EXISTS idx_completed_games_winner;
DROP INDEX IF EXISTS idx_game_events_type;
