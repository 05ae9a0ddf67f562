//! Building and running the server: actors first, then the HTTP listener. The listener binds
//! before `build` returns, so `port()` is the real port even when asked for port 0 (tests).

use std::io;
use std::net::TcpListener;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::available_parallelism;
use std::time::{Duration, Instant};

use actix::{Actor, Addr, Arbiter};
use actix_cors::Cors;
use std::rc::Rc;

use actix_http::HttpService;
use actix_service::{fn_factory, fn_service, map_config, IntoServiceFactory, ServiceFactory};
use actix_web::dev::{AppConfig, Server, ServerHandle};
use actix_web::http::header;
use actix_web::middleware::{from_fn, Condition};
use actix_web::{web, App, HttpResponse, HttpServer};
use actix_web_prom::PrometheusMetricsBuilder;
use slog::{info, o, Logger};
use tokio::sync::watch;

use crate::allocator::{allocator_bytes, release_thread_cache_periodically, AllocatorBytes};
use crate::archive::archiver::ArchiveStats;
use crate::archive::archiver::{
    ArchiveHandle, Archiver, ArchiverError, ArchiverSettings, Drain, DrainReport,
};
use crate::archive::retention::{spawn_periodic_prune, PruneSchedule};
use crate::archive::{ArchiveError, ArchiveStore, DatabaseUrl, StoreError};
use crate::auth::TokenKeys;
use crate::config::Settings;
use crate::game::GameCatalog;
use crate::http::request_id;
use crate::http::{self, AppState};
use crate::limits::{LimitsError, PlayerLimiter};
use crate::metrics::{resident_memory_bytes, Metrics, ReadAtScrape};
use crate::monitor::MemoryGuard;
use crate::registry::{BeginShutdown, EndUnfinishedGames, GetStats, Registry, RegistryConfig};
use crate::room::RoomConfig;
use crate::session::{SessionShared, ShutdownPhase};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: io::Error },
    #[error("cannot open the archive: {0}")]
    ArchiveUrl(#[from] ArchiveError),
    #[error("cannot open the archive: {0}")]
    ArchiveStore(#[from] StoreError),
    #[error("cannot start the archiver: {0}")]
    Archiver(#[from] ArchiverError),
    #[error("cannot set up metrics: {0}")]
    Metrics(String),
    #[error("cannot set up rate limits: {0}")]
    Limits(#[from] LimitsError),
}

/// CORS for the browser origins in `CORS_ORIGINS`: any (`None`), a list, or none (an empty list:
/// then no CORS headers at all, and browsers keep to same-origin requests).
fn cors(origins: Option<&[String]>) -> Condition<Cors> {
    let permissive = || {
        Cors::default()
            .allowed_methods(["GET", "POST"])
            .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .allowed_header(request_id::HEADER)
            .expose_headers([request_id::HEADER])
            .max_age(3600)
    };
    match origins {
        None => Condition::new(true, permissive().allow_any_origin()),
        Some([]) => Condition::new(false, Cors::default()),
        Some(list) => Condition::new(
            true,
            list.iter()
                .fold(permissive(), |cors, origin| cors.allowed_origin(origin)),
        ),
    }
}

/// `/metrics` alone on `METRICS_PORT`, for scrapers kept off the public port.
fn metrics_only_server(
    listener: TcpListener,
    metrics: Arc<Metrics>,
) -> Result<Server, StartupError> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let server = HttpServer::new(move || {
        release_thread_cache_periodically();
        let metrics = Arc::clone(&metrics);
        App::new().route(
            "/metrics",
            web::get().to(move || {
                let text = metrics.render();
                async move {
                    HttpResponse::Ok()
                        .content_type("text/plain; version=0.0.4; charset=utf-8")
                        .body(text)
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)
    .map_err(|source| StartupError::Bind { addr, source })?
    .run();
    Ok(server)
}

/// One allocator gauge: its name, its help, and which counter it reads.
type AllocatorGauge = (&'static str, &'static str, fn(AllocatorBytes) -> u64);

/// Values read when Prometheus scrapes: the archive's counters and the process's memory.
fn scraped_values(archive: Option<&RunningArchive>, memory: &Arc<MemoryGuard>) -> ReadAtScrape {
    let memory = Arc::clone(memory);
    let mut values = ReadAtScrape::new().gauge(
        "gamehall_process_resident_memory_bytes",
        "Resident memory of the gamehall process (VmRSS).",
        move || resident_memory_bytes().unwrap_or_else(|| memory.rss_bytes()) as f64,
    );
    if allocator_bytes().is_some() {
        let gauges: [AllocatorGauge; 5] = [
            (
                "gamehall_allocator_allocated_bytes",
                "Bytes in live allocations (jemalloc): what the server's data takes.",
                |a| a.allocated,
            ),
            (
                "gamehall_allocator_active_bytes",
                "Bytes in the allocator's pages that hold live allocations.",
                |a| a.active,
            ),
            (
                "gamehall_allocator_resident_bytes",
                "Resident bytes the allocator maps: active pages, metadata, freed pages kept.",
                |a| a.resident,
            ),
            (
                "gamehall_allocator_metadata_bytes",
                "Bytes of the allocator's own bookkeeping, part of its resident bytes.",
                |a| a.metadata,
            ),
            (
                "gamehall_allocator_dirty_bytes",
                "Bytes of freed pages the allocator has not yet returned to the system.",
                |a| a.dirty,
            ),
        ];
        for (name, help, field) in gauges {
            values = values.gauge(name, help, move || {
                allocator_bytes().map_or(0, field) as f64
            });
        }
    }
    if let Some(archive) = archive {
        let stats = &archive.handle.stats;
        let read = |f: fn(&ArchiveStats) -> f64| {
            let stats = Arc::clone(stats);
            move || f(&stats)
        };
        values = values
            .gauge(
                "gamehall_archive_pending",
                "Finished games waiting to be written (in memory or in a batch being written).",
                read(|s| s.pending() as f64),
            )
            .gauge(
                "gamehall_archive_spooled",
                "Finished games in the local spool, waiting for the database.",
                read(|s| s.spooled() as f64),
            )
            .counter(
                "gamehall_archive_written_total",
                "Finished games stored in the database (duplicates not counted).",
                read(|s| s.written() as f64),
            )
            .counter(
                "gamehall_archive_failed_total",
                "Finished games whose batch failed and went to the spool.",
                read(|s| s.failed() as f64),
            )
            .counter(
                "gamehall_archive_rejected_total",
                "Finished games the database refused for their content, set aside.",
                read(|s| s.rejected() as f64),
            )
            .counter(
                "gamehall_archive_batches_total",
                "Batches the archive writer handled (spool replays included).",
                read(|s| s.batches() as f64),
            )
            .counter(
                "gamehall_archive_catch_up_batches_total",
                "Batches handed to the catch-up writer because the yielding writers fell behind.",
                read(|s| s.catch_up_batches() as f64),
            )
            .gauge(
                "gamehall_archive_flush_duration_seconds",
                "How long the most recent archive batch took to write.",
                read(|s| s.last_batch_duration().as_secs_f64()),
            );
    }
    values
}

/// The archive as the server runs it: the store (for reads and health) and the archiver.
struct RunningArchive {
    store: ArchiveStore,
    handle: ArchiveHandle,
}

/// Opens the store and starts the archiver, unless `USE_GAME_ARCHIVAL=false`. The database
/// may be down: games then wait in the spool.
fn start_archive(
    settings: &Settings,
    log: &Logger,
) -> Result<Option<RunningArchive>, StartupError> {
    if !settings.use_game_archival {
        info!(log, "game archival is off (USE_GAME_ARCHIVAL=false)");
        return Ok(None);
    }
    let url = DatabaseUrl::parse(&settings.database_url)?;
    let store = ArchiveStore::connect(
        &url,
        settings.database_pool_max,
        settings.health_check_timeout(),
    )?;
    // An in-memory SQLite database exists only inside the store's one connection, so no
    // earlier `migrate` step could have prepared it.
    if matches!(&url, DatabaseUrl::Sqlite(path) if path == ":memory:") {
        store.migrate()?;
    }
    let handle = Archiver::start(
        store.clone(),
        ArchiverSettings {
            batch_size: settings.archive_batch_size,
            flush_interval: settings.archive_flush_interval(),
            spool_dir: PathBuf::from(&settings.archive_spool_dir),
            writers: settings.archive_writers,
            cpus: settings.archive_writer_cpus.clone(),
        },
        log.new(o!("actor" => "archiver")),
    )?;
    if let Some(retention) = settings.archive_retention() {
        spawn_periodic_prune(
            store.clone(),
            retention,
            PruneSchedule::daily(),
            log.clone(),
        );
    }
    Ok(Some(RunningArchive { store, handle }))
}

pub struct Application {
    port: u16,
    server: Server,
    registry: Addr<Registry>,
    room_arbiters: Vec<Arbiter>,
    shutdown: Shutdown,
}

/// Stops the server gracefully; cheap to clone (the signal handler holds one).
#[derive(Clone)]
pub struct Shutdown {
    metrics_server: Option<ServerHandle>,
    archiver: Option<Addr<Archiver>>,
    server: ServerHandle,
    registry: Addr<Registry>,
    phase: Arc<watch::Sender<ShutdownPhase>>,
    sessions: Arc<SessionShared>,
    drain: Duration,
    log: Logger,
}

/// How long a shutdown waits for closing connections to write their last frames.
const CLOSE_FLUSH_LIMIT: Duration = Duration::from_secs(2);

/// What a graceful shutdown did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Games that finished on their own during the drain time.
    pub drained_in_time: bool,
    /// Games still running at the end of the drain time, ended as abandoned.
    pub abandoned: usize,
    /// What the archive did with the games it held; `None` when archiving is off.
    pub archive: Option<DrainReport>,
}

impl Shutdown {
    /// Stop accepting connections, tell every client, give running games the drain time, end
    /// the rest as abandoned, close every connection, then stop the HTTP server.
    pub async fn run(&self) -> ShutdownReport {
        let started = Instant::now();
        info!(self.log, "shutdown started"; "drain_s" => self.drain.as_secs());
        self.server.pause().await;
        let _ = self.registry.send(BeginShutdown).await;
        self.phase
            .send_replace(ShutdownPhase::Draining { drain: self.drain });

        let deadline = tokio::time::Instant::now() + self.drain;
        let mut drained_in_time = false;
        while tokio::time::Instant::now() < deadline {
            match self.registry.send(GetStats).await {
                Ok(stats) if stats.playing_games > 0 => {}
                _ => {
                    drained_in_time = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let abandoned = self.registry.send(EndUnfinishedGames).await.unwrap_or(0);
        self.phase.send_replace(ShutdownPhase::Closing);
        // Every room has handed its finished game to the archiver by now (rooms send it before
        // answering `EndForShutdown`), so the drain sees them all.
        let archive = match &self.archiver {
            Some(archiver) => archiver.send(Drain).await.ok(),
            None => None,
        };
        // Sessions close their sockets on `Closing`. An upgraded socket is no longer the HTTP
        // server's to wait for, so wait here until every one has written its close frame.
        let flush_deadline = tokio::time::Instant::now() + CLOSE_FLUSH_LIMIT;
        while self.sessions.writers_running() > 0 && tokio::time::Instant::now() < flush_deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.server.stop(true).await;
        if let Some(metrics_server) = &self.metrics_server {
            metrics_server.stop(true).await;
        }
        info!(self.log, "shutdown complete"; "abandoned_games" => abandoned,
            "archive" => ?archive, "took_ms" => started.elapsed().as_millis() as u64);
        ShutdownReport {
            drained_in_time,
            abandoned,
            archive,
        }
    }
}

fn threads(configured: usize) -> usize {
    match configured {
        0 => available_parallelism().map(usize::from).unwrap_or(1),
        n => n,
    }
}

impl Application {
    /// Starts the registry, the room workers and the HTTP server. Must run inside an actix
    /// `System` (`actix_rt::System`, `#[actix_web::main]` or `#[actix_rt::test]`).
    pub fn build(
        settings: Settings,
        catalog: GameCatalog,
        log: Logger,
    ) -> Result<Application, StartupError> {
        let started_at = Instant::now();
        // Bind first: if the port is taken, nothing has been started that would need stopping.
        let addr = format!("{}:{}", settings.host, settings.port);
        let bind_error = |source| StartupError::Bind {
            addr: addr.clone(),
            source,
        };
        let listener = TcpListener::bind(&addr).map_err(bind_error)?;
        let port = listener.local_addr().map_err(bind_error)?.port();
        let metrics_listener = match settings.metrics_port {
            0 => None,
            metrics_port => {
                let addr = format!("{}:{}", settings.host, metrics_port);
                Some(
                    TcpListener::bind(&addr).map_err(|source| StartupError::Bind {
                        addr: addr.clone(),
                        source,
                    })?,
                )
            }
        };
        let metrics = Metrics::new();
        metrics
            .memory_limit_bytes
            .set((settings.max_memory_mb * 1024 * 1024) as f64);
        let memory = MemoryGuard::new(
            settings.use_memory_monitoring,
            settings.max_memory_mb * 1024 * 1024,
            settings.memory_alert_bytes(),
        );
        memory.spawn(settings.memory_check_interval(), log.clone());
        let players = match (
            settings.use_rate_limiting,
            NonZeroU32::new(settings.rate_limit_per_player_per_minute),
        ) {
            (true, Some(per_minute)) => {
                let limiter = Arc::new(PlayerLimiter::new(
                    per_minute,
                    &settings.redis_url,
                    settings.redis_pool_max,
                )?);
                limiter.spawn_upkeep(Arc::clone(&metrics), log.clone());
                Some(limiter)
            }
            _ => None,
        };
        if !players.as_ref().is_some_and(|p| p.redis_configured()) {
            metrics.without_redis();
        }
        let archive = start_archive(&settings, &log)?;
        match &archive {
            Some(archive) => http::health::spawn_database_probe(
                archive.store.clone(),
                Arc::clone(&metrics),
                settings.health_check_timeout(),
            ),
            None => metrics.without_database(),
        }
        metrics.read_at_scrape(scraped_values(archive.as_ref(), &memory));
        let room_arbiters: Vec<Arbiter> = (0..threads(settings.room_workers))
            .map(|_| {
                let arbiter = Arbiter::new();
                arbiter.spawn_fn(release_thread_cache_periodically);
                arbiter
            })
            .collect();
        // The system arbiter: the registry, the archiver, the timers.
        release_thread_cache_periodically();
        let registry = Registry::new(
            catalog,
            RegistryConfig {
                max_active_games: settings.max_active_games,
                colocate_turn_based: settings.colocate_turn_based_rooms,
                gc_completed_after: settings.gc_completed_games_after(),
                room: RoomConfig {
                    reconnect_grace: settings.reconnect_grace(),
                    max_events: settings.max_events_per_game,
                    archive: archive.as_ref().map(|a| a.handle.clone()),
                    actions_per_second: settings
                        .use_rate_limiting
                        .then(|| NonZeroU32::new(settings.rate_limit_per_room_per_second))
                        .flatten(),
                    metrics: Arc::clone(&metrics),
                },
                memory: Arc::clone(&memory),
                metrics: Arc::clone(&metrics),
            },
            room_arbiters.iter().map(Arbiter::handle).collect(),
            log.clone(),
        );
        let rooms = registry.index();
        let registry = registry.start();

        let http_workers = threads(settings.http_workers);
        let (phase, phase_rx) = watch::channel(ShutdownPhase::Running);
        let drain = settings.shutdown_drain_time();
        let sessions = Arc::new(SessionShared {
            rooms,
            frames_per_second: settings
                .use_rate_limiting
                .then(|| NonZeroU32::new(settings.rate_limit_websocket_per_second))
                .flatten(),
            players: players.clone(),
            shutdown: phase_rx,
            metrics: Arc::clone(&metrics),
            writers_running: Default::default(),
        });
        let cors_origins = settings.allowed_origins().unwrap_or(Some(Vec::new()));
        let mut prometheus = PrometheusMetricsBuilder::new("gamehall")
            .registry(metrics.registry())
            .mask_unmatched_patterns("UNKNOWN");
        // With a port of its own, /metrics is served there only: METRICS_PORT is how an
        // operator keeps the metrics off the public port (and off an ingress that forwards it).
        if metrics_listener.is_none() {
            prometheus = prometheus.endpoint("/metrics");
        }
        let prometheus = prometheus
            .build()
            .map_err(|e| StartupError::Metrics(e.to_string()))?;
        let metrics_enabled = settings.metrics_enabled;
        let state = web::Data::new(AppState {
            sessions: Arc::clone(&sessions),
            metrics: Arc::clone(&metrics),
            memory,
            players,
            archive_store: archive.as_ref().map(|a| a.store.clone()),
            archive: archive.as_ref().map(|a| a.handle.clone()),
            registry: registry.clone(),
            keys: TokenKeys::new(
                &settings.jwt_secret,
                std::time::Duration::from_secs(settings.jwt_ttl),
            ),
            settings,
            log: log.clone(),
            started_at,
        });
        let make_app = move || {
            App::new()
                .app_data(state.clone())
                .configure(http::routes)
                .wrap(Condition::new(metrics_enabled, prometheus.clone()))
                .wrap(cors(cors_origins.as_deref()))
                .wrap(from_fn(request_id::assign))
        };
        let local_addr = listener.local_addr().map_err(bind_error)?;
        // actix-web's `HttpServer`, but with an upgrade service: a WebSocket upgrade request
        // still goes through the app, and its socket then leaves the HTTP dispatcher
        // (src/http/upgrade.rs). The apps get actix-web's default `AppConfig` (the one
        // `HttpServer` builds is private to actix-web): its host and address only stand in
        // for a request that names no `Host`, which every HTTP/1.1 request does.
        let server = Server::build()
            .workers(http_workers)
            // `gamehall serve` handles SIGTERM/SIGINT itself (see `Shutdown`), so that clients
            // are told and games are drained before the listener stops.
            .disable_signals()
            .shutdown_timeout(2)
            .listen("gamehall-http", listener, move || {
                // Called on each worker's thread, where its sessions' frames are made.
                release_thread_cache_periodically();
                let upgrade_app = make_app.clone();
                let upgrades = fn_factory(move || {
                    let app = upgrade_app().into_factory();
                    async move {
                        let app = Rc::new(app.new_service(AppConfig::default()).await?);
                        Ok::<_, ()>(fn_service(move |(request, framed)| {
                            http::upgrade::serve(Rc::clone(&app), request, framed)
                        }))
                    }
                });
                HttpService::build()
                    .local_addr(local_addr)
                    .upgrade(upgrades)
                    .finish(map_config(make_app().into_factory(), |()| {
                        AppConfig::default()
                    }))
                    .tcp()
            })
            .map_err(bind_error)?
            .run();
        let metrics_server = match (metrics_listener, metrics_enabled) {
            (Some(listener), true) => Some(metrics_only_server(listener, Arc::clone(&metrics))?),
            _ => None,
        };
        info!(log, "gamehall listening"; "addr" => &addr, "port" => port,
            "http_workers" => http_workers, "room_workers" => room_arbiters.len(),
            "startup_ms" => started_at.elapsed().as_millis() as u64);
        let shutdown = Shutdown {
            metrics_server: metrics_server.as_ref().map(Server::handle),
            archiver: archive.as_ref().map(|a| a.handle.archiver.clone()),
            server: server.handle(),
            registry: registry.clone(),
            phase: Arc::new(phase),
            sessions,
            drain,
            log: log.clone(),
        };
        if let Some(metrics_server) = metrics_server {
            actix_rt::spawn(metrics_server);
        }
        Ok(Application {
            port,
            server,
            registry,
            room_arbiters,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn registry(&self) -> Addr<Registry> {
        self.registry.clone()
    }

    /// A handle for a graceful shutdown (signals, tests).
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// A handle that stops the HTTP server at once (tests).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> io::Result<()> {
        let result = self.server.await;
        for arbiter in &self.room_arbiters {
            arbiter.stop();
        }
        result
    }
}
