DROP INDEX IF EXISTS archive.idx_completed_games_players;
