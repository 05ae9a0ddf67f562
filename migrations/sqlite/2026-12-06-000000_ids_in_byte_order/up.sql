-- SQLite twin of migrations/postgres/2026-12-06-000000_ids_in_byte_order, which makes the
-- archive's ids compare byte by byte on PostgreSQL. SQLite's columns already do (its default
-- collation, BINARY, is memcmp). The migration exists so that both backends share one version
-- history. (An empty migration is an error in diesel.)
SELECT 1;
