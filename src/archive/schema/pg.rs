// @generated automatically by Diesel CLI.

pub mod archive {
    diesel::table! {
        archive.completed_games (game_id) {
            #[max_length = 50]
            game_id -> Varchar,
            #[max_length = 50]
            room_id -> Varchar,
            #[max_length = 50]
            game_kind -> Varchar,
            game_data -> Jsonb,
            completed_at -> Timestamptz,
            archived_at -> Timestamptz,
            game_duration_seconds -> Nullable<Int4>,
            #[max_length = 100]
            winner_name -> Nullable<Varchar>,
            final_scores -> Nullable<Jsonb>,
            seed -> Int8,
        }
    }

    diesel::table! {
        archive.game_events (id) {
            id -> Int8,
            #[max_length = 50]
            game_id -> Varchar,
            seq -> Int8,
            #[max_length = 100]
            event_type -> Varchar,
            event_data -> Jsonb,
            event_timestamp -> Timestamptz,
            archived_at -> Timestamptz,
        }
    }

    diesel::joinable!(game_events -> completed_games (game_id));

    diesel::allow_tables_to_appear_in_same_query!(completed_games, game_events,);
}
