//! Settings, layered: the embedded `config/default.toml`, then `config/{ENV}.toml`, then
//! environment variables named after each key in upper case (`MAX_ACTIVE_GAMES`). The
//! environment is passed in rather than read globally, so tests can build any configuration.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use config::{Config, File, FileFormat};
use serde::Deserialize;

use crate::affinity::CpuList;
use crate::archive::DatabaseUrl;

/// The defaults, compiled in so that the binary runs from any directory.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");
/// The per-environment layers, compiled in too: a binary started outside the repository (a
/// container, a package) must not quietly lose them. A `{ENV}.toml` in the config folder is
/// read on top of these.
const ENVIRONMENT_TOMLS: [(Environment, &str); 3] = [
    (Environment::Development, ""),
    (Environment::Test, include_str!("../config/test.toml")),
    (
        Environment::Production,
        include_str!("../config/production.toml"),
    ),
];

/// The development secrets; refused when `ENV=production`.
const DEVELOPMENT_JWT_SECRET: &str = "gamehall-development-secret-change-me";
const DEVELOPMENT_ADMIN_TOKEN: &str = "gamehall-development-admin-token";

/// Settings whose values never appear in an error message or a log line.
const SECRET_KEYS: [&str; 2] = ["jwt_secret", "admin_token"];

/// Variables that the seeds' deployment documents set but gamehall does not read, each with
/// what to use instead. Set, they change nothing; start-up says so (one WARN line each) rather
/// than let an operator believe they took effect. docs/operations.md lists the same.
pub const SEED_ONLY_VARIABLES: [(&str, &str); 11] = [
    (
        "ARCHIVE_BACKEND",
        "the archive is the database of DATABASE_URL (postgres:// or sqlite://); there is no S3 or filesystem backend",
    ),
    (
        "ARCHIVE_URL",
        "set DATABASE_URL: the archive lives in that database",
    ),
    (
        "EVENT_BUFFER_SIZE",
        "no separate event buffer: a room keeps MAX_EVENTS_PER_GAME events, the archiver writes ARCHIVE_BATCH_SIZE games at a time",
    ),
    (
        "GAME_SUMMARY_CACHE_SIZE",
        "no summary cache: GET /v1/games reads the archive database",
    ),
    (
        "DATABASE_POOL_MIN",
        "connections are opened on demand, up to DATABASE_POOL_MAX",
    ),
    (
        "REDIS_POOL_MIN",
        "connections are opened on demand, up to REDIS_POOL_MAX",
    ),
    ("ENVIRONMENT", "set ENV (development, test or production)"),
    ("NODE_ENV", "set ENV (development, test or production)"),
    (
        "SECRET_KEY",
        "set JWT_SECRET (player tokens) and ADMIN_TOKEN (/admin endpoints)",
    ),
    (
        "USE_EVENT_SOURCING",
        "every finished game is archived with its events while USE_GAME_ARCHIVAL=true",
    ),
    (
        "ENABLE_PROFILING",
        "there is no profiler switch; see the metrics at /metrics",
    ),
];

// The settings that take one word out of a few are matched without regard to case: seed 001
// writes `LOG_LEVEL=INFO` and `LOG_LEVEL=WARNING`, and refusing to start over the case of a
// word helps nobody. Anything else is still refused, with the words that would do.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Environment {
    Development,
    Test,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Test => "test",
            Environment::Production => "production",
        }
    }
}

impl FromStr for Environment {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value.to_ascii_lowercase().as_str() {
            "development" => Ok(Environment::Development),
            "test" => Ok(Environment::Test),
            "production" => Ok(Environment::Production),
            _ => Err("expected development, test or production".into()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum LogFormat {
    Json,
    Text,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value.to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "text" => Ok(LogFormat::Text),
            _ => Err("expected json or text".into()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl FromStr for LogLevel {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value.to_ascii_lowercase().as_str() {
            "trace" => Ok(LogLevel::Trace),
            "debug" => Ok(LogLevel::Debug),
            "info" => Ok(LogLevel::Info),
            "warning" | "warn" => Ok(LogLevel::Warning),
            "error" => Ok(LogLevel::Error),
            "critical" => Ok(LogLevel::Critical),
            _ => Err("expected trace, debug, info, warning (or warn), error or critical".into()),
        }
    }
}

// serde's `try_from` wants these; config then names the key in the error, which `load` turns
// back into the variable.
impl TryFrom<String> for Environment {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

impl TryFrom<String> for LogFormat {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

impl TryFrom<String> for LogLevel {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

/// Every setting; each field is documented in `config/default.toml` and docs/configuration.md.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub env: Environment,
    pub http_workers: usize,
    pub room_workers: usize,
    pub colocate_turn_based_rooms: bool,
    pub database_url: String,
    pub database_pool_max: u32,
    pub use_game_archival: bool,
    pub archive_batch_size: usize,
    pub archive_flush_interval: u64,
    pub archive_spool_dir: String,
    pub archive_writers: usize,
    pub archive_writer_cpus: CpuList,
    pub archive_retention_days: u32,
    pub admin_token: String,
    pub jwt_secret: String,
    pub jwt_ttl: u64,
    pub max_active_games: usize,
    pub gc_completed_games_after: u64,
    pub reconnect_grace: u64,
    pub max_events_per_game: usize,
    pub use_rate_limiting: bool,
    pub rate_limit_websocket_per_second: u32,
    pub rate_limit_per_player_per_minute: u32,
    pub rate_limit_per_room_per_second: u32,
    pub redis_url: String,
    pub redis_pool_max: usize,
    pub health_check_timeout: u64,
    pub metrics_enabled: bool,
    pub metrics_port: u16,
    pub use_memory_monitoring: bool,
    pub max_memory_mb: u64,
    pub memory_check_interval: u64,
    pub memory_alert_threshold: u8,
    pub cors_origins: String,
    pub shutdown_drain_time: u64,
    pub log_format: LogFormat,
    pub log_level: LogLevel,
    pub log_correlation_id: bool,
    /// The `SEED_ONLY_VARIABLES` found set in the environment, with what to use instead, for
    /// start-up to warn about.
    #[serde(skip)]
    ignored_variables: Vec<(&'static str, &'static str)>,
}

// Secrets never reach a log line or a panic message.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("env", &self.env)
            .field("database_url", &redact_url(&self.database_url))
            .field("jwt_secret", &"<redacted>")
            .field("admin_token", &"<redacted>")
            .field("use_game_archival", &self.use_game_archival)
            .field("redis_url", &redact_url(&self.redis_url))
            .field("max_active_games", &self.max_active_games)
            .field("reconnect_grace", &self.reconnect_grace)
            .finish_non_exhaustive()
    }
}

fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://<redacted>{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid configuration: {var}={value:?}: {reason}")]
    Invalid {
        var: String,
        value: String,
        reason: String,
    },
    #[error("invalid configuration: {0}")]
    Unreadable(String),
}

impl Settings {
    /// Loads the layers for the environment `vars` (normally `std::env::vars()`), reading
    /// `{config_dir}/{ENV}.toml` when it exists.
    pub fn load(
        config_dir: &Path,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, SettingsError> {
        let defaults = Config::builder()
            .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
            .build()
            .map_err(|err| SettingsError::Unreadable(format!("embedded defaults: {err}")))?;
        let known: Vec<String> = defaults
            .try_deserialize::<HashMap<String, config::Value>>()
            .map_err(|err| SettingsError::Unreadable(err.to_string()))?
            .into_keys()
            .collect();
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let ignored_variables: Vec<(&'static str, &'static str)> = SEED_ONLY_VARIABLES
            .into_iter()
            .filter(|(name, _)| vars.iter().any(|(var, _)| var == name))
            .collect();
        // Only the variables that name a setting are read: the rest of the environment (PATH,
        // HOME, ...) is none of our business.
        let overrides: HashMap<String, String> = vars
            .into_iter()
            .filter_map(|(name, value)| {
                let key = name.to_ascii_lowercase();
                (name == name.to_ascii_uppercase() && known.contains(&key)).then_some((key, value))
            })
            .collect();

        let env_name = overrides
            .get("env")
            .map(String::as_str)
            .unwrap_or("development");
        let env: Environment = env_name.parse().map_err(|reason| SettingsError::Invalid {
            var: "ENV".into(),
            value: env_name.into(),
            reason,
        })?;

        let env_file = config_dir.join(format!("{}.toml", env.as_str()));
        let embedded_env = ENVIRONMENT_TOMLS
            .iter()
            .find(|(e, _)| *e == env)
            .map_or("", |(_, toml)| toml);
        let mut builder = Config::builder()
            .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
            .add_source(File::from_str(embedded_env, FileFormat::Toml))
            .add_source(File::from(env_file.as_path()).required(false));
        for (key, value) in &overrides {
            builder = builder
                .set_override(key.as_str(), value.as_str())
                .map_err(|err| SettingsError::Unreadable(err.to_string()))?;
        }
        let layered = builder.build().map_err(|err| {
            SettingsError::Unreadable(format!("{}: {}", env_file.display(), one_line(&err)))
        })?;
        let mut settings: Settings = layered.try_deserialize().map_err(|err| {
            // config names the offending key in its message (`... for key `port``); turn that
            // back into the variable the operator set.
            let text = one_line(&err);
            match key_in(&text) {
                Some(key) => SettingsError::Invalid {
                    var: key.to_ascii_uppercase(),
                    value: if SECRET_KEYS.contains(&key) {
                        "<hidden>".to_owned()
                    } else {
                        overrides
                            .get(key)
                            .cloned()
                            .unwrap_or_else(|| format!("(from {})", env_file.display()))
                    },
                    reason: text.split(" for key `").next().unwrap_or(&text).to_owned(),
                },
                None => SettingsError::Unreadable(text),
            }
        })?;
        settings.validate(&overrides)?;
        settings.ignored_variables = ignored_variables;
        Ok(settings)
    }

    /// The seed-only variables that are set, each with what to use instead: gamehall ignores
    /// them (see `SEED_ONLY_VARIABLES`).
    pub fn ignored_variables(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.ignored_variables.iter().copied()
    }

    fn validate(&self, overrides: &HashMap<String, String>) -> Result<(), SettingsError> {
        let invalid = |key: &str, reason: &str| SettingsError::Invalid {
            var: key.to_ascii_uppercase(),
            value: if SECRET_KEYS.contains(&key) {
                "<hidden>".to_owned()
            } else {
                overrides.get(key).cloned().unwrap_or_default()
            },
            reason: reason.to_owned(),
        };
        if self.host.trim().is_empty() {
            return Err(invalid("host", "must not be empty"));
        }
        if self.max_active_games == 0 {
            return Err(invalid("max_active_games", "must be at least 1"));
        }
        if self.reconnect_grace == 0 {
            return Err(invalid("reconnect_grace", "must be at least 1 second"));
        }
        if self.max_events_per_game == 0 {
            return Err(invalid("max_events_per_game", "must be at least 1"));
        }
        if self.rate_limit_websocket_per_second == 0 {
            return Err(invalid(
                "rate_limit_websocket_per_second",
                "must be at least 1",
            ));
        }
        if self.rate_limit_per_player_per_minute == 0 {
            return Err(invalid(
                "rate_limit_per_player_per_minute",
                "must be at least 1",
            ));
        }
        if self.rate_limit_per_room_per_second == 0 {
            return Err(invalid(
                "rate_limit_per_room_per_second",
                "must be at least 1",
            ));
        }
        if !self.redis_url.is_empty() && !self.redis_url.starts_with("redis://") {
            return Err(SettingsError::Invalid {
                var: "REDIS_URL".into(),
                value: redact_url(&self.redis_url),
                reason: "expected redis://host:port/db, or empty for none".into(),
            });
        }
        if self.redis_pool_max == 0 {
            return Err(invalid("redis_pool_max", "must be at least 1"));
        }
        if self.max_memory_mb == 0 {
            return Err(invalid("max_memory_mb", "must be at least 1"));
        }
        if self.memory_check_interval == 0 {
            return Err(invalid(
                "memory_check_interval",
                "must be at least 1 second",
            ));
        }
        if !(1..=100).contains(&self.memory_alert_threshold) {
            return Err(invalid(
                "memory_alert_threshold",
                "must be a percentage, 1 to 100",
            ));
        }
        if let Err(reason) = self.allowed_origins() {
            return Err(invalid("cors_origins", &reason));
        }
        if self.health_check_timeout == 0 {
            return Err(invalid("health_check_timeout", "must be at least 1 second"));
        }
        if self.jwt_ttl == 0 {
            return Err(invalid("jwt_ttl", "must be at least 1 second"));
        }
        if self.jwt_secret.len() < 16 {
            return Err(invalid("jwt_secret", "must be at least 16 bytes"));
        }
        if self.env == Environment::Production && self.jwt_secret == DEVELOPMENT_JWT_SECRET {
            return Err(invalid(
                "jwt_secret",
                "the development default is refused in production; set a secret",
            ));
        }
        if self.env == Environment::Production && self.admin_token == DEVELOPMENT_ADMIN_TOKEN {
            return Err(invalid(
                "admin_token",
                "the development default is refused in production; set a token",
            ));
        }
        if self.admin_token.len() < 16 {
            return Err(invalid("admin_token", "must be at least 16 bytes"));
        }
        if let Err(err) = DatabaseUrl::parse(&self.database_url) {
            return Err(SettingsError::Invalid {
                var: "DATABASE_URL".into(),
                value: redact_url(&self.database_url),
                reason: err.to_string(),
            });
        }
        if self.database_pool_max == 0 {
            return Err(invalid("database_pool_max", "must be at least 1"));
        }
        if self.archive_batch_size == 0 {
            return Err(invalid("archive_batch_size", "must be at least 1"));
        }
        if self.archive_flush_interval == 0 {
            return Err(invalid(
                "archive_flush_interval",
                "must be at least 1 second",
            ));
        }
        if self.archive_writers == 0 {
            return Err(invalid("archive_writers", "must be at least 1"));
        }
        if self.archive_spool_dir.trim().is_empty() {
            return Err(invalid("archive_spool_dir", "must not be empty"));
        }
        Ok(())
    }

    pub fn memory_check_interval(&self) -> Duration {
        Duration::from_secs(self.memory_check_interval)
    }

    /// Resident memory above which new rooms are refused.
    pub fn memory_alert_bytes(&self) -> u64 {
        self.max_memory_mb * 1024 * 1024 / 100 * u64::from(self.memory_alert_threshold)
    }

    /// `CORS_ORIGINS` parsed: `Ok(None)` for any origin (`*`), `Ok(Some(list))` otherwise (empty:
    /// no cross-origin access).
    pub fn allowed_origins(&self) -> Result<Option<Vec<String>>, String> {
        let value = self.cors_origins.trim();
        if value == "*" {
            return Ok(None);
        }
        let mut origins = Vec::new();
        for origin in value.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let scheme_ok = origin.starts_with("http://") || origin.starts_with("https://");
            if !scheme_ok || origin.ends_with('/') {
                return Err(format!(
                    "{origin:?} is not an origin: expected scheme://host[:port], comma-separated, or *"
                ));
            }
            origins.push(origin.to_owned());
        }
        Ok(Some(origins))
    }

    pub fn shutdown_drain_time(&self) -> Duration {
        Duration::from_secs(self.shutdown_drain_time)
    }

    pub fn archive_flush_interval(&self) -> Duration {
        Duration::from_secs(self.archive_flush_interval)
    }

    /// How long finished games are kept; `None` keeps them forever (`ARCHIVE_RETENTION_DAYS=0`).
    pub fn archive_retention(&self) -> Option<chrono::Duration> {
        (self.archive_retention_days > 0)
            .then(|| chrono::Duration::days(i64::from(self.archive_retention_days)))
    }

    pub fn reconnect_grace(&self) -> Duration {
        Duration::from_secs(self.reconnect_grace)
    }

    pub fn gc_completed_games_after(&self) -> Duration {
        Duration::from_secs(self.gc_completed_games_after)
    }

    pub fn health_check_timeout(&self) -> Duration {
        Duration::from_secs(self.health_check_timeout)
    }
}

/// config's messages may span lines (a TOML parse error quotes the offending line); start-up
/// errors are one line.
fn one_line(err: &config::ConfigError) -> String {
    err.to_string()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.chars().all(|c| c == '|' || c == '^'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The setting a config error message names, e.g. `port` in "... for key `port`".
fn key_in(message: &str) -> Option<&str> {
    let start = message.find("key `")? + "key `".len();
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::load(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn embedded_defaults_load_and_name_every_setting() {
        let settings = load(&[]).expect("defaults are valid");
        assert_eq!(settings.port, 8080);
        assert_eq!(settings.env, Environment::Development);
        assert_eq!(settings.database_url, "sqlite://gamehall.db");
    }

    #[test]
    fn environment_variables_override_files() {
        let settings = load(&[
            ("PORT", "9000"),
            ("MAX_ACTIVE_GAMES", "12"),
            ("LOG_FORMAT", "text"),
            ("PATH", "/usr/bin"),
        ])
        .unwrap();
        assert_eq!(settings.port, 9000);
        assert_eq!(settings.max_active_games, 12);
        assert_eq!(settings.log_format, LogFormat::Text);
    }

    #[test]
    fn env_file_is_layered_between_defaults_and_variables() {
        let settings = load(&[("ENV", "test")]).unwrap();
        assert_eq!(settings.reconnect_grace, 2);
        let settings = load(&[("ENV", "test"), ("RECONNECT_GRACE", "7")]).unwrap();
        assert_eq!(settings.reconnect_grace, 7);
    }

    #[test]
    fn a_bad_value_names_its_variable_in_one_line() {
        for (var, value) in [
            ("PORT", "eighty"),
            ("PORT", "70000"),
            ("MAX_ACTIVE_GAMES", "-3"),
            ("MAX_ACTIVE_GAMES", "0"),
            ("LOG_FORMAT", "xml"),
            ("LOG_FORMAT", "JSONL"),
            ("LOG_LEVEL", "loud"),
            ("LOG_LEVEL", "INFO "),
            ("ENV", "staging"),
            ("ENV", "PROD"),
            ("DATABASE_URL", "mysql://db/x"),
            ("DATABASE_URL", "sqlite:foo"),
            ("ARCHIVE_BATCH_SIZE", "0"),
            ("ARCHIVE_WRITERS", "0"),
            ("ARCHIVE_WRITER_CPUS", "1-"),
            ("USE_GAME_ARCHIVAL", "maybe"),
        ] {
            let err = load(&[(var, value)]).expect_err("must be refused");
            let line = err.to_string();
            assert!(line.contains(var), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn words_are_read_in_any_case_as_the_seeds_write_them() {
        for (value, level) in [
            ("INFO", LogLevel::Info),
            ("WARNING", LogLevel::Warning),
            ("Warn", LogLevel::Warning),
            ("debug", LogLevel::Debug),
            ("CRITICAL", LogLevel::Critical),
        ] {
            let settings = load(&[("LOG_LEVEL", value)]).unwrap();
            assert_eq!(settings.log_level, level, "{value}");
        }
        for (value, format) in [("JSON", LogFormat::Json), ("Text", LogFormat::Text)] {
            let settings = load(&[("LOG_FORMAT", value)]).unwrap();
            assert_eq!(settings.log_format, format, "{value}");
        }
        // ENV picks the layer file too: `Test` must read test.toml.
        let settings = load(&[("ENV", "Test")]).unwrap();
        assert_eq!(settings.env, Environment::Test);
        assert_eq!(settings.reconnect_grace, 2);
        let settings = load(&[
            ("ENV", "PRODUCTION"),
            ("JWT_SECRET", "a-real-secret-of-length"),
            ("ADMIN_TOKEN", "a-real-admin-token-of-length"),
        ])
        .unwrap();
        assert_eq!(settings.env, Environment::Production);
        assert_eq!(settings.host, "0.0.0.0");
        // Booleans already were (config reads true/false/yes/no/on/off in any case).
        let settings =
            load(&[("USE_GAME_ARCHIVAL", "FALSE"), ("METRICS_ENABLED", "True")]).unwrap();
        assert!(!settings.use_game_archival);
        assert!(settings.metrics_enabled);
    }

    #[test]
    fn a_bad_word_says_which_words_would_do() {
        let line = load(&[("LOG_LEVEL", "loud")]).err().unwrap().to_string();
        assert_eq!(
            line,
            "invalid configuration: LOG_LEVEL=\"loud\": \
             expected trace, debug, info, warning (or warn), error or critical"
        );
        let line = load(&[("ENV", "staging")]).err().unwrap().to_string();
        assert!(
            line.contains("expected development, test or production"),
            "{line}"
        );
    }

    #[test]
    fn seed_only_variables_that_are_set_are_reported() {
        let settings = load(&[
            ("ENVIRONMENT", "production"),
            ("DATABASE_POOL_MIN", "20"),
            ("DATABASE_POOL_MAX", "100"),
            ("PATH", "/usr/bin"),
        ])
        .unwrap();
        let ignored: Vec<&str> = settings.ignored_variables().map(|(name, _)| name).collect();
        assert_eq!(ignored, ["DATABASE_POOL_MIN", "ENVIRONMENT"]);
        assert_eq!(settings.database_pool_max, 100);
        assert_eq!(load(&[]).unwrap().ignored_variables().count(), 0);
        // None of them is a setting: were one added, it must leave this list.
        for (name, _) in SEED_ONLY_VARIABLES {
            let err = Settings::load(
                Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
                [(name.to_owned(), "not-a-valid-anything-$$".to_owned())],
            );
            assert!(err.is_ok(), "{name} is read by gamehall");
        }
    }

    #[test]
    fn production_refuses_the_development_secret() {
        let err = load(&[("ENV", "production")]).err().unwrap().to_string();
        assert!(err.contains("JWT_SECRET"), "{err}");
        let err = load(&[
            ("ENV", "production"),
            ("JWT_SECRET", "a-real-secret-of-length"),
        ])
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("ADMIN_TOKEN"), "{err}");
        let ok = load(&[
            ("ENV", "production"),
            ("JWT_SECRET", "a-real-secret-of-length"),
            ("ADMIN_TOKEN", "a-real-admin-token-of-length"),
        ]);
        assert_eq!(ok.unwrap().host, "0.0.0.0");
    }

    #[test]
    fn environment_layers_are_embedded_so_a_missing_config_folder_loses_nothing() {
        let settings = Settings::load(
            Path::new("/nonexistent/gamehall/config"),
            [
                ("ENV", "production"),
                ("JWT_SECRET", "a-real-secret-of-length"),
                ("ADMIN_TOKEN", "a-real-admin-token-of-length"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        )
        .unwrap();
        assert_eq!(settings.host, "0.0.0.0");
    }

    #[test]
    fn a_secret_is_never_echoed_in_an_error() {
        let err = load(&[("JWT_SECRET", "short-secret")])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("JWT_SECRET"), "{err}");
        assert!(!err.contains("short-secret"), "{err}");
    }

    #[test]
    fn a_broken_toml_file_is_reported_in_one_line() {
        let dir = std::env::temp_dir().join(format!("gamehall-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("development.toml"), "port = [\nnot toml\n").unwrap();
        let err = Settings::load(&dir, std::iter::empty())
            .err()
            .unwrap()
            .to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("development.toml"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let settings = load(&[
            ("JWT_SECRET", "super-secret-value-123"),
            ("DATABASE_URL", "postgres://u:pw@db/x"),
        ])
        .unwrap();
        let shown = format!("{settings:?}");
        assert!(!shown.contains("super-secret"));
        assert!(!shown.contains("pw@"));
    }
}
