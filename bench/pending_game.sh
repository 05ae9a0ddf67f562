#!/usr/bin/env bash
# What a finished game costs while it waits in the archive for the database (a slow or absent
# database, or a batch not due yet): plays G tic-tac-toe games against a fresh release server
# whose archiver holds every game (a batch size and flush interval nothing reaches), then
# flushes the archive and divides the fall of the server's live heap
# (`gamehall_allocator_allocated_bytes`) by the number of games the flush wrote
# (`gamehall_archive_pending` before it). Prints one line.
#
#   bench/pending_game.sh                           # 5,000 games, archive on SQLite
#   G=20000 bench/pending_game.sh
#
# The server runs with bench/server_settings.sh but ARCHIVE_BATCH_SIZE=1000000 and
# ARCHIVE_FLUSH_INTERVAL=3600, on port AB_PORT (default 18490); AB_SERVER names another
# server binary (default target/release/gamehall). Readings are taken once every room has
# retired (RECONNECT_GRACE=2), so that only the archive's share of the heap moves. Needs
# `cargo build --release` first, and curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${AB_PORT:-18490}
SERVER=${AB_SERVER:-target/release/gamehall}
GAMES=${G:-5000}
WORK=$(mktemp -d /tmp/gamehall-pending.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
source bench/server_settings.sh
bench_server_settings "$WORK" "$PORT"
# Later assignments win in `env`: the archiver keeps every game until the flush.
settings=("${server_env[@]}" ARCHIVE_BATCH_SIZE=1000000 ARCHIVE_FLUSH_INTERVAL=3600)
bench_start_server "$SERVER" "$WORK" "$PORT" "${settings[@]}" "$@"

# heap bytes and pending games, once rooms have retired
reading() {
    sleep 4
    curl -sf "http://127.0.0.1:$PORT/metrics" | awk '
        /^gamehall_allocator_allocated_bytes / { heap = $2 }
        /^gamehall_archive_pending / { pending = $2 }
        END { printf "%d %d\n", heap, pending }'
}

# A first round warms the allocator's caches, the registry's index and the writer.
bench_play_games "$PORT" 200 "$WORK/loadgen.log"
bench_flush_archive "$PORT"
bench_play_games "$PORT" "$GAMES" "$WORK/loadgen.log"
read -r heap_held pending_held < <(reading)
bench_flush_archive "$PORT"
read -r heap_flushed pending_flushed < <(reading)
kill -TERM "$pid"
wait "$pid" || bench_server_failed $? "$WORK"
python3 - "$heap_held" "$heap_flushed" "$pending_held" "$pending_flushed" "$*" <<'PY'
import sys
hh, hf, ph, pf = map(int, sys.argv[1:5])
games = ph - pf
if games <= 0:
    sys.exit(f"pending_game: the flush wrote nothing ({ph} -> {pf} pending)")
print(f"[{sys.argv[5]}] live heap {hh / 2**20:.1f} MB with {ph} games pending, "
      f"{hf / 2**20:.1f} MB after the flush: {(hh - hf) / games / 1024:.2f} KB a pending game")
PY
