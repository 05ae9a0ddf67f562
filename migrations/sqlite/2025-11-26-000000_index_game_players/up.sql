-- SQLite twin of migrations/postgres/2025-11-26-000000_index_game_players. SQLite cannot index
-- the elements of a JSON array, so there is nothing to create; the migration exists so that
-- both backends share one version history. (An empty migration is an error in diesel.)
SELECT 1;
