DROP TABLE IF EXISTS game_events;
DROP TABLE IF EXISTS completed_games;
