-- `GET /v1/games?player=` finds a player's games by JSONB containment on the players array
-- (game_data->'players' @> '[{"player_id": ...}]'); without this index that is a full scan.
CREATE INDEX idx_completed_games_players
    ON archive.completed_games USING GIN ((game_data -> 'players') jsonb_path_ops);
