# syntax=docker/dockerfile:1
#
# gamehall's container image: `docker build -t gamehall .`, or `docker compose up --build`.
# The runtime image holds the binary, its C libraries and the entrypoint; it runs as a numeric
# non-root user and writes only under /app/data (mount a volume there).

# The builder and the runtime image must be the same Debian release: the binary links against
# its libpq and libsqlite3.
ARG RUST_VERSION=1
ARG DEBIAN_RELEASE=bookworm

# ---- build ------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /app

# Headers and pkg-config for diesel's PostgreSQL and SQLite backends (the rust image has most of
# them already; naming them keeps the build working if it stops doing so). Packages are not
# pinned, here or below: the release's security updates must not break the build.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev libsqlite3-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*

# Dependencies first, in their own layer: it is rebuilt only when Cargo.toml or Cargo.lock
# change, not on every source edit. Cargo refuses a manifest whose declared targets have no
# file, so every [[bench]], [[test]] and [[example]] it names (and every explicit `path`) gets
# a placeholder; the placeholder lib and main are thrown away afterwards, the others stay (they
# are never built, only looked for). The registry cache mount only saves downloads between
# builds; nothing in it reaches the image.
COPY Cargo.toml Cargo.lock ./
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && : > src/lib.rs \
 && awk 'BEGIN { dir["bench"] = "benches"; dir["test"] = "tests"; dir["example"] = "examples" } \
         /^\[\[[a-z]+\]\]/ { kind = $0; gsub(/[][ ]/, "", kind); next } \
         /^\[/ { kind = ""; next } \
         (kind in dir) && /^name *=/ { split($0, q, "\""); print dir[kind] "/" q[2] ".rs" } \
         kind != "" && /^path *=/ { split($0, q, "\""); print q[2] }' Cargo.toml \
    | while read -r target; do \
        [ -e "$target" ] || { mkdir -p "$(dirname "$target")" && echo 'fn main() {}' > "$target"; }; \
      done \
 && cargo build --release --locked \
 && rm -rf src

# The real sources. Migrations, config/*.toml and the web client (web/) are compiled into the
# binary.
COPY src ./src
COPY migrations ./migrations
COPY config ./config
COPY web ./web
# COPY keeps the files' original mtimes, which can be older than the placeholder build: touch
# them so cargo rebuilds the crate instead of shipping the placeholder binary.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin gamehall \
 && ./target/release/gamehall --version

# ---- run --------------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

# libpq5 and libsqlite3-0: the archive backends; ca-certificates: PostgreSQL over TLS
# (sslmode=verify-full); curl: the HEALTHCHECK.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libpq5 libsqlite3-0 \
 && rm -rf /var/lib/apt/lists/*

# A fixed numeric uid/gid, so that Kubernetes' runAsNonRoot can verify it and volume
# permissions (fsGroup) can be set to match.
RUN groupadd --system --gid 10001 gamehall \
 && useradd --system --uid 10001 --gid gamehall --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin gamehall \
 && mkdir -p /app/data/spool \
 && chown -R gamehall:gamehall /app/data

WORKDIR /app
COPY --from=builder /app/target/release/gamehall /usr/local/bin/gamehall
# Read-only overrides folder ({ENV}.toml); the shipped files are compiled in as well.
COPY config/ /app/config/
COPY --chmod=0755 deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh

# Production by default: start-up then refuses the development secrets, so JWT_SECRET and
# ADMIN_TOKEN must be set. /app/data is the one writable folder: the archive spool lives there
# (games finished while the database is down wait in it, so keep it on a volume), and so does
# the default SQLite archive; set DATABASE_URL=postgres://... for PostgreSQL.
ENV ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    GAMEHALL_CONFIG_DIR=/app/config \
    DATABASE_URL=sqlite:///app/data/gamehall.db \
    ARCHIVE_SPOOL_DIR=/app/data/spool

VOLUME ["/app/data"]
USER 10001:10001
EXPOSE 8080

# Through sh, so that ${PORT} is read when the check runs. start-period covers the migrations,
# including the entrypoint's retries while the database is still starting.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["sh", "-c", "curl -fsS -o /dev/null \"http://127.0.0.1:${PORT:-8080}/health/live\" || exit 1"]

# The server drains its games on SIGTERM (SHUTDOWN_DRAIN_TIME, 20 s by default): give
# `docker stop` a longer timeout than that (`--time 30`; compose.yaml sets stop_grace_period).
STOPSIGNAL SIGTERM

# Migrates (retrying while the database starts), then execs `gamehall serve --no-migrate`, so
# the server is PID 1 and gets SIGTERM itself. `docker run IMAGE ARGS...` passes ARGS to serve;
# `docker run IMAGE migrate|replay|archive ...` runs that command instead.
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]

LABEL org.opencontainers.image.title="gamehall" \
      org.opencontainers.image.description="A multiplayer game server on the actor model: rooms, games, spectators, archive." \
      org.opencontainers.image.licenses="MIT"
