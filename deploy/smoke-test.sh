#!/bin/sh
# Smoke checks against a running gamehall: health, metrics, a guest token, a room, the admin
# flush. Needs only sh and curl, so it runs in the gamehall image itself (compose's `test`
# profile: `docker compose --profile test run --rm smoke`), after a deployment, or here.
#
#   GAMEHALL_URL        the server (default http://127.0.0.1:8080)
#   ADMIN_TOKEN         the server's admin token, for POST /admin/archive/flush
#   METRICS_ENABLED     false when the server serves no /metrics (default true)
#   METRICS_URL         where /metrics is served: the server's METRICS_PORT when it has one
#                       (default GAMEHALL_URL)
#   SMOKE_WAIT_SECONDS  how long to wait for /health/live to answer first (default 60)
#
# Prints one line per check and exits 0 when every check passed, 1 at the first that did not.
set -eu

url=${GAMEHALL_URL:-http://127.0.0.1:8080}
url=${url%/}
metrics_url=${METRICS_URL:-$url}
metrics_url=${metrics_url%/}
wait_seconds=${SMOKE_WAIT_SECONDS:-60}
body_file=$(mktemp)
trap 'rm -f "$body_file"' EXIT

fail() {
    echo "smoke: FAIL: $*" >&2
    if [ -s "$body_file" ]; then
        echo "smoke: the response was: $(head -c 500 "$body_file")" >&2
    fi
    exit 1
}

# request EXPECTED_STATUS METHOD PATH [CURL_ARGS...]: the body lands in $body_file.
request() {
    request_at "$url" "$@"
}

# request_at BASE_URL EXPECTED_STATUS METHOD PATH [CURL_ARGS...]
request_at() {
    base=$1
    expected=$2
    method=$3
    path=$4
    shift 4
    status=$(curl -sS -o "$body_file" -w '%{http_code}' --max-time 15 -X "$method" "$@" \
        "$base$path") || fail "$method $path: no answer from $base"
    [ "$status" = "$expected" ] || fail "$method $base$path answered $status, expected $expected"
    echo "smoke: ok: $method $base$path -> $status"
}

body_has() {
    grep -q -- "$1" "$body_file" || fail "the response lacks $1"
}

elapsed=0
until curl -fsS -o /dev/null --max-time 2 "$url/health/live" 2>/dev/null; do
    [ "$elapsed" -lt "$wait_seconds" ] || fail "$url/health/live did not answer within ${wait_seconds}s"
    sleep 1
    elapsed=$((elapsed + 1))
done

request 200 GET /health/live
body_has '"status"'
request 200 GET /health/ready
request 200 GET /ready
request 200 GET /health
body_has '"checks"'

if [ "${METRICS_ENABLED:-true}" != false ]; then
    request_at "$metrics_url" 200 GET /metrics
    body_has '^gamehall_'
fi

request 200 POST /v1/auth/guest -H 'content-type: application/json' -d '{"name":"smoke"}'
token=$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' "$body_file")
[ -n "$token" ] || fail "POST /v1/auth/guest returned no token"

request 201 POST /v1/rooms -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{"game":"tictactoe"}'
room=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' "$body_file")
[ -n "$room" ] || fail "POST /v1/rooms returned no room id"
request 200 GET "/v1/rooms/$room"
request 200 GET /v1/rooms
body_has "$room"

# A WebSocket upgrade with a bad token is refused before the upgrade.
request 401 GET "/v1/ws?token=not-a-token" -H 'connection: upgrade' -H 'upgrade: websocket' \
    -H 'sec-websocket-version: 13' -H 'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ=='

request 401 POST /admin/archive/flush
if [ -n "${ADMIN_TOKEN:-}" ]; then
    request 200 POST /admin/archive/flush -H "authorization: Bearer $ADMIN_TOKEN"
    body_has '"flushed"'
else
    echo "smoke: skipped: POST /admin/archive/flush with a token (ADMIN_TOKEN is not set)"
fi

echo "smoke: every check passed against $url"
