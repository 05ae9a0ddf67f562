#!/usr/bin/env bash
# One paced `matches` run against a fresh release server, for A/B comparisons of server
# settings run back to back (interleave them: this machine's latency drifts from minute to
# minute). Prints one line: the settings, moves/s, move latency and server CPU per 1M messages.
#
#   bench/ab.sh RATE [VAR=VALUE ...]
#   bench/ab.sh 2000 USE_GAME_ARCHIVAL=false
#   bench/ab.sh 2000 DATABASE_URL=postgres://postgres@127.0.0.1:5432/ab_bench
#
# The server runs with bench/run.sh's settings (archive on SQLite unless DATABASE_URL is given)
# on port AB_PORT (default 18490); AB_SERVER names another server binary to measure (default
# target/release/gamehall), e.g. a copy of the build before a change. Needs `cargo build
# --release` first, and curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:?usage: bench/ab.sh RATE [VAR=VALUE ...]}
shift
PORT=${AB_PORT:-18490}
SERVER=${AB_SERVER:-target/release/gamehall}
WORK=$(mktemp -d /tmp/gamehall-ab.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
settings=(ENV=development HOST=127.0.0.1 PORT="$PORT" LOG_LEVEL=warning LOG_FORMAT=json
    DATABASE_URL="sqlite://$WORK/archive.db" ARCHIVE_SPOOL_DIR="$WORK/spool" USE_GAME_ARCHIVAL=true
    RATE_LIMIT_WEBSOCKET_PER_SECOND=1000 RATE_LIMIT_PER_PLAYER_PER_MINUTE=1000000
    RATE_LIMIT_PER_ROOM_PER_SECOND=100000 MAX_ACTIVE_GAMES=1000000 MAX_MEMORY_MB=16384
    GC_COMPLETED_GAMES_AFTER=10 RECONNECT_GRACE=2)
env "${settings[@]}" "$@" "$SERVER" migrate > /dev/null
(ulimit -n "$(ulimit -Hn)"; exec env "${settings[@]}" "$@" "$SERVER" serve --no-migrate) \
    > "$WORK/server.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$PORT/health/ready" > /dev/null && break
    sleep 0.05
done
summary=$(target/release/gamehall-loadgen --addr "127.0.0.1:$PORT" --server-pid "$pid" \
    matches --matches "${AB_MATCHES:-500}" --rate "$rate" --warmup 3 --duration "${AB_SECONDS:-20}" 2> "$WORK/loadgen.log" | tail -n 1)
kill -TERM "$pid"
wait "$pid" || true
python3 - "$summary" "$rate" "$*" <<'PY'
import json, sys
s = json.loads(sys.argv[1]); lat = s["move_latency_ms"]
print(f"rate {sys.argv[2]} [{sys.argv[3]}]: {round(s['moves_per_s'])} moves/s, "
      f"p50 {lat['p50']} p95 {lat['p95']} p99 {lat['p99']} max {lat['max']} ms, "
      f"server CPU {s['server'].get('cpu_s_per_1m_messages')} s per 1M messages")
PY
