#!/usr/bin/env bash
# Confines every running postgres process to a list of CPUs, then back: the benchmark's way of
# giving PostgreSQL the cores reserved for the archive writers (ARCHIVE_WRITER_CPUS), as an
# operator would with the service's CPUAffinity=. New backends are forked by the postmaster
# and inherit its CPUs. Needs permission to set another user's processes' affinity (root).
#
#   bash bench/postgres_cpus.sh pin CPUS   # e.g. 1
#   bash bench/postgres_cpus.sh restore    # every process back to the CPUs `pin` found
set -euo pipefail
STATE=${TMPDIR:-/tmp}/gamehall-bench-postgres.cpus

case ${1:-} in
pin)
    cpus=${2:?usage: bench/postgres_cpus.sh pin CPUS}
    postmaster=$(pgrep -o -x postgres) || { echo "postgres_cpus: no postgres process" >&2; exit 1; }
    # Pinned twice, the first CPUs are the ones to go back to.
    [[ -s $STATE ]] || taskset -c -p "$postmaster" | sed 's/.*: //' > "$STATE"
    for pid in $(pgrep -x postgres); do
        # A backend may exit between the listing and the move.
        taskset -c -p "$cpus" "$pid" > /dev/null 2>&1 || true
    done
    echo "postgres_cpus: $(pgrep -x postgres | wc -l) postgres processes on CPUs $cpus" >&2
    ;;
restore)
    [[ -s $STATE ]] || { echo "postgres_cpus: nothing to restore" >&2; exit 0; }
    for pid in $(pgrep -x postgres); do
        taskset -c -p "$(cat "$STATE")" "$pid" > /dev/null 2>&1 || true
    done
    echo "postgres_cpus: postgres processes back on CPUs $(cat "$STATE")" >&2
    rm -f "$STATE"
    ;;
*)
    echo "usage: bench/postgres_cpus.sh pin CPUS | restore" >&2
    exit 2
    ;;
esac
