#!/usr/bin/env bash
# Runs gamehall's whole test suite. On a fresh Debian machine with Rust it installs what is
# missing (C libraries, PostgreSQL, Redis, Chromium, Node.js and the browser tests' npm
# packages), starts PostgreSQL and Redis when they are not running, and fails — never skips —
# when any of them cannot be found or reached.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
# prometheus ships /usr/bin/promtool, which tests/deploy.rs runs on deploy/prometheus.
for pkg in pkg-config libpq-dev libsqlite3-dev postgresql redis-server prometheus; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
# The browser tests (tests/api/e2e.rs) drive Debian's Chromium with playwright-core from npm.
[ -x "${E2E_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "tests/run.sh: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

[ -x "${E2E_CHROMIUM:-/usr/bin/chromium}" ] || { echo "tests/run.sh: no Chromium at ${E2E_CHROMIUM:-/usr/bin/chromium}" >&2; exit 1; }

# playwright-core, exactly as tests/e2e/package-lock.json pins it. It never downloads a
# browser: the tests point it at Debian's Chromium.
pinned() { node -p "require('./tests/e2e/package-lock.json').packages['node_modules/playwright-core'].version"; }
installed() { node -p "require('./tests/e2e/node_modules/playwright-core/package.json').version" 2>/dev/null || true; }
if [ "$(pinned)" != "$(installed)" ]; then
  echo "tests/run.sh: installing the browser tests' npm packages"
  (cd tests/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
[ "$(pinned)" = "$(installed)" ] || { echo "tests/run.sh: playwright-core $(pinned) is not installed in tests/e2e" >&2; exit 1; }

# PostgreSQL at 127.0.0.1:5432.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "tests/run.sh: starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -q -h 127.0.0.1 -p 5432 || { echo "tests/run.sh: PostgreSQL is not reachable at 127.0.0.1:5432" >&2; exit 1; }

# The tests connect as postgres to database `test`. A stock Debian cluster asks for a password
# over TCP, so give postgres one and use it when trust authentication is not configured.
export GAMEHALL_TEST_PG_URL="${GAMEHALL_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
if ! psql "$GAMEHALL_TEST_PG_URL" -qtAc 'select 1' >/dev/null 2>&1; then
  as_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
  as_root su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname = 'test'\" | grep -q 1 || createdb test"
  export GAMEHALL_TEST_PG_URL="postgres://postgres:postgres@127.0.0.1:5432/test"
fi
psql "$GAMEHALL_TEST_PG_URL" -qtAc 'select 1' >/dev/null || { echo "tests/run.sh: cannot log in to $GAMEHALL_TEST_PG_URL" >&2; exit 1; }

# Redis at 127.0.0.1:6379 (nothing kept on disk).
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "tests/run.sh: starting Redis"
  mkdir -p /tmp/gamehall-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/gamehall-redis --logfile /tmp/gamehall-redis/redis.log
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.2; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { echo "tests/run.sh: Redis is not reachable at 127.0.0.1:6379" >&2; exit 1; }

# The capacity test opens a thousand WebSockets (two file descriptors each in one process).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 8192 2>/dev/null || true

# tests/api/bot.rs runs examples/bot as a program; `--all-targets` builds examples only as
# test harnesses, so build the program itself first.
cargo build --examples
cargo test --all-targets "$@"
