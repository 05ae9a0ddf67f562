#!/bin/sh
# gamehall's container entrypoint.
#
#   docker-entrypoint.sh [serve] [ARGS...]   apply pending archive migrations, retrying while the
#                                            database is still starting, then replace this shell
#                                            with `gamehall serve --no-migrate ARGS...`, so that
#                                            the server is PID 1 and receives SIGTERM itself
#   docker-entrypoint.sh serve --no-migrate [ARGS...]
#                                            the server without any migration step (when a
#                                            Job or `migrate` already ran them)
#   docker-entrypoint.sh migrate [ARGS...]   only the migrations, with the same retries (for a
#                                            Kubernetes Job or a one-off `docker compose run`)
#   docker-entrypoint.sh replay|archive|help|--help|--version ...
#                                            run that gamehall command as it is
#
# Environment, besides the server's own settings (docs/configuration.md):
#   GAMEHALL_MIGRATE_ATTEMPTS  how many times `gamehall migrate` is tried before giving up
#                              (default 30)
#   GAMEHALL_MIGRATE_DELAY     seconds between two tries (default 2)
#   GAMEHALL_BIN               the command to run instead of `gamehall`, e.g.
#                              GAMEHALL_BIN="cargo run --release --" locally; split on spaces on
#                              purpose, so it cannot name a path containing spaces
#
# Only a failure to reach the database is worth retrying: an invalid configuration (exit status
# 2) stops at once. The script's own log lines go to standard error, as JSON objects with the
# server's keys (msg, level, ts) unless LOG_FORMAT=text; they never include DATABASE_URL, which
# may hold a password.
set -eu

bin=${GAMEHALL_BIN:-gamehall}
attempts=${GAMEHALL_MIGRATE_ATTEMPTS:-30}
delay=${GAMEHALL_MIGRATE_DELAY:-2}

# log LEVEL MESSAGE [KEY NUMBER]...: LEVEL is slog's (INFO, WARN, ERRO); values are numbers.
log() {
    level=$1
    msg=$2
    shift 2
    ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    if [ "${LOG_FORMAT:-json}" = text ]; then
        line="$ts $level docker-entrypoint: $msg"
        while [ "$#" -ge 2 ]; do
            line="$line, $1: $2"
            shift 2
        done
    else
        escaped=$(printf '%s' "$msg" | sed 's/\\/\\\\/g; s/"/\\"/g')
        line="{\"msg\":\"$escaped\",\"level\":\"$level\",\"ts\":\"$ts\",\"service\":\"gamehall\",\"source\":\"docker-entrypoint\""
        while [ "$#" -ge 2 ]; do
            line="$line,\"$1\":$2"
            shift 2
        done
        line="$line}"
    fi
    printf '%s\n' "$line" >&2
}

is_count() {
    case $1 in
        '' | *[!0-9]*) return 1 ;;
        *) return 0 ;;
    esac
}

if ! is_count "$attempts" || [ "$attempts" -lt 1 ]; then
    log ERRO "GAMEHALL_MIGRATE_ATTEMPTS must be a whole number, at least 1"
    exit 2
fi
if ! is_count "$delay"; then
    log ERRO "GAMEHALL_MIGRATE_DELAY must be a whole number of seconds"
    exit 2
fi

# Until the server replaces this shell, this shell is PID 1 in a container, and PID 1 ignores
# SIGTERM unless it handles it: without this trap `docker stop` during the retries would wait
# for the whole grace period and then kill.
sleeper=
stop() {
    if [ -n "$sleeper" ]; then
        kill "$sleeper" 2>/dev/null || true
    fi
    log WARN "stopped by a signal before the server started"
    exit 143
}
trap stop TERM INT

# migrate [ARGS...]: `gamehall migrate`, tried up to $attempts times.
migrate() {
    started=$(date +%s)
    attempt=1
    while :; do
        log INFO "applying archive migrations" attempt "$attempt" attempts "$attempts"
        status=0
        # shellcheck disable=SC2086 # $bin is split on purpose (see GAMEHALL_BIN above).
        $bin migrate "$@" || status=$?
        if [ "$status" -eq 0 ]; then
            log INFO "archive migrations are up to date" attempt "$attempt"
            return 0
        fi
        if [ "$status" -eq 2 ]; then
            log ERRO "gamehall migrate refused the configuration (its error is just above); not retrying" exit_code 2
            exit 2
        fi
        if [ "$attempt" -ge "$attempts" ]; then
            log ERRO "giving up: gamehall migrate failed $attempt times in $(($(date +%s) - started))s; check that the database in DATABASE_URL is running and reachable and that its credentials are right (gamehall's own error is just above)" attempts "$attempt" exit_code "$status"
            exit "$status"
        fi
        log WARN "gamehall migrate failed, the database may still be starting; retrying in ${delay}s" attempt "$attempt" attempts "$attempts" exit_code "$status"
        # In the background, so that the trap above runs at once on SIGTERM.
        sleep "$delay" &
        sleeper=$!
        wait "$sleeper" || true
        sleeper=
        attempt=$((attempt + 1))
    done
}

case ${1:-} in
    serve)
        shift
        ;;
    migrate)
        shift
        migrate "$@"
        exit 0
        ;;
    replay | archive | help | --help | -h | --version | -V)
        trap - TERM INT
        # shellcheck disable=SC2086
        exec $bin "$@"
        ;;
esac

# `serve --no-migrate` asks for no migration step at all; gamehall takes the flag once.
for arg in "$@"; do
    if [ "$arg" = --no-migrate ]; then
        log INFO "starting gamehall serve without migrating (--no-migrate)"
        trap - TERM INT
        # shellcheck disable=SC2086
        exec $bin serve "$@"
    fi
done
migrate
log INFO "starting gamehall serve"
trap - TERM INT
# shellcheck disable=SC2086
exec $bin serve --no-migrate "$@"
