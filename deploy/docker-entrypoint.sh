#!/bin/sh
# Container entrypoint: apply pending archive migrations, then replace this shell with the
# server (so that it is PID 1 and receives SIGTERM directly). Arguments are passed to `serve`.
#
# GAMEHALL_BIN overrides the command, e.g. GAMEHALL_BIN="cargo run --release --" locally; it is
# split on spaces on purpose, so it cannot name a path containing spaces.
set -eu

# shellcheck disable=SC2086
${GAMEHALL_BIN:-gamehall} migrate
# shellcheck disable=SC2086
exec ${GAMEHALL_BIN:-gamehall} serve --no-migrate "$@"
