-- PostgreSQL twin of migrations/sqlite/2026-12-05-000000_sqlite_indexes_for_gamehall_queries,
-- which drops three indexes on SQLite only: PostgreSQL keeps the seed's indexes. The migration
-- exists so that both backends share one version history. (An empty migration is an error in
-- diesel.)
SELECT 1;
