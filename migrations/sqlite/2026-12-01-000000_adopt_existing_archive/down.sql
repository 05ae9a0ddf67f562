-- Undoes up.sql: game_events rebuilt with event_type VARCHAR(50) again, and the two indexes
-- dropped. The copy fails on the CHECK, rather than cutting them short, if longer event kinds
-- have been stored since.

DROP INDEX IF EXISTS idx_game_events_type;
DROP INDEX IF EXISTS idx_completed_games_kind_completed;

CREATE TABLE game_events_old (
    id              INTEGER      PRIMARY KEY AUTOINCREMENT NOT NULL,
    game_id         VARCHAR(50)  NOT NULL
                    REFERENCES completed_games (game_id) ON DELETE CASCADE,
    seq             BIGINT       NOT NULL,
    event_type      VARCHAR(50)  NOT NULL CHECK (length(event_type) <= 50),
    event_data      TEXT         NOT NULL CHECK (json_valid(event_data)),
    event_timestamp TIMESTAMP    NOT NULL,
    archived_at     TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT game_events_game_id_seq_key UNIQUE (game_id, seq)
);

INSERT INTO game_events_old
    (id, game_id, seq, event_type, event_data, event_timestamp, archived_at)
SELECT id, game_id, seq, event_type, event_data, event_timestamp, archived_at
FROM game_events;

INSERT INTO sqlite_sequence (name, seq)
SELECT 'game_events_old', 0
WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'game_events_old');
UPDATE sqlite_sequence
SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'game_events'), 0))
WHERE name = 'game_events_old';

DROP TABLE game_events;
ALTER TABLE game_events_old RENAME TO game_events;
