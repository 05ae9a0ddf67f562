// @generated automatically by Diesel CLI.

diesel::table! {
    completed_games (game_id) {
        game_id -> Text,
        room_id -> Text,
        game_kind -> Text,
        game_data -> Text,
        completed_at -> Timestamp,
        archived_at -> Timestamp,
        game_duration_seconds -> Nullable<Integer>,
        winner_name -> Nullable<Text>,
        final_scores -> Nullable<Text>,
        seed -> BigInt,
    }
}

diesel::table! {
    game_events (id) {
        id -> BigInt,
        game_id -> Text,
        seq -> BigInt,
        event_type -> Text,
        event_data -> Text,
        event_timestamp -> Timestamp,
        archived_at -> Timestamp,
    }
}

diesel::joinable!(game_events -> completed_games (game_id));

diesel::allow_tables_to_appear_in_same_query!(completed_games, game_events,);
