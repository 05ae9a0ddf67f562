-- Back to the database's default collation, keeping each column's type.
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
          AND a.attcollation = 'pg_catalog."C"'::regcollation
        ORDER BY c.relname, a.attname
    LOOP
        EXECUTE format('ALTER TABLE archive.%I ALTER COLUMN %I TYPE %s COLLATE "default"',
                       col.table_name, col.column_name, col.column_type);
    END LOOP;
END
$$;
