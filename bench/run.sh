#!/usr/bin/env bash
# gamehall's standard benchmark set. Builds release binaries, runs every load scenario against a
# fresh release server each, runs the Criterion micro-benchmarks, and rewrites the generated
# parts of the "## Load generator" and "## Micro-benchmarks" sections of docs/benchmarks.md
# (between their BEGIN/END markers; the rest of the file is left alone).
#
#   bash bench/run.sh                       # everything, as documented in docs/benchmarks.md
#   SCENARIOS="matches micro" bash bench/run.sh
#   QUICK=1 bash bench/run.sh               # short windows, small counts: checks the script
#
# Knobs (environment): SCENARIOS, IDLE_CONNECTIONS, MATCHES, MATCH_RATES, MATCH_SECONDS,
# REALTIME_ROOMS, REALTIME_PLAYERS, REALTIME_HZ, REALTIME_SECONDS, CHURN_WORKERS, CHURN_WARMUP, CHURN_SECONDS,
# CHURN_CYCLES, ARCHIVE_PG_URL, ARCHIVE_GAMES, ARCHIVE_PG_CPU_SHARES, ARCHIVE_LONG_GAMES, ARCHIVE_MATCH_RATES, BENCH_PORT, BENCH_NOTE (a line printed with the results, e.g. what else ran on
# the machine), BENCH_DOC (default docs/benchmarks.md), PYTHON (default python3).
# Needs: cargo, curl, python3; the archive scenario also needs psql and a PostgreSQL server.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

QUICK=${QUICK:-0}
SCENARIOS=${SCENARIOS:-"startup idle matches realtime churn archive micro"}
PORT=${BENCH_PORT:-18480}
DOC=${BENCH_DOC:-docs/benchmarks.md}
PYTHON=${PYTHON:-python3}
OUT=$ROOT/target/bench
WORK=$(mktemp -d /tmp/gamehall-bench.XXXXXX)
RESULTS=$OUT/results.jsonl
if [[ $QUICK == 1 ]]; then
    IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-"200"}
    MATCHES=${MATCHES:-20}
    MATCH_RATES=${MATCH_RATES:-"200 max"}
    MATCH_SECONDS=${MATCH_SECONDS:-3}
    REALTIME_ROOMS=${REALTIME_ROOMS:-10}
    REALTIME_SECONDS=${REALTIME_SECONDS:-3}
    CHURN_WORKERS=${CHURN_WORKERS:-5}
    CHURN_SECONDS=${CHURN_SECONDS:-3}
    CHURN_WARMUP=${CHURN_WARMUP:-2}
    ARCHIVE_GAMES=${ARCHIVE_GAMES:-500}
    ARCHIVE_LONG_GAMES=${ARCHIVE_LONG_GAMES:-10}
    ARCHIVE_MATCH_RATES=${ARCHIVE_MATCH_RATES:-"500"}
    CRITERION_ARGS=(--warm-up-time 0.2 --measurement-time 0.5)
else
    IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-"10000 50000 100000"}
    MATCHES=${MATCHES:-500}
    MATCH_RATES=${MATCH_RATES:-"2000 5000 10000 15000 20000 max"}
    MATCH_SECONDS=${MATCH_SECONDS:-20}
    REALTIME_ROOMS=${REALTIME_ROOMS:-1000}
    REALTIME_SECONDS=${REALTIME_SECONDS:-20}
    CHURN_WORKERS=${CHURN_WORKERS:-50}
    CHURN_SECONDS=${CHURN_SECONDS:-60}
    CHURN_WARMUP=${CHURN_WARMUP:-20}
    ARCHIVE_GAMES=${ARCHIVE_GAMES:-50000}
    ARCHIVE_LONG_GAMES=${ARCHIVE_LONG_GAMES:-1000}
    ARCHIVE_MATCH_RATES=${ARCHIVE_MATCH_RATES:-"2000 10000"}
    CRITERION_ARGS=()
fi
REALTIME_PLAYERS=${REALTIME_PLAYERS:-4}
REALTIME_HZ=${REALTIME_HZ:-20}
CHURN_CYCLES=${CHURN_CYCLES:-}
ARCHIVE_PG_URL=${ARCHIVE_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
# PostgreSQL's CPU shares (of 1024) in the archive scenario's last latency run; 0 skips it.
ARCHIVE_PG_CPU_SHARES=${ARCHIVE_PG_CPU_SHARES:-64}
PG_WEIGHT_LOWERED=0
# Settings that one scenario adds to server_env (later assignments win in `env`).
extra_env=()

SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ $PG_WEIGHT_LOWERED == 1 ]]; then
        bash "$ROOT/bench/postgres_weight.sh" restore || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$OUT"
: > "$RESULTS"

# The server as benchmarked (bench/server_settings.sh says why each setting is there).
source "$ROOT/bench/server_settings.sh"
bench_server_settings "$WORK" "$PORT"

now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }

# Polls /health/ready over bash's own /dev/tcp (no process per attempt) until it answers 200.
wait_ready() {
    local deadline=$(( $(now_ms) + 30000 )) status
    while (( $(now_ms) < deadline )); do
        if exec 3<>"/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; then
            printf 'GET /health/ready HTTP/1.0\r\nHost: bench\r\n\r\n' >&3
            IFS= read -r status <&3 || status=
            exec 3<&- 3>&-
            if [[ $status == *" 200"* ]]; then return 0; fi
        fi
        sleep 0.001
    done
    echo "bench: the server did not become ready" >&2
    return 1
}

start_server() {
    bench_require_free_port "$PORT" || return 1
    rm -rf "$WORK/archive.db" "$WORK/spool"
    env "${server_env[@]}" "${extra_env[@]}" target/release/gamehall migrate > /dev/null
    local started
    started=$(now_ms)
    # Both processes may hold every descriptor the hard limit allows.
    (ulimit -n "$(ulimit -Hn)"; exec env "${server_env[@]}" "${extra_env[@]}" target/release/gamehall serve --no-migrate) \
        > "$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    wait_ready
    READY_MS=$(( $(now_ms) - started ))
}

stop_server() {
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# record NAME COMMAND... : runs a load generator command against a fresh server and appends
# {"name", "command", "summary"} to the results.
record() {
    local name=$1; shift
    start_server
    echo "bench: $name: $*" >&2
    local summary pg_before pg_seconds
    pg_before=$(pg_cpu_ticks)
    pg_seconds=$(now_ms)
    if summary=$(target/release/gamehall-loadgen --addr "127.0.0.1:$PORT" --server-pid "$SERVER_PID" "$@"); then
        summary=$(tail -n 1 <<< "$summary")
    else
        summary='{"failed": true}'
    fi
    if [[ ${RECORD_PG_CPU:-0} == 1 ]]; then
        # CPU seconds of all postgres processes over the whole run (set-up and warm-up
        # included, unlike the load generator's window), as cores busy.
        summary=$("$PYTHON" -c 'import json,sys; s=json.loads(sys.argv[1]); t=int(sys.argv[2]); ms=int(sys.argv[3]); s["postgres"]={"cpu_s": round(t/100,2), "cores_busy": round(t/100/(ms/1000),2), "cpu_shares": int(sys.argv[4])}; print(json.dumps(s))' \
            "$summary" "$(( $(pg_cpu_ticks) - pg_before ))" "$(( $(now_ms) - pg_seconds ))" "${PG_CPU_SHARES:-1024}")
    fi
    stop_server
    append "$name" "gamehall-loadgen $*" "$summary" "${extra_env[*]}"
}

# Clock ticks (utime + stime, 1/100 s) of every running postgres process.
pg_cpu_ticks() {
    local total=0 pid stat rest
    for pid in $(pgrep -x postgres || true); do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        read -r -a fields <<< "$rest"
        total=$(( total + fields[11] + fields[12] ))
    done
    echo "$total"
}

# append NAME COMMAND SUMMARY [SERVER_ENV] : one result line.
append() {
    "$PYTHON" - "$@" >> "$RESULTS" <<'EOF'
import json, sys
name, command, summary = sys.argv[1:4]
row = {"name": name, "command": command, "summary": json.loads(summary)}
if len(sys.argv) > 4 and sys.argv[4]:
    row["server_env"] = sys.argv[4]
print(json.dumps(row))
EOF
}

# pg_database create|drop NAME : a scratch database on ARCHIVE_PG_URL's server.
pg_database() {
    if [[ $1 == create ]]; then
        psql "$ARCHIVE_PG_URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$2\""
    else
        psql "$ARCHIVE_PG_URL" -X -q -c "DROP DATABASE IF EXISTS \"$2\" WITH (FORCE)" || true
    fi
}

# skip NAME WHY : a figure that could not be taken here, and why.
skip() {
    "$PYTHON" -c 'import json,sys; print(json.dumps({"name": sys.argv[1], "skipped": sys.argv[2]}))' "$1" "$2" >> "$RESULTS"
}

echo "bench: building release binaries" >&2
cargo build --release --bins

HARD_LIMIT=$(ulimit -Hn)
for scenario in $SCENARIOS; do
    case $scenario in
    startup)
        start_server
        sleep 1
        idle_rss=$(rss_kb "$SERVER_PID")
        stop_server
        "$PYTHON" -c 'import json,sys; print(json.dumps({"name": "startup", "ready_ms": int(sys.argv[1]), "idle_rss_kb": int(sys.argv[2])}))' \
            "$READY_MS" "$idle_rss" >> "$RESULTS"
        ;;
    idle)
        fits=0
        for n in $IDLE_CONNECTIONS; do
            if [[ $HARD_LIMIT != unlimited ]] && (( n + 1024 > HARD_LIMIT )); then
                skip "idle-$n" "needs $n open files in the server and as many in the load generator; the hard limit here is $HARD_LIMIT (ulimit -Hn) and cannot be raised without CAP_SYS_RESOURCE"
                fits=1
            else
                record "idle-$n" idle --connections "$n" --duration "$([[ $QUICK == 1 ]] && echo 3 || echo 30)"
            fi
        done
        if (( fits )); then
            most=$(( (HARD_LIMIT - 1024) / 1000 * 1000 ))
            record "idle-$most" idle --connections "$most" --duration "$([[ $QUICK == 1 ]] && echo 3 || echo 30)"
        fi
        ;;
    matches)
        for rate in $MATCH_RATES; do
            args=(matches --matches "$MATCHES" --warmup 3 --duration "$MATCH_SECONDS")
            [[ $rate != max ]] && args+=(--rate "$rate")
            record "matches-$rate" "${args[@]}"
        done
        ;;
    realtime)
        record "realtime" realtime --rooms "$REALTIME_ROOMS" --players "$REALTIME_PLAYERS" \
            --tick-hz "$REALTIME_HZ" --warmup 3 --duration "$REALTIME_SECONDS"
        ;;
    churn)
        # The warm-up outlasts a room's life after its cycle (RECONNECT_GRACE, then
        # GC_COMPLETED_GAMES_AFTER), so that "warm" is taken with as many rooms alive as in
        # the measured window: what stays above it is kept per cycle, not a population not yet
        # reached.
        args=(churn --workers "$CHURN_WORKERS" --warmup "$CHURN_WARMUP" --duration "$CHURN_SECONDS" --settle 60)
        [[ -n $CHURN_CYCLES ]] && args+=(--cycles "$CHURN_CYCLES")
        record "churn" "${args[@]}"
        ;;
    archive)
        # The archive's write rate on PostgreSQL against psql's raw COPY of the same rows:
        # tic-tac-toe games at the default batch size on one writer, on the default two and on
        # three, at a larger batch, then long games.
        # Then the embedded default, SQLite, with the defaults (one writer: SQLite takes one at
        # a time), where the figure to watch is the writer's CPU per game.
        for spec in "9 100 1 $ARCHIVE_GAMES" "9 100 2 $ARCHIVE_GAMES" "9 100 3 $ARCHIVE_GAMES" "9 1000 2 $ARCHIVE_GAMES" "1000 100 2 $ARCHIVE_LONG_GAMES" "9 100 1 $ARCHIVE_GAMES sqlite"; do
            read -r events batch writers games backend <<< "$spec"
            url=$ARCHIVE_PG_URL
            if [[ ${backend:-} == sqlite ]]; then
                # A path that reads well in the table; the benchmark refuses a file that exists.
                url=sqlite:///tmp/gamehall-archive-bench.db
                rm -f /tmp/gamehall-archive-bench.db{,-wal,-shm}
            fi
            args=(archive --database-url "$url" --games "$games" --events "$events" --batch-size "$batch" --writers "$writers")
            echo "bench: ${args[*]}" >&2
            if summary=$(target/release/gamehall-loadgen "${args[@]}"); then
                summary=$(tail -n 1 <<< "$summary")
            else
                summary='{"failed": true}'
            fi
            append "archive-${backend:-postgres}-$events-$batch-$writers" "gamehall-loadgen ${args[*]}" "$summary"
        done
        # The reactor while batches are written: the same paced load with the archive on
        # PostgreSQL, then with archiving off, at a rate that leaves the machine idle time and
        # at one that does not. PostgreSQL's own CPU (every postgres process) is recorded too:
        # on this machine it shares the two cores with the server and the load generator.
        # Then the archive on PostgreSQL again with PostgreSQL at a lower CPU weight
        # (bench/postgres_weight.sh), where this machine lets the script make a cpu cgroup: the
        # scheduler then runs it in the reactors' idle time, as on cores of its own.
        db="gamehall_bench_server_$$"
        pg_database create "$db"
        for rate in $ARCHIVE_MATCH_RATES; do
            extra_env=(DATABASE_URL="${ARCHIVE_PG_URL%/*}/$db")
            RECORD_PG_CPU=1 record "archive-matches-postgres-$rate" matches --matches "$MATCHES" --rate "$rate" --warmup 3 --duration "$MATCH_SECONDS"
            extra_env=(USE_GAME_ARCHIVAL=false)
            RECORD_PG_CPU=1 record "archive-matches-off-$rate" matches --matches "$MATCHES" --rate "$rate" --warmup 3 --duration "$MATCH_SECONDS"
            if [[ $ARCHIVE_PG_CPU_SHARES != 0 ]] && bash bench/postgres_weight.sh lower "$ARCHIVE_PG_CPU_SHARES"; then
                PG_WEIGHT_LOWERED=1
                extra_env=(DATABASE_URL="${ARCHIVE_PG_URL%/*}/$db")
                RECORD_PG_CPU=1 PG_CPU_SHARES=$ARCHIVE_PG_CPU_SHARES record "archive-matches-postgres-weighted-$rate" matches --matches "$MATCHES" --rate "$rate" --warmup 3 --duration "$MATCH_SECONDS"
                bash bench/postgres_weight.sh restore
                PG_WEIGHT_LOWERED=0
            fi
        done
        extra_env=()
        pg_database drop "$db"
        ;;
    micro)
        echo "bench: cargo bench --bench hot_paths" >&2
        rm -rf target/criterion
        cargo bench --bench hot_paths -- "${CRITERION_ARGS[@]}" >&2
        "$PYTHON" - >> "$RESULTS" <<'EOF'
import json, os, pathlib
rows = []
for est in sorted(pathlib.Path("target/criterion").glob("**/new/estimates.json")):
    bench = json.loads((est.parent / "benchmark.json").read_text())
    e = json.loads(est.read_text())
    rows.append({"id": bench["full_id"], "median_ns": e["median"]["point_estimate"],
                 "mean_ns": e["mean"]["point_estimate"], "throughput": bench.get("throughput")})
# The machine as the load generator names it (cores, /proc/cpuinfo's model name): a run of the
# micro-benchmarks alone has no load generator report to take it from.
cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
            if line.startswith("model name")), "unknown CPU")
print(json.dumps({"name": "micro", "benches": rows,
                  "machine": {"cores": len(os.sched_getaffinity(0)), "cpu": cpu}}))
EOF
        ;;
    *)
        echo "bench: unknown scenario $scenario" >&2
        exit 2
        ;;
    esac
done

"$PYTHON" "$ROOT/bench/write_doc.py" "$RESULTS" "$DOC" "${BENCH_NOTE:-}" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "${server_env[*]}"
echo "bench: wrote $DOC (raw results: $RESULTS)" >&2
