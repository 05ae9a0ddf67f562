//! Building and running the server: actors first, then the HTTP listener. The listener binds
//! before `build` returns, so `port()` is the real port even when asked for port 0 (tests).

use std::io;
use std::net::TcpListener;
use std::thread::available_parallelism;
use std::time::Instant;

use actix::{Actor, Addr, Arbiter};
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use slog::{info, Logger};

use crate::auth::TokenKeys;
use crate::config::Settings;
use crate::game::GameCatalog;
use crate::http::{self, AppState};
use crate::registry::{Registry, RegistryConfig};
use crate::room::RoomConfig;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: io::Error },
}

pub struct Application {
    port: u16,
    server: Server,
    registry: Addr<Registry>,
    room_arbiters: Vec<Arbiter>,
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
        let room_arbiters: Vec<Arbiter> = (0..threads(settings.room_workers))
            .map(|_| Arbiter::new())
            .collect();
        let registry = Registry::new(
            catalog,
            RegistryConfig {
                max_active_games: settings.max_active_games,
                gc_completed_after: settings.gc_completed_games_after(),
                room: RoomConfig {
                    reconnect_grace: settings.reconnect_grace(),
                    max_events: settings.max_events_per_game,
                },
            },
            room_arbiters.iter().map(Arbiter::handle).collect(),
            log.clone(),
        )
        .start();

        let http_workers = threads(settings.http_workers);
        let state = web::Data::new(AppState {
            registry: registry.clone(),
            keys: TokenKeys::new(
                &settings.jwt_secret,
                std::time::Duration::from_secs(settings.jwt_ttl),
            ),
            settings,
            log: log.clone(),
            started_at,
        });
        let server =
            HttpServer::new(move || App::new().app_data(state.clone()).configure(http::routes))
                .workers(http_workers)
                .listen(listener)
                .map_err(bind_error)?
                .run();
        info!(log, "gamehall listening"; "addr" => &addr, "port" => port,
            "http_workers" => http_workers, "room_workers" => room_arbiters.len(),
            "startup_ms" => started_at.elapsed().as_millis() as u64);
        Ok(Application {
            port,
            server,
            registry,
            room_arbiters,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn registry(&self) -> Addr<Registry> {
        self.registry.clone()
    }

    /// A handle that stops the HTTP server (tests, shutdown).
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
