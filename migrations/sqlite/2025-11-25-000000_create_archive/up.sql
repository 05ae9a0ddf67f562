-- SQLite twin of migrations/postgres/2025-11-25-000000_create_archive: the same tables, without
-- the `archive` schema (SQLite has none). Keep in step with it and with src/archive/schema/.
--
-- Types: JSON is TEXT, checked with json_valid() as JSONB would be; timestamps are TIMESTAMP,
-- which diesel maps to its SQLite `Timestamp` (stored as TEXT, UTC). SQLite ignores VARCHAR
-- lengths, so CHECKs keep the PostgreSQL limits: a value that fits here fits there.
-- Foreign keys need `PRAGMA foreign_keys = ON`, which the archive sets on every connection.
-- The (game_kind, completed_at) index is made by 2026-12-01-000000_adopt_existing_archive, as
-- in PostgreSQL.

CREATE TABLE completed_games (
    game_id               VARCHAR(50)  PRIMARY KEY NOT NULL CHECK (length(game_id) <= 50),
    room_id               VARCHAR(50)  NOT NULL CHECK (length(room_id) <= 50),
    game_kind             VARCHAR(50)  NOT NULL CHECK (length(game_kind) <= 50),
    game_data             TEXT         NOT NULL CHECK (json_valid(game_data)),
    completed_at          TIMESTAMP    NOT NULL,
    archived_at           TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    game_duration_seconds INTEGER,
    winner_name           VARCHAR(100) CHECK (length(winner_name) <= 100),
    final_scores          TEXT         CHECK (json_valid(final_scores)),
    -- The RNG seed: with the event log it replays the game exactly.
    seed                  BIGINT       NOT NULL
);

CREATE INDEX idx_completed_games_room ON completed_games (room_id);
CREATE INDEX idx_completed_games_completed ON completed_games (completed_at);
CREATE INDEX idx_completed_games_winner ON completed_games (winner_name);

CREATE TABLE game_events (
    id              INTEGER      PRIMARY KEY AUTOINCREMENT NOT NULL,
    game_id         VARCHAR(50)  NOT NULL
                    REFERENCES completed_games (game_id) ON DELETE CASCADE,
    seq             BIGINT       NOT NULL,
    -- VARCHAR(100) since 2026-12-01-000000_adopt_existing_archive.
    event_type      VARCHAR(50)  NOT NULL CHECK (length(event_type) <= 50),
    event_data      TEXT         NOT NULL CHECK (json_valid(event_data)),
    event_timestamp TIMESTAMP    NOT NULL,
    archived_at     TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    -- Serves "the events of one game, in order", makes re-archiving idempotent, and covers
    -- lookups by game_id alone.
    CONSTRAINT game_events_game_id_seq_key UNIQUE (game_id, seq)
);
