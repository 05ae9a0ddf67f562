#!/usr/bin/env bash
# What a finished room costs while it waits to be reaped (GC_COMPLETED_GAMES_AFTER): plays G
# tic-tac-toe games against a fresh release server that reaps nothing during the run, then
# divides the growth of the server's live heap (`gamehall_allocator_allocated_bytes`) by the
# growth of its room count (`gamehall_rooms`). Prints one line.
#
#   bench/finished_room.sh                          # 5,000 games, archive on SQLite
#   G=20000 bench/finished_room.sh USE_GAME_ARCHIVAL=false
#
# The server runs with bench/server_settings.sh but GC_COMPLETED_GAMES_AFTER=3600, on port
# AB_PORT (default 18490); AB_SERVER names another server binary (default
# target/release/gamehall). Both readings are taken after a flush of the archive, so no game
# is held in the archiver's queue. Needs `cargo build --release` first, and curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${AB_PORT:-18490}
SERVER=${AB_SERVER:-target/release/gamehall}
GAMES=${G:-5000}
WORK=$(mktemp -d /tmp/gamehall-room.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
source bench/server_settings.sh
bench_server_settings "$WORK" "$PORT"
# Later assignments win in `env`: nothing is reaped while the script measures.
settings=("${server_env[@]}" GC_COMPLETED_GAMES_AFTER=3600)
bench_start_server "$SERVER" "$WORK" "$PORT" "${settings[@]}" "$@"

# heap bytes and rooms, after the archive has taken every finished game
reading() {
    sleep 2
    bench_flush_archive "$PORT" || true
    sleep 1
    curl -sf "http://127.0.0.1:$PORT/metrics" | awk '
        /^gamehall_allocator_allocated_bytes / { heap = $2 }
        /^gamehall_rooms[ {]/ { rooms += $2 }
        END { printf "%d %d\n", heap, rooms }'
}

# A first round warms the allocator's caches and the registry's index.
bench_play_games "$PORT" 200 "$WORK/loadgen.log"
read -r heap_before rooms_before < <(reading)
bench_play_games "$PORT" "$GAMES" "$WORK/loadgen.log"
read -r heap_after rooms_after < <(reading)
kill -TERM "$pid"
wait "$pid" || bench_server_failed $? "$WORK"
python3 - "$heap_before" "$heap_after" "$rooms_before" "$rooms_after" "$*" <<'PY'
import sys
hb, ha, rb, ra = map(int, sys.argv[1:5])
rooms = ra - rb
if rooms <= 0:
    sys.exit(f"finished_room: no rooms were added ({rb} -> {ra})")
print(f"[{sys.argv[5]}] live heap {hb / 2**20:.1f} -> {ha / 2**20:.1f} MB over {rooms} more rooms: "
      f"{(ha - hb) / rooms / 1024:.1f} KB a finished room")
PY
