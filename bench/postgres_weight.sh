#!/usr/bin/env bash
# Gives every running postgres process a lower CPU weight than the server and the load
# generator, then back. On this two-core machine PostgreSQL shares the cores with both, and at
# the same weight its bursts of batch writes take a core from the reactors just when they have
# moves to broadcast; with a lower weight the scheduler runs the reactors first and PostgreSQL
# in the idle time, as it would run on cores of its own (docs/benchmarks.md, "Move latency
# while batches are written"). Needs root and a writable cpu cgroup (cgroup v1's `cpu`
# controller, or v2 with `cpu` enabled at the root); says so and fails where there is none.
#
#   bash bench/postgres_weight.sh lower [SHARES]   # SHARES of 1024 (the default weight); default 64
#   bash bench/postgres_weight.sh restore          # every process back where `lower` found it
#
# New backends are forked by the postmaster, so they land in the group too. `lower` writes down
# the postmaster's group (in STATE) so that `restore` puts every process back there.
set -euo pipefail
GROUP_NAME=gamehall-bench-postgres
STATE=${TMPDIR:-/tmp}/gamehall-bench-postgres.origin

# Prints the cgroup directory to use and its version (v1 or v2), or fails.
cpu_cgroup_root() {
    if [[ -w /sys/fs/cgroup/cpu/cgroup.procs && -e /sys/fs/cgroup/cpu/cpu.shares ]]; then
        echo "/sys/fs/cgroup/cpu v1"
    elif [[ -w /sys/fs/cgroup/cgroup.procs ]] && grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
        echo "/sys/fs/cgroup v2"
    else
        echo "postgres_weight: no writable cpu cgroup here (needs root and the cpu controller)" >&2
        return 1
    fi
}

# The process's group in the cpu hierarchy: v1's "N:cpu:/path" line, or v2's "0::/path".
current_group() {
    local pid=$1 version=$2
    if [[ $version == v1 ]]; then
        sed -n 's/^[0-9]*:\([^:]*,\)\{0,1\}cpu\(,[^:]*\)\{0,1\}:\(.*\)$/\3/p' "/proc/$pid/cgroup"
    else
        sed -n 's/^0::\(.*\)$/\1/p' "/proc/$pid/cgroup"
    fi
}

lower() {
    local shares=${1:-64} root version group pid postmaster
    read -r root version <<< "$(cpu_cgroup_root)"
    postmaster=$(pgrep -o -x postgres) || { echo "postgres_weight: no postgres process" >&2; return 1; }
    group=$root/$GROUP_NAME
    # Lowered twice, the first origin is the one to go back to.
    [[ -s $STATE ]] || current_group "$postmaster" "$version" > "$STATE"
    mkdir -p "$group"
    if [[ $version == v1 ]]; then
        echo "$shares" > "$group/cpu.shares"
    else
        # v2's weight runs 1–10000 with 100 as the default, where v1's shares have 1024.
        echo $(( shares * 100 / 1024 > 0 ? shares * 100 / 1024 : 1 )) > "$group/cpu.weight"
    fi
    for pid in $(pgrep -x postgres); do
        # A backend may exit between the listing and the move.
        echo "$pid" > "$group/cgroup.procs" 2>/dev/null || true
    done
    echo "postgres_weight: $(wc -l < "$group/cgroup.procs") postgres processes at $shares shares of 1024 ($group)" >&2
}

restore() {
    local root version group origin pid
    read -r root version <<< "$(cpu_cgroup_root)"
    group=$root/$GROUP_NAME
    [[ -d $group ]] || return 0
    origin=$(cat "$STATE" 2>/dev/null || echo /)
    for pid in $(cat "$group/cgroup.procs"); do
        echo "$pid" > "$root${origin%/}/cgroup.procs" 2>/dev/null || true
    done
    rmdir "$group"
    rm -f "$STATE"
    echo "postgres_weight: postgres processes back in ${origin}" >&2
}

case ${1:-} in
lower) lower "${2:-64}" ;;
restore) restore ;;
*)
    echo "usage: bash bench/postgres_weight.sh lower [SHARES] | restore" >&2
    exit 2
    ;;
esac
