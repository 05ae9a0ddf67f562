#!/bin/sh
# Proves a backup restores: loads a dump made by deploy/backup.sh into an empty scratch
# database, checks that the archive tables are there, and prints their row counts and a
# checksum of their content. Given SOURCE_DATABASE_URL it computes the same over the source
# and fails unless they match (run it right after a backup, while nothing is being archived,
# or against a source restored to the same point).
#
#   restore-test.sh [DUMP]      DUMP defaults to the newest gamehall-*.dump in BACKUP_DIR
#
#   RESTORE_DATABASE_URL  an empty database to restore into (required; its content is replaced)
#   SOURCE_DATABASE_URL   optional: the database the dump came from, to compare with
#   BACKUP_DIR            where to look for the newest dump (default /backups)
#   GAMEHALL_BIN          optional: a gamehall binary; `gamehall migrate` must then find
#                         nothing to do on the restored database
#
# Prints one JSON line {"dump":..., "games":n, "events":m, "checksum":...}; exits 1 on a failed
# check.
set -eu

: "${RESTORE_DATABASE_URL:?RESTORE_DATABASE_URL must name an empty scratch database}"
dump=${1:-}
if [ -z "$dump" ]; then
    dump=$(ls -1t "${BACKUP_DIR:-/backups}"/gamehall-*.dump 2>/dev/null | head -n 1 || true)
    [ -n "$dump" ] || { echo "restore-test: no gamehall-*.dump in ${BACKUP_DIR:-/backups}" >&2; exit 1; }
fi
[ -r "$dump" ] || { echo "restore-test: cannot read $dump" >&2; exit 1; }

pg_restore --no-owner --no-privileges --clean --if-exists --exit-on-error \
    --dbname="$RESTORE_DATABASE_URL" "$dump"

# Row counts and an order-independent digest of every archived row: equal digests mean equal
# archives.
summary_sql="SELECT (SELECT count(*) FROM archive.completed_games)
     || ' ' || (SELECT count(*) FROM archive.game_events)
     || ' ' || md5(coalesce((SELECT string_agg(md5(g::text), '' ORDER BY g.game_id) FROM archive.completed_games g), '')
                || coalesce((SELECT string_agg(md5(e::text), '' ORDER BY e.game_id, e.seq) FROM archive.game_events e), ''))"
restored=$(psql "$RESTORE_DATABASE_URL" -X -qtAc "$summary_sql") ||
    { echo "restore-test: the restored database has no readable archive tables" >&2; exit 1; }
set -- $restored
games=$1 events=$2 checksum=$3

if [ -n "${SOURCE_DATABASE_URL:-}" ]; then
    source=$(psql "$SOURCE_DATABASE_URL" -X -qtAc "$summary_sql")
    if [ "$source" != "$restored" ]; then
        echo "restore-test: MISMATCH: source has '$source', the restore has '$restored'" >&2
        exit 1
    fi
fi

if [ -n "${GAMEHALL_BIN:-}" ]; then
    # The dump carries diesel's migration table, so the restored schema must be current.
    DATABASE_URL=$RESTORE_DATABASE_URL "$GAMEHALL_BIN" migrate >/dev/null
fi

printf '{"dump":"%s","games":%s,"events":%s,"checksum":"%s"}\n' "$dump" "$games" "$events" "$checksum"
