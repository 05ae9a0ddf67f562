-- The archive's identifiers compare byte by byte (COLLATE "C") instead of by the database's
-- locale. Keep in step with migrations/sqlite/2026-12-06-000000_ids_in_byte_order.
--
-- Every event row written costs PostgreSQL B-tree descents that compare game ids: the
-- (game_id, seq) key, the foreign key's check against completed_games, and event_type's index.
-- Under a locale collation (en_US.UTF-8, or C.UTF-8 before PostgreSQL 17) each comparison
-- copies both strings and calls strcoll; under "C" it is a memcmp. gamehall's ids are ASCII
-- (lowercase UUIDs for games, lowercase letters and digits for rooms) and event types are
-- ASCII names, so equality is unchanged, and order only differs for ids another program wrote
-- with mixed case or punctuation (GET /v1/games breaks ties of completed_at by game_id, in
-- the column's order, cursor and listing alike). docs/benchmarks.md ("Archive") has what it
-- saves.
--
-- Only the collation changes: each column keeps its type and length (format_type), so an
-- adopted archive whose columns are wider keeps them. PostgreSQL rewrites no table for this,
-- but rebuilds the indexes on these columns, under an exclusive lock: on a large archive, run
-- `gamehall migrate` before the new version serves (docs/operations.md, "Upgrades").
DO $$
DECLARE
    col RECORD;
BEGIN
    FOR col IN
        SELECT c.relname AS table_name, a.attname AS column_name,
               format_type(a.atttypid, a.atttypmod) AS column_type
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'archive'
          AND (c.relname, a.attname) IN (('completed_games', 'game_id'),
                                         ('completed_games', 'room_id'),
                                         ('game_events', 'game_id'),
                                         ('game_events', 'event_type'))
          AND a.attcollation <> 'pg_catalog."C"'::regcollation
        ORDER BY c.relname, a.attname
    LOOP
        EXECUTE format('ALTER TABLE archive.%I ALTER COLUMN %I TYPE %s COLLATE "C"',
                       col.table_name, col.column_name, col.column_type);
    END LOOP;
END
$$;
