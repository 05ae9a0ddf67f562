CREATE INDEX IF NOT EXISTS idx_completed_games_room ON completed_games (room_id);
CREATE INDEX IF NOT EXISTS idx_completed_games_winner ON completed_games (winner_name);
CREATE INDEX IF NOT EXISTS idx_game_events_type ON game_events (event_type);
