-- Archive of finished games (DESIGN.md section 5). Active games never live here.
-- Keep in step with migrations/sqlite/2025-11-25-000000_create_archive and src/archive/schema/.
--
-- IF NOT EXISTS throughout: users who ran the seed's scripts/init-archive.sql before gamehall
-- already have both tables, in an older shape; this leaves them alone and
-- 2026-12-01-000000_adopt_existing_archive brings them to this one. Hence too nothing here may
-- name a column the seed's tables lack (the (game_kind, completed_at) index is made there).

CREATE SCHEMA IF NOT EXISTS archive;

CREATE TABLE IF NOT EXISTS archive.completed_games (
    game_id               VARCHAR(50)  PRIMARY KEY,
    room_id               VARCHAR(50)  NOT NULL,
    game_kind             VARCHAR(50)  NOT NULL,
    game_data             JSONB        NOT NULL,
    completed_at          TIMESTAMPTZ  NOT NULL,
    archived_at           TIMESTAMPTZ  NOT NULL DEFAULT NOW(),
    game_duration_seconds INTEGER,
    winner_name           VARCHAR(100),
    final_scores          JSONB,
    -- The RNG seed: with the event log it replays the game exactly.
    seed                  BIGINT       NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_completed_games_room ON archive.completed_games (room_id);
CREATE INDEX IF NOT EXISTS idx_completed_games_completed ON archive.completed_games (completed_at);
CREATE INDEX IF NOT EXISTS idx_completed_games_winner ON archive.completed_games (winner_name);

CREATE TABLE IF NOT EXISTS archive.game_events (
    id              BIGSERIAL    PRIMARY KEY,
    game_id         VARCHAR(50)  NOT NULL
                    REFERENCES archive.completed_games (game_id) ON DELETE CASCADE,
    seq             BIGINT       NOT NULL,
    -- VARCHAR(100) since 2026-12-01-000000_adopt_existing_archive, as in the seed.
    event_type      VARCHAR(50)  NOT NULL,
    event_data      JSONB        NOT NULL,
    event_timestamp TIMESTAMPTZ  NOT NULL,
    archived_at     TIMESTAMPTZ  NOT NULL DEFAULT NOW(),
    -- Its index serves "the events of one game, in order" and makes re-archiving idempotent;
    -- it also covers lookups by game_id alone, so that needs no index of its own.
    CONSTRAINT game_events_game_id_seq_key UNIQUE (game_id, seq)
);
