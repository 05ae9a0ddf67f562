# syntax=docker/dockerfile:1

# ---- build ------------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when Cargo.toml or Cargo.lock
# change, not on every source edit. The placeholder lib and main are thrown away afterwards.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && : > src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# The real sources. Migrations and config/default.toml are compiled into the binary.
COPY src ./src
COPY migrations ./migrations
COPY config ./config
# COPY keeps the files' original mtimes, which can be older than the placeholder build: touch
# them so cargo rebuilds the crate instead of shipping the placeholder binary.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin gamehall

# ---- run --------------------------------------------------------------------------------------
FROM debian:bookworm-slim

# libpq5 and libsqlite3-0: the archive backends; curl: the HEALTHCHECK.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libpq5 libsqlite3-0 \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 gamehall \
 && useradd --system --uid 10001 --gid gamehall --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin gamehall \
 && mkdir -p /app/data \
 && chown gamehall:gamehall /app/data

WORKDIR /app
COPY --from=builder /app/target/release/gamehall /usr/local/bin/gamehall
COPY config/ /app/config/
COPY --chmod=0755 deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh

# Production by default: start-up then refuses the development JWT secret, so JWT_SECRET must
# be set. The default archive is SQLite in /app/data (the one writable folder; mount a volume
# there to keep it); set DATABASE_URL=postgres://... for PostgreSQL.
ENV ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    GAMEHALL_CONFIG_DIR=/app/config \
    DATABASE_URL=sqlite:///app/data/gamehall.db

# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8080

# Shell form, so that ${PORT} is read when the check runs. start-period covers the migrations.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${PORT:-8080}/health/live" > /dev/null || exit 1

# Migrates, then execs `gamehall serve --no-migrate`, so the server is PID 1 and gets SIGTERM.
# Arguments given to `docker run IMAGE ...` go to `serve`.
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
