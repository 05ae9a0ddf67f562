# Sourced by the benchmark scripts: the server as benchmarked, so that every script measures
# the same server. Release build, archive on SQLite in WORK, rate limits far above what the
# load generator sends (they are still checked on every frame), warnings-only logs, finished
# rooms reaped after 10 s instead of 300 s (at thousands of games a second the default would
# keep a million finished rooms in memory), short reconnect grace for churn.
#
#   bench_server_settings WORK PORT   # sets the array `server_env` (VAR=VALUE words for `env`)
bench_server_settings() {
    local work=$1 port=$2
    server_env=(
        ENV=development
        HOST=127.0.0.1
        PORT="$port"
        LOG_LEVEL=warning
        LOG_FORMAT=json
        DATABASE_URL="sqlite://$work/archive.db"
        ARCHIVE_SPOOL_DIR="$work/spool"
        USE_GAME_ARCHIVAL=true
        RATE_LIMIT_WEBSOCKET_PER_SECOND=1000
        RATE_LIMIT_PER_PLAYER_PER_MINUTE=1000000
        RATE_LIMIT_PER_ROOM_PER_SECOND=100000
        MAX_ACTIVE_GAMES=1000000
        MAX_MEMORY_MB=16384
        GC_COMPLETED_GAMES_AFTER=10
        RECONNECT_GRACE=2
    )
}

# Another server left listening on the port would answer the readiness check and be measured
# instead of the one just started (which exits at once: the address is in use).
#
#   bench_require_free_port PORT
bench_require_free_port() {
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
        echo "bench: something already listens on port $1; stop it first" >&2
        return 1
    fi
}

# For the scripts that start one release server and load it (ab.sh, finished_room.sh,
# pending_game.sh).
#
#   bench_start_server SERVER WORK PORT VAR=VALUE...   # migrates, starts, waits until ready; sets `pid`
#   bench_play_games PORT GAMES LOG                    # GAMES tic-tac-toe games on 50 tables
#   bench_flush_archive PORT                           # POST /admin/archive/flush
bench_start_server() {
    local server=$1 work=$2 port=$3
    shift 3
    bench_require_free_port "$port" || return 1
    env "$@" "$server" migrate > /dev/null
    # The server may hold every descriptor the hard limit allows (thousands of sockets); the
    # subshell becomes the server, so `pid` is the server's.
    (ulimit -n "$(ulimit -Hn)"; exec env "$@" "$server" serve --no-migrate) \
        > "$work/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 600); do
        curl -sf "http://127.0.0.1:$port/health/ready" > /dev/null && return 0
        sleep 0.05
    done
    echo "bench: the server on port $port did not become ready (see $work/server.log)" >&2
    return 1
}

# The server exited with STATUS after SIGTERM: says so with the end of its log (the scripts
# delete WORK on exit). Does not fail the measurement, which was taken before.
#
#   bench_server_failed STATUS WORK
bench_server_failed() {
    echo "bench: the server exited with status $1 on SIGTERM; the end of its log:" >&2
    tail -c 4000 "$2/server.log" >&2
}

bench_play_games() {
    target/release/gamehall-loadgen --addr "127.0.0.1:$1" --server-pid "$pid" \
        matches --matches 50 --games "$2" --warmup 0 --duration 600 > /dev/null 2>> "$3"
}

bench_flush_archive() {
    curl -sf -X POST -H "Authorization: Bearer gamehall-development-admin-token" \
        "http://127.0.0.1:$1/admin/archive/flush" > /dev/null
}
