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
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{server}/{database}{query}")
}
