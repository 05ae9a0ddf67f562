#!/usr/bin/env bash
# One paced `matches` run against a fresh release server, for A/B comparisons of server
# settings run back to back (interleave them: this machine's latency drifts from minute to
# minute). Prints one line: the settings, moves/s, move latency at the client and in the server,
# server CPU per 1M messages, and the batches the archive wrote (of them, the catch-up writer's).
#
#   bench/ab.sh RATE [VAR=VALUE ...]
#   bench/ab.sh 2000 USE_GAME_ARCHIVAL=false
#   bench/ab.sh 2000 DATABASE_URL=postgres://postgres@127.0.0.1:5432/ab_bench
#
# The server runs with the settings of bench/server_settings.sh (archive on SQLite unless
# DATABASE_URL is given) on port AB_PORT (default 18490). AB_SERVER names another server binary
# to measure (default target/release/gamehall), e.g. a copy of the build before a change, and
# AB_LOADGEN another load generator binary; AB_THREADS sets the load generator's runtime threads
# (default 0: one per core). AB_SERVER_CPUS and AB_LOADGEN_CPUS confine the server or the
# load generator to a list of CPUs (`taskset -c`), e.g. to keep the load generator off the
# cores a real server would have to itself. The line ends with the cores each process kept
# busy: on two cores the load generator competes with the server. Needs `cargo build
# --release` first, and curl and python3.
#
#   AB_LOADGEN_CPUS=1 bench/ab.sh 4000 ARCHIVE_WRITER_CPUS=1
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:?usage: bench/ab.sh RATE [VAR=VALUE ...]}
shift
PORT=${AB_PORT:-18490}
SERVER=${AB_SERVER:-target/release/gamehall}
WORK=$(mktemp -d /tmp/gamehall-ab.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
if [[ -n ${AB_SERVER_CPUS:-} ]]; then
    # taskset execs the server, so the pid bench_start_server takes is still the server's.
    printf '#!/bin/sh\nexec taskset -c %s %s "$@"\n' "$AB_SERVER_CPUS" "$(realpath "$SERVER")" \
        > "$WORK/server-on-cpus"
    chmod +x "$WORK/server-on-cpus"
    SERVER=$WORK/server-on-cpus
fi
loadgen=("${AB_LOADGEN:-target/release/gamehall-loadgen}")
[[ -z ${AB_LOADGEN_CPUS:-} ]] || loadgen=(taskset -c "$AB_LOADGEN_CPUS" "${loadgen[@]}")
source bench/server_settings.sh
bench_server_settings "$WORK" "$PORT"
bench_start_server "$SERVER" "$WORK" "$PORT" "${server_env[@]}" "$@"
summary=$("${loadgen[@]}" --addr "127.0.0.1:$PORT" \
    --server-pid "$pid" --threads "${AB_THREADS:-0}" \
    matches --matches "${AB_MATCHES:-500}" --rate "$rate" --warmup 3 \
    --duration "${AB_SECONDS:-20}" 2> "$WORK/loadgen.log" | tail -n 1)
# Batches the archive wrote, and how many of them went to the catch-up writer at normal
# priority (the yielding writers fell ten batches behind). A failed scrape leaves it out.
batches=$(curl -sf "http://127.0.0.1:$PORT/metrics" \
    | awk '/^gamehall_archive_(catch_up_)?batches_total /{printf "%s=%s ", $1, $2}' || true)
kill -TERM "$pid"
# A clean shutdown exits 0; anything else is worth the log, which goes with WORK.
wait "$pid" || bench_server_failed $? "$WORK"
label="$*${AB_SERVER_CPUS:+; server on CPUs $AB_SERVER_CPUS}"
label+="${AB_LOADGEN_CPUS:+; load generator on CPUs $AB_LOADGEN_CPUS}"
python3 - "$summary" "$rate" "$label" "$batches" <<'PY'
import json, sys
s = json.loads(sys.argv[1]); lat = s["move_latency_ms"]
# The server's own part of a move (gamehall_move_broadcast_seconds: from the session reading
# the act to its events queued for every member), as the upper bounds of histogram buckets.
srv = s.get("server_move_broadcast_ms") or {}
# The same, split by whether the archive was writing a batch when the move was made (absent
# with archiving off): what writing costs the moves, within this one run.
during, outside = srv.get("during_archive_write") or {}, srv.get("outside_archive_write") or {}
# The share of moves slower than 0.5 ms compares more finely than the p99's bucket.
split = (f" ({round(during.get('count', 0))} moves while a batch was written: p99 <= "
         f"{during.get('p99_at_most')}, {during.get('slower_than_0_5_ms_pct')} % over 0.5 ms; "
         f"the others: p99 <= {outside.get('p99_at_most')}, "
         f"{outside.get('slower_than_0_5_ms_pct')} % over 0.5 ms)"
         ) if during else ""
print(f"rate {sys.argv[2]} [{sys.argv[3]}]: {round(s['moves_per_s'])} moves/s, "
      f"p50 {lat['p50']} p95 {lat['p95']} p99 {lat['p99']} max {lat['max']} ms, "
      f"in the server p50 <= {srv.get('p50_at_most')} p99 <= {srv.get('p99_at_most')} ms, "
      f"{srv.get('slower_than_0_5_ms_pct')} % over 0.5 ms{split}, "
      f"server CPU {s['server'].get('cpu_s_per_1m_messages')} s per 1M messages, "
      f"cores busy: server {s['server'].get('cpu_cores_busy')}, "
      f"load generator {round(s['loadgen']['cpu_s'] / s['window_s'], 2)}, "
      f"machine steal {(s.get('machine') or {}).get('steal_pct')} %, wake-up p99 before "
      f"+{(s['setup'].get('wakeup_late_ms_before') or {}).get('p99')} ms"
      + (f", archive batches: {sys.argv[4].strip()}" if sys.argv[4].strip() else ""))
PY
