#!/bin/sh
# Backs up gamehall's PostgreSQL archive: one `pg_dump --format=custom` file per run, written
# under a temporary name and renamed only once pg_restore can read it back, then dumps older
# than the retention are deleted. Run it daily (cron, compose's `backup` profile, or the
# Kubernetes CronJob in deploy/k8s/backup-cronjob.yaml); check the dumps with
# deploy/restore-test.sh. Redis is never backed up: it holds only rate-limit counters.
#
#   DATABASE_URL           the archive database (postgres://...; required)
#   BACKUP_DIR             where dumps go (default /backups)
#   BACKUP_RETENTION_DAYS  dumps older than this many days are deleted (default 7; 0 keeps all)
#
# Prints the dump's path on success; exits non-zero, leaving no partial file, on any failure.
set -eu

: "${DATABASE_URL:?DATABASE_URL must name the PostgreSQL archive database}"
case "$DATABASE_URL" in
    postgres://* | postgresql://*) ;;
    *) echo "backup: DATABASE_URL is not a PostgreSQL URL (SQLite archives are backed up by copying the file with sqlite3 .backup)" >&2; exit 2 ;;
esac
dir=${BACKUP_DIR:-/backups}
retention=${BACKUP_RETENTION_DAYS:-7}
case "$retention" in
    '' | *[!0-9]*) echo "backup: BACKUP_RETENTION_DAYS must be a whole number of days, not '$retention'" >&2; exit 2 ;;
esac

mkdir -p "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
final="$dir/gamehall-$stamp.dump"
partial="$final.partial"
trap 'rm -f "$partial"' EXIT

# The whole database: the archive schema and diesel's migration table, so that a restored
# database is already migrated.
pg_dump --format=custom --no-owner --no-privileges --file="$partial" "$DATABASE_URL"
# A dump that pg_restore cannot list is no backup.
pg_restore --list "$partial" >/dev/null
mv "$partial" "$final"

if [ "$retention" -gt 0 ]; then
    find "$dir" -maxdepth 1 -name 'gamehall-*.dump' -type f -mtime +"$retention" -print -delete |
        sed 's/^/backup: deleted old dump /' >&2
fi
echo "$final"
