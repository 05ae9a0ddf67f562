-- Adopts an archive gamehall did not create, and widens event_type to VARCHAR(100).
-- Keep in step with migrations/sqlite/2026-12-01-000000_adopt_existing_archive.
--
-- Users who ran the seed's scripts/init-archive.sql before gamehall have its two tables, which
-- the first migration (CREATE ... IF NOT EXISTS) left as they were: no game_kind, seed or seq
-- columns; nullable archived_at and game_events.game_id; a foreign key without ON DELETE
-- CASCADE (retention could not delete a game that has events); no UNIQUE (game_id, seq); an
-- index on game_id alone and one on event_type. Here they get gamehall's shape and keep every
-- row. On a database gamehall created, only event_type widens (in place: a longer VARCHAR is
-- binary compatible, so PostgreSQL rewrites neither table nor index) and idx_game_events_type
-- is built.
--
-- Each change is guarded by a catalog check, so that a gamehall database is not scanned for
-- backfills it cannot need. Diesel runs the migration in one transaction: if a step fails,
-- nothing has changed.

DO $$
DECLARE
    orphans BIGINT;
    fk      RECORD;
BEGIN
    -- The seed kept the kind, if at all, inside game_data.
    IF NOT EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = 'archive' AND table_name = 'completed_games'
          AND column_name = 'game_kind'
    ) THEN
        ALTER TABLE archive.completed_games ADD COLUMN game_kind VARCHAR(50);
        UPDATE archive.completed_games
        SET game_kind = CASE
            WHEN length(game_data ->> 'game_kind') BETWEEN 1 AND 50 THEN game_data ->> 'game_kind'
            ELSE 'unknown'
        END;
        ALTER TABLE archive.completed_games ALTER COLUMN game_kind SET NOT NULL;
    END IF;

    -- The seed kept no RNG seed. 0 stands in; such a game cannot be replayed anyway, since its
    -- game_data and events are not in gamehall's format.
    IF NOT EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = 'archive' AND table_name = 'completed_games'
          AND column_name = 'seed'
    ) THEN
        -- A constant default fills existing rows without rewriting the table; gamehall always
        -- writes the seed, so the default goes again.
        ALTER TABLE archive.completed_games ADD COLUMN seed BIGINT NOT NULL DEFAULT 0;
        ALTER TABLE archive.completed_games ALTER COLUMN seed DROP DEFAULT;
    END IF;

    -- The best estimate of when a game was archived is when it finished: never later than the
    -- truth, and it keeps old games in order.
    IF EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = 'archive' AND table_name = 'completed_games'
          AND column_name = 'archived_at' AND is_nullable = 'YES'
    ) THEN
        UPDATE archive.completed_games SET archived_at = completed_at WHERE archived_at IS NULL;
        ALTER TABLE archive.completed_games
            ALTER COLUMN archived_at SET DEFAULT NOW(),
            ALTER COLUMN archived_at SET NOT NULL;
    END IF;

    -- An event without a game belongs to no game: no API can show it and retention would
    -- never delete it. Which game it was is not ours to guess, so stop and say so.
    IF EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = 'archive' AND table_name = 'game_events'
          AND column_name = 'game_id' AND is_nullable = 'YES'
    ) THEN
        SELECT count(*) INTO orphans FROM archive.game_events WHERE game_id IS NULL;
        IF orphans > 0 THEN
            -- The advice is in the message itself: errors reach the operator without hints.
            RAISE EXCEPTION 'archive.game_events holds % event(s) with no game_id: give them '
                'one or delete them (DELETE FROM archive.game_events WHERE game_id IS NULL), '
                'then run gamehall migrate again', orphans;
        END IF;
        ALTER TABLE archive.game_events ALTER COLUMN game_id SET NOT NULL;
    END IF;

    -- The seed kept no sequence number; ids grew in insertion order, the nearest thing to the
    -- order of a game's events it recorded.
    IF NOT EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = 'archive' AND table_name = 'game_events' AND column_name = 'seq'
    ) THEN
        ALTER TABLE archive.game_events ADD COLUMN seq BIGINT;
        UPDATE archive.game_events AS e
        SET seq = numbered.seq
        FROM (
            SELECT id, row_number() OVER (PARTITION BY game_id ORDER BY id) AS seq
            FROM archive.game_events
        ) AS numbered
        WHERE e.id = numbered.id;
        ALTER TABLE archive.game_events ALTER COLUMN seq SET NOT NULL;
    END IF;

    -- Events were written with their game.
    IF EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = 'archive' AND table_name = 'game_events'
          AND column_name = 'archived_at' AND is_nullable = 'YES'
    ) THEN
        UPDATE archive.game_events AS e
        SET archived_at = g.archived_at
        FROM archive.completed_games AS g
        WHERE e.archived_at IS NULL AND g.game_id = e.game_id;
        ALTER TABLE archive.game_events
            ALTER COLUMN archived_at SET DEFAULT NOW(),
            ALTER COLUMN archived_at SET NOT NULL;
    END IF;

    -- As the seed has it: event kinds may be longer than ids.
    IF EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = 'archive' AND table_name = 'game_events'
          AND column_name = 'event_type' AND character_maximum_length < 100
    ) THEN
        ALTER TABLE archive.game_events ALTER COLUMN event_type TYPE VARCHAR(100);
    END IF;

    -- Retention deletes games and relies on their events going with them. PostgreSQL cannot
    -- change a foreign key's ON DELETE action, so one without CASCADE is replaced.
    FOR fk IN
        SELECT conname FROM pg_constraint
        WHERE conrelid = 'archive.game_events'::regclass AND contype = 'f'
          AND confrelid = 'archive.completed_games'::regclass AND confdeltype <> 'c'
    LOOP
        EXECUTE format('ALTER TABLE archive.game_events DROP CONSTRAINT %I', fk.conname);
    END LOOP;
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conrelid = 'archive.game_events'::regclass AND contype = 'f'
          AND confrelid = 'archive.completed_games'::regclass
    ) THEN
        ALTER TABLE archive.game_events
            ADD CONSTRAINT game_events_game_id_fkey FOREIGN KEY (game_id)
                REFERENCES archive.completed_games (game_id) ON DELETE CASCADE;
    END IF;

    -- What makes re-archiving idempotent; its index serves "the events of one game, in order".
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conrelid = 'archive.game_events'::regclass
          AND conname = 'game_events_game_id_seq_key'
    ) THEN
        ALTER TABLE archive.game_events
            ADD CONSTRAINT game_events_game_id_seq_key UNIQUE (game_id, seq);
    END IF;
END
$$;

-- The seed's index on game_id alone repeats the leading column of UNIQUE (game_id, seq)'s
-- index, which serves the same lookups: it would only cost every write.
DROP INDEX IF EXISTS archive.idx_game_events_game;

-- Made here rather than in the first migration because the seed's table has no game_kind
-- until the block above adds it.
CREATE INDEX IF NOT EXISTS idx_completed_games_kind_completed
    ON archive.completed_games (game_kind, completed_at);

-- The seed's, for finding events by kind across games; gamehall databases get it too, so that
-- every archive has one shape.
CREATE INDEX IF NOT EXISTS idx_game_events_type ON archive.game_events (event_type);
