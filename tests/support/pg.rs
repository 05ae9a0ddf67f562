//! A PostgreSQL database of its own for each test, created through
//! `postgres://postgres@127.0.0.1:5432/test` (or `GAMEHALL_TEST_PG_URL`) and dropped when the
//! test ends, even if it fails. An unreachable server fails the test; it never skips it.
//!
//! Shared by the test crates with `#[path = "support/pg.rs"] mod pg;`.

#![allow(dead_code)]

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::Connection;

pub const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub struct TestPgDb {
    pub name: String,
    pub url: String,
}

impl TestPgDb {
    pub fn create() -> Self {
        let name = format!("gamehall_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = pg_admin();
        admin
            .batch_execute(&format!(r#"CREATE DATABASE "{name}""#))
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let url = database_url_for(&pg_admin_url(), &name);
        Self { name, url }
    }

    /// This database's URL, through another server address (`host:port`).
    pub fn url_via(&self, server: &str) -> String {
        pg_url(&pg_admin_url(), Some(server), &self.name)
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url)
            .unwrap_or_else(|e| panic!("cannot connect to test database {}: {e}", self.name))
    }
}

impl Drop for TestPgDb {
    fn drop(&mut self) {
        // No panic here: it could abort a test that is already unwinding.
        let dropped = PgConnection::establish(&pg_admin_url()).and_then(|mut admin| {
            // FORCE: a failed test may still hold connections to it.
            admin
                .batch_execute(&format!(
                    r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#,
                    self.name
                ))
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)
        });
        if let Err(e) = dropped {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

pub fn pg_admin_url() -> String {
    std::env::var("GAMEHALL_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.to_owned())
}

pub fn pg_admin() -> PgConnection {
    let url = pg_admin_url();
    PgConnection::establish(&url).unwrap_or_else(|e| {
        panic!(
            "PostgreSQL must be reachable for these tests (set GAMEHALL_TEST_PG_URL to use \
             another server than {DEFAULT_PG_ADMIN_URL}): {e}"
        )
    })
}

/// `admin_url` with its database replaced by `database`.
pub fn database_url_for(admin_url: &str, database: &str) -> String {
    pg_url(admin_url, None, database)
}

/// The admin URL with another database and, if given, another `host:port`; user, password
/// and query parameters are kept.
pub fn pg_url(admin_url: &str, server: Option<&str>, database: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = match server {
        Some(server) => match authority.rsplit_once('@') {
            Some((userinfo, _)) => format!("{userinfo}@{server}"),
            None => server.to_owned(),
        },
        None => authority.to_owned(),
    };
    format!("{scheme}://{authority}/{database}{query}")
}

/// Where the PostgreSQL server of the admin URL listens.
pub fn pg_server_addr() -> std::net::SocketAddr {
    use std::net::ToSocketAddrs;
    let url = pg_admin_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .unwrap_or_else(|| panic!("cannot resolve the test PostgreSQL server {host_port}"))
}
