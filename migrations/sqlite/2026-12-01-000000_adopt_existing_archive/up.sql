-- SQLite twin of migrations/postgres/2026-12-01-000000_adopt_existing_archive. No SQLite
-- archive predates gamehall (the seed's schema is PostgreSQL's), so there is nothing to adopt:
-- this only widens event_type to VARCHAR(100) and adds the two indexes, as there.
--
-- SQLite cannot alter a CHECK, so game_events is rebuilt: created anew, filled, swapped in.
-- Nothing refers to game_events, so this is safe with foreign keys on (only a referenced
-- table needs them off to be rebuilt); its own rows are checked against completed_games again
-- as they are copied.

CREATE TABLE game_events_new (
    id              INTEGER      PRIMARY KEY AUTOINCREMENT NOT NULL,
    game_id         VARCHAR(50)  NOT NULL
                    REFERENCES completed_games (game_id) ON DELETE CASCADE,
    seq             BIGINT       NOT NULL,
    event_type      VARCHAR(100) NOT NULL CHECK (length(event_type) <= 100),
    event_data      TEXT         NOT NULL CHECK (json_valid(event_data)),
    event_timestamp TIMESTAMP    NOT NULL,
    archived_at     TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    -- Serves "the events of one game, in order", makes re-archiving idempotent, and covers
    -- lookups by game_id alone.
    CONSTRAINT game_events_game_id_seq_key UNIQUE (game_id, seq)
);

INSERT INTO game_events_new
    (id, game_id, seq, event_type, event_data, event_timestamp, archived_at)
SELECT id, game_id, seq, event_type, event_data, event_timestamp, archived_at
FROM game_events;

-- AUTOINCREMENT never reuses an id, even one deleted; carry its high-water mark over, which
-- may be above the largest id copied.
INSERT INTO sqlite_sequence (name, seq)
SELECT 'game_events_new', 0
WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'game_events_new');
UPDATE sqlite_sequence
SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'game_events'), 0))
WHERE name = 'game_events_new';

DROP TABLE game_events;
ALTER TABLE game_events_new RENAME TO game_events;

CREATE INDEX IF NOT EXISTS idx_completed_games_kind_completed
    ON completed_games (game_kind, completed_at);
CREATE INDEX idx_game_events_type ON game_events (event_type);
