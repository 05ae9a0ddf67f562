//! The deployment files, checked without Docker or a cluster: `compose.yaml`, the `Dockerfile`
//! and `.dockerignore`, `deploy/k8s`, the Prometheus configuration and alert rules, and the
//! Grafana provisioning and dashboard are parsed and held to what the server really reads and
//! exports. The container entrypoint (`deploy/docker-entrypoint.sh`) and the smoke checks
//! (`deploy/smoke-test.sh`) run for real, against the built binary and the local PostgreSQL
//! and Redis, as they would in the image.

#[path = "support/pg.rs"]
mod pg;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;
use serde::Deserialize;
use serde_yaml_ng::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every metric the server exports that is not a histogram.
const SCALAR_METRICS: &[&str] = &[
    "gamehall_connections",
    "gamehall_rooms",
    "gamehall_games_started_total",
    "gamehall_games_finished_total",
    "gamehall_messages_in_total",
    "gamehall_messages_out_total",
    "gamehall_tick_overruns_total",
    "gamehall_archive_pending",
    "gamehall_archive_spooled",
    "gamehall_archive_written_total",
    "gamehall_archive_failed_total",
    "gamehall_archive_rejected_total",
    "gamehall_archive_batches_total",
    "gamehall_archive_catch_up_batches_total",
    // The most recent batch's duration (docs/operations.md), not a histogram.
    "gamehall_archive_flush_duration_seconds",
    "gamehall_rate_limited_total",
    "gamehall_joins_rejected_total",
    "gamehall_rooms_refused_total",
    "gamehall_errors_total",
    "gamehall_process_resident_memory_bytes",
    "gamehall_memory_limit_bytes",
    "gamehall_redis_up",
    "gamehall_database_up",
    "gamehall_http_requests_total",
];

/// Histograms: queries read them as `_bucket`, `_sum` and `_count`.
const HISTOGRAM_METRICS: &[&str] = &[
    "gamehall_move_broadcast_seconds",
    "gamehall_move_broadcast_during_archive_write_seconds",
    "gamehall_tick_duration_seconds",
    "gamehall_http_requests_duration_seconds",
];

/// Prometheus' own series that alerts may use.
const PROMETHEUS_SERIES: &[&str] = &["up"];

/// Environment variables that are not server settings but are read by something we ship: the
/// binary's `--config-dir`, the entrypoint and the smoke checks. Each is checked to be
/// mentioned by its reader.
const EXTRA_VARIABLES: &[(&str, &str)] = &[
    ("GAMEHALL_CONFIG_DIR", "src/main.rs"),
    ("GAMEHALL_MIGRATE_ATTEMPTS", "deploy/docker-entrypoint.sh"),
    ("GAMEHALL_MIGRATE_DELAY", "deploy/docker-entrypoint.sh"),
    ("GAMEHALL_BIN", "deploy/docker-entrypoint.sh"),
    ("GAMEHALL_URL", "deploy/smoke-test.sh"),
    ("SMOKE_WAIT_SECONDS", "deploy/smoke-test.sh"),
];

/// The secrets: never in a ConfigMap, always in the Secret.
const SECRET_VARIABLES: [&str; 3] = ["JWT_SECRET", "ADMIN_TOKEN", "DATABASE_URL"];

// ---- reading the files ----------------------------------------------------------------------

fn path(relative: &str) -> PathBuf {
    Path::new(ROOT).join(relative)
}

fn read(relative: &str) -> String {
    fs::read_to_string(path(relative)).unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

fn yaml(relative: &str) -> Value {
    serde_yaml_ng::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Every document of a multi-document YAML file, empty ones left out.
fn yaml_documents(relative: &str) -> Vec<Value> {
    let text = read(relative);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{relative}: {e}")))
        .filter(|doc| !doc.is_null())
        .collect()
}

fn str_of<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value:?}"))
}

fn seq<'a>(value: &'a Value, what: &str) -> &'a Vec<Value> {
    value
        .as_sequence()
        .unwrap_or_else(|| panic!("{what} is not a list: {value:?}"))
}

/// A YAML scalar as text: compose and Kubernetes accept numbers and booleans where they mean
/// strings.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The server's settings, as environment variables: `config/default.toml`'s keys upper-cased.
fn settings() -> BTreeSet<String> {
    let keys: BTreeSet<String> = read("config/default.toml")
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#') && !line.starts_with('['))
        .filter_map(|line| line.split_once('='))
        .map(|(key, _)| key.trim().to_ascii_uppercase())
        .collect();
    assert!(
        keys.contains("PORT") && keys.contains("DATABASE_URL"),
        "{keys:?}"
    );
    keys
}

fn assert_known_variables<'a>(names: impl IntoIterator<Item = &'a str>, whose: &str) {
    let settings = settings();
    for name in names {
        assert!(
            settings.contains(name) || EXTRA_VARIABLES.iter().any(|(extra, _)| *extra == name),
            "{whose} sets {name}, which is neither a setting in config/default.toml nor a \
             variable read by the entrypoint, the smoke checks or the binary"
        );
    }
}

/// `35s`, `1m30s`, `500ms`, `2h`: compose's durations.
fn duration(text: &str) -> Duration {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: u64 = rest[..digits]
            .parse()
            .unwrap_or_else(|_| panic!("bad duration {text:?}"));
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        total += match &rest[..unit_len] {
            "h" => Duration::from_secs(number * 3600),
            "m" => Duration::from_secs(number * 60),
            "s" => Duration::from_secs(number),
            "ms" => Duration::from_millis(number),
            other => panic!("bad duration unit {other:?} in {text:?}"),
        };
        rest = &rest[unit_len..];
    }
    total
}

/// A memory size in bytes: Kubernetes quantities (`1Gi`, `512Mi`, `1G`) or, with
/// `binary_letters`, Docker's sizes, whose single letters are powers of 1024 (`1280M`).
fn bytes(text: &str, binary_letters: bool) -> u64 {
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits]
        .parse()
        .unwrap_or_else(|_| panic!("bad size {text:?}"));
    let factor: u64 = match (&text[digits..].to_ascii_lowercase()[..], binary_letters) {
        ("", _) | ("b", true) => 1,
        ("ki", false) | ("k", true) | ("kb", true) => 1 << 10,
        ("mi", false) | ("m", true) | ("mb", true) => 1 << 20,
        ("gi", false) | ("g", true) | ("gb", true) => 1 << 30,
        ("k", false) => 1_000,
        ("m", false) => 1_000_000,
        ("g", false) => 1_000_000_000,
        (unit, _) => panic!("bad size unit {unit:?} in {text:?}"),
    };
    number * factor
}

/// The memory guard trips (at `MEMORY_ALERT_THRESHOLD` percent of `MAX_MEMORY_MB`) below the
/// container's memory `limit`, and `MAX_MEMORY_MB` is not above it: docs/operations.md says to
/// set it to the limit.
fn assert_memory_guard_fits(settings: &BTreeMap<String, String>, limit: u64, whose: &str) {
    let max_memory: u64 = settings["MAX_MEMORY_MB"].parse().expect("a number");
    let threshold: u64 = settings["MEMORY_ALERT_THRESHOLD"]
        .parse()
        .expect("a number");
    assert!(
        max_memory << 20 <= limit,
        "{whose}: MAX_MEMORY_MB {max_memory} is above the memory limit ({limit} bytes)"
    );
    assert!(
        (max_memory << 20) / 100 * threshold < limit * 9 / 10,
        "{whose}: the memory guard trips too close to the memory limit ({limit} bytes)"
    );
}

// ---- PromQL ---------------------------------------------------------------------------------

/// The metric names a PromQL expression reads: its identifiers other than functions, keywords,
/// label names (in `{...}` and in `by (...)`-style lists) and numbers. Strings, range and
/// subquery selectors (`[5m]`) and Grafana variables (`$__rate_interval`) are skipped.
fn promql_metric_names(expr: &str) -> BTreeSet<String> {
    const GROUPING: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    // Aggregations may put `by (...)` between their name and their parenthesis.
    const KEYWORDS: [&str; 22] = [
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "atan2",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let skip_past = |from: usize, open: char, close: char| -> usize {
        let mut depth = 0;
        let mut i = from;
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            match quote {
                Some(_) if c == '\\' => i += 1,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' || c == '`' => quote = Some(c),
                None if c == open => depth += 1,
                None if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                None => {}
            }
            i += 1;
        }
        panic!("unbalanced {open}{close} in {expr:?}");
    };
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '{' {
            i = skip_past(i, '{', '}');
        } else if c == '[' {
            i = skip_past(i, '[', ']');
        } else if c == '$' {
            i += 1;
            while i < chars.len() && (is_ident(chars[i]) || "{}".contains(chars[i])) {
                i += 1;
            }
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (is_ident(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let ident: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let called = chars.get(next) == Some(&'(');
            let lower = ident.to_ascii_lowercase();
            if GROUPING.contains(&lower.as_str()) {
                if called {
                    i = skip_past(next, '(', ')');
                }
            } else if !called && !KEYWORDS.contains(&lower.as_str()) {
                names.insert(ident);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Whether `name` is a series the server (or Prometheus itself) exports.
fn is_known_series(name: &str) -> bool {
    SCALAR_METRICS.contains(&name)
        || PROMETHEUS_SERIES.contains(&name)
        || HISTOGRAM_METRICS.iter().any(|histogram| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .any(|suffix| name == format!("{histogram}{suffix}"))
        })
}

fn assert_known_metrics(expr: &str, whose: &str) -> BTreeSet<String> {
    let names = promql_metric_names(expr);
    assert!(!names.is_empty(), "{whose}: no metric in {expr:?}");
    for name in &names {
        assert!(
            is_known_series(name),
            "{whose}: {expr:?} reads {name}, which the server does not export"
        );
    }
    names
}

/// The metric a series name belongs to (`gamehall_x_bucket` → `gamehall_x` for histograms).
fn metric_of(series: &str) -> &str {
    HISTOGRAM_METRICS
        .iter()
        .find(|h| series.starts_with(*h))
        .copied()
        .unwrap_or(series)
}

#[test]
fn the_promql_reader_finds_metric_names_only() {
    let names = promql_metric_names(
        r#"histogram_quantile(0.99, sum by (instance, le) (rate(gamehall_move_broadcast_seconds_bucket{instance=~"$instance", x="}"}[$__rate_interval])))
           / on (instance) group_left (game) gamehall_rooms offset 5m > bool 1e3 and up{job="gamehall"} == 0
           or sum without (x) (gamehall_connections) or topk by (le) (3, gamehall_redis_up)"#,
    );
    let expected: BTreeSet<String> = [
        "gamehall_move_broadcast_seconds_bucket",
        "gamehall_rooms",
        "up",
        "gamehall_connections",
        "gamehall_redis_up",
    ]
    .map(String::from)
    .into();
    assert_eq!(names, expected);
    assert!(!is_known_series("gamehall_connection"));
    assert!(is_known_series("gamehall_tick_duration_seconds_count"));
}

// ---- compose.yaml ---------------------------------------------------------------------------

fn compose() -> Value {
    yaml("compose.yaml")
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    let service = &compose["services"][name];
    assert!(service.is_mapping(), "compose.yaml has no service {name}");
    service
}

/// A service's `environment`, in either of compose's two forms.
fn environment(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Mapping(map) => map
            .iter()
            .map(|(k, v)| {
                (
                    str_of(k, "a variable name").to_owned(),
                    scalar(v).unwrap_or_default(),
                )
            })
            .collect(),
        Value::Sequence(list) => list
            .iter()
            .map(|item| {
                let item = str_of(item, "an environment entry");
                let (k, v) = item.split_once('=').unwrap_or((item, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect(),
        Value::Null => BTreeMap::new(),
        other => panic!("bad environment: {other:?}"),
    }
}

/// Services that run the gamehall image (built here or tagged gamehall:...).
fn gamehall_services(compose: &Value) -> Vec<(String, &Value)> {
    compose["services"]
        .as_mapping()
        .expect("services")
        .iter()
        .filter(|(_, service)| {
            !service["build"].is_null()
                || service["image"]
                    .as_str()
                    .is_some_and(|image| image.starts_with("gamehall:"))
        })
        .map(|(name, service)| (str_of(name, "a service name").to_owned(), service))
        .collect()
}

fn depends_on_condition<'a>(service: &'a Value, on: &str) -> &'a str {
    service["depends_on"][on]["condition"]
        .as_str()
        .unwrap_or_else(|| panic!("no depends_on condition on {on}: {service:?}"))
}

#[test]
fn compose_has_the_stack_with_pinned_images_and_health_checks() {
    let compose = compose();
    let services: BTreeSet<&str> = compose["services"]
        .as_mapping()
        .expect("services")
        .keys()
        .map(|k| str_of(k, "a service name"))
        .collect();
    for name in [
        "gamehall",
        "postgres",
        "redis",
        "prometheus",
        "grafana",
        "smoke",
    ] {
        assert!(services.contains(name), "no service {name}: {services:?}");
    }
    let gamehall = service(&compose, "gamehall");
    assert_eq!(gamehall["build"].as_str(), Some("."));
    for (name, prefix) in [
        ("postgres", "postgres:15"),
        ("redis", "redis:7"),
        ("prometheus", "prom/prometheus:"),
        ("grafana", "grafana/grafana:"),
    ] {
        let image = str_of(&service(&compose, name)["image"], "image");
        assert!(image.starts_with(prefix), "{name} runs {image}");
        assert!(!image.ends_with(":latest"), "{name}: pin a version");
    }
    // Every long-running service says when it is healthy, in a form compose runs.
    for name in ["gamehall", "postgres", "redis", "prometheus", "grafana"] {
        let test = seq(
            &service(&compose, name)["healthcheck"]["test"],
            "healthcheck",
        );
        let form = test.first().and_then(Value::as_str);
        assert!(
            matches!(form, Some("CMD" | "CMD-SHELL")),
            "{name}: {test:?}"
        );
    }
    let gamehall_check = format!("{:?}", gamehall["healthcheck"]["test"]);
    assert!(
        gamehall_check.contains("http://127.0.0.1:8080/health/"),
        "{gamehall_check}"
    );
    assert!(format!("{:?}", service(&compose, "postgres")["healthcheck"]).contains("pg_isready"));
    assert!(format!("{:?}", service(&compose, "redis")["healthcheck"]).contains("ping"));

    // Started in order: gamehall once its database and Redis answer; Grafana once Prometheus
    // does; the smoke checks once gamehall is ready.
    assert_eq!(
        depends_on_condition(gamehall, "postgres"),
        "service_healthy"
    );
    assert_eq!(depends_on_condition(gamehall, "redis"), "service_healthy");
    assert_eq!(
        depends_on_condition(service(&compose, "grafana"), "prometheus"),
        "service_healthy"
    );
    assert_eq!(
        depends_on_condition(service(&compose, "smoke"), "gamehall"),
        "service_healthy"
    );
}

#[test]
fn compose_keeps_data_on_named_volumes_and_redis_in_memory() {
    let compose = compose();
    let declared: BTreeSet<&str> = compose["volumes"]
        .as_mapping()
        .expect("top-level volumes")
        .keys()
        .map(|k| str_of(k, "a volume name"))
        .collect();
    let mounts = |name: &str| -> Vec<(String, String)> {
        seq(&service(&compose, name)["volumes"], "volumes")
            .iter()
            .map(|v| {
                let v = str_of(v, "a volume");
                let mut parts = v.split(':');
                (
                    parts.next().unwrap_or_default().to_owned(),
                    parts.next().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    for (name, target) in [
        ("gamehall", "/app/data"),
        ("postgres", "/var/lib/postgresql/data"),
    ] {
        let (source, _) = mounts(name)
            .into_iter()
            .find(|(_, t)| t == target)
            .unwrap_or_else(|| panic!("{name} mounts nothing at {target}"));
        assert!(
            declared.contains(source.as_str()),
            "{name}: {source} is not a named volume"
        );
    }
    // Bind mounts of our own files point at files that exist.
    for name in ["prometheus", "grafana", "smoke"] {
        for (source, target) in mounts(name) {
            if let Some(relative) = source.strip_prefix("./") {
                assert!(
                    path(relative).exists(),
                    "{name} mounts {source} at {target}, which does not exist"
                );
            }
        }
    }

    let redis: Vec<String> = seq(&service(&compose, "redis")["command"], "redis command")
        .iter()
        .filter_map(scalar)
        .collect();
    let after = |flag: &str| -> String {
        let at = redis
            .iter()
            .position(|arg| arg == flag)
            .unwrap_or_else(|| panic!("redis runs without {flag}: {redis:?}"));
        redis.get(at + 1).cloned().unwrap_or_default()
    };
    assert_eq!(after("--save"), "", "no RDB snapshots");
    assert_eq!(after("--appendonly"), "no");
    assert_eq!(after("--maxmemory-policy"), "allkeys-lru");
    assert!(bytes(&after("--maxmemory"), true) > 0);

    let smoke = service(&compose, "smoke");
    assert_eq!(
        seq(&smoke["profiles"], "profiles")[0].as_str(),
        Some("test")
    );
}

#[test]
fn compose_sets_only_settings_the_server_reads() {
    let compose = compose();
    let services = gamehall_services(&compose);
    assert!(services.len() >= 2, "gamehall and its smoke checks");
    for (name, service) in &services {
        let env = environment(service);
        assert_known_variables(env.keys().map(String::as_str), &format!("compose {name}"));
    }
    let env = environment(service(&compose, "gamehall"));
    assert_eq!(env["ENV"], "production");
    // Production refuses to start without its secrets: compose refuses first, with a message.
    for secret in ["JWT_SECRET", "ADMIN_TOKEN"] {
        assert!(
            env[secret].starts_with(&format!("${{{secret}:?")),
            "{secret} must be required from the environment, not written here: {}",
            env[secret]
        );
    }
    assert!(env["DATABASE_URL"].starts_with("postgres://"));
    assert!(env["DATABASE_URL"].contains("@postgres:5432/"));
    assert!(env["REDIS_URL"].starts_with("redis://redis:6379"));
    // The spool must be on the writable volume, not the image's read-only /app.
    assert!(env["ARCHIVE_SPOOL_DIR"].starts_with("/app/data/"));
    assert_eq!(env["METRICS_ENABLED"], "true");
}

#[test]
fn compose_gives_the_drain_time_to_finish_and_the_memory_guard_room() {
    let compose = compose();
    let gamehall = service(&compose, "gamehall");
    let env = environment(gamehall);
    let drain = Duration::from_secs(env["SHUTDOWN_DRAIN_TIME"].parse().expect("a number"));
    let grace = duration(str_of(&gamehall["stop_grace_period"], "stop_grace_period"));
    assert!(
        grace > drain + Duration::from_secs(5),
        "stop_grace_period {grace:?} must exceed SHUTDOWN_DRAIN_TIME {drain:?} with time to \
         flush the archive"
    );
    let limit = bytes(
        str_of(
            &gamehall["deploy"]["resources"]["limits"]["memory"],
            "memory limit",
        ),
        true,
    );
    assert_memory_guard_fits(&env, limit, "compose gamehall");
    // The health check may wait for the slowest readiness check.
    let timeout: u64 = env["HEALTH_CHECK_TIMEOUT"].parse().expect("a number");
    let check_timeout = duration(str_of(&gamehall["healthcheck"]["timeout"], "timeout"));
    assert!(check_timeout > Duration::from_secs(timeout));
    // The image's start period covers the entrypoint's migration retries.
    let attempts: u64 = env["GAMEHALL_MIGRATE_ATTEMPTS"].parse().expect("a number");
    let delay: u64 = env["GAMEHALL_MIGRATE_DELAY"].parse().expect("a number");
    let start = duration(str_of(
        &gamehall["healthcheck"]["start_period"],
        "start_period",
    ));
    assert!(start >= Duration::from_secs(attempts * delay));
}

#[test]
fn compose_runs_postgres_at_a_lower_cpu_weight_than_the_server() {
    // Docker's default weight is 1024 shares; the database's batch writes must not take the
    // reactors' cores on a shared host (docs/operations.md, "A database on the same host").
    let compose = compose();
    let weight = |name: &str| {
        service(&compose, name)["cpu_shares"]
            .as_u64()
            .unwrap_or(1024)
    };
    let (gamehall, postgres) = (weight("gamehall"), weight("postgres"));
    assert!(
        postgres * 2 <= gamehall,
        "postgres' cpu_shares {postgres} must be at most half of gamehall's {gamehall}"
    );
    assert!(
        postgres >= 2,
        "cpu_shares below 2 is not a weight Docker accepts"
    );
}

#[test]
fn extra_variables_are_read_where_they_are_documented() {
    for (name, reader) in EXTRA_VARIABLES {
        assert!(
            read(reader).contains(name),
            "{name} is allowed as a variable because {reader} reads it, but it does not"
        );
        assert!(!settings().contains(*name), "{name} is a setting now");
    }
}

// ---- Dockerfile and .dockerignore ------------------------------------------------------------

/// The Dockerfile's instructions, continuation lines joined and comments dropped.
fn dockerfile() -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (op, args) = current.split_once(' ').unwrap_or((&current, ""));
        instructions.push((op.to_ascii_uppercase(), args.trim().to_owned()));
        current.clear();
    }
    instructions
}

/// Whether `.dockerignore` leaves `relative` out of the build context (its last matching line
/// wins; a pattern matching a folder takes what is inside it).
fn docker_ignores(relative: &str) -> bool {
    fn matches(pattern: &[&str], path: &[&str]) -> bool {
        match (pattern.first(), path.first()) {
            (None, _) => true, // A folder's pattern takes its contents.
            (Some(&"**"), _) => {
                matches(&pattern[1..], path) || (!path.is_empty() && matches(pattern, &path[1..]))
            }
            (Some(_), None) => false,
            (Some(p), Some(s)) => glob_segment(p, s) && matches(&pattern[1..], &path[1..]),
        }
    }
    fn glob_segment(pattern: &str, segment: &str) -> bool {
        match pattern.split_once('*') {
            None => pattern == segment,
            Some((prefix, rest)) => {
                segment.starts_with(prefix)
                    && (0..=segment.len() - prefix.len()).any(|skip| {
                        segment.is_char_boundary(prefix.len() + skip)
                            && glob_segment(rest, &segment[prefix.len() + skip..])
                    })
            }
        }
    }
    let path: Vec<&str> = relative.trim_end_matches('/').split('/').collect();
    let mut ignored = false;
    for line in read(".dockerignore").lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (negated, pattern) = match line.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, line),
        };
        let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
        if matches(&pattern, &path) {
            ignored = !negated;
        }
    }
    ignored
}

#[test]
fn dockerfile_builds_in_stages_and_runs_unprivileged() {
    let instructions = dockerfile();
    let all = |op: &str| -> Vec<&str> {
        instructions
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, a)| a.as_str())
            .collect()
    };
    let from = all("FROM");
    assert!(from.len() >= 2, "multi-stage: {from:?}");
    assert!(
        from.last().is_some_and(|f| f.contains("-slim")),
        "slim runtime: {from:?}"
    );

    // The dependency layer: Cargo.toml and Cargo.lock are copied, and built, before the sources.
    let position = |op: &str, needle: &str| {
        instructions
            .iter()
            .position(|(o, a)| o == op && a.contains(needle))
            .unwrap_or_else(|| panic!("no {op} with {needle}"))
    };
    let manifests = position("COPY", "Cargo.lock");
    let sources = position("COPY", "src");
    let deps_build = position("RUN", "cargo build");
    assert!(manifests < deps_build && deps_build < sources);

    let user = all("USER");
    let user = user.last().expect("a USER");
    let uid = user.split(':').next().unwrap_or_default();
    assert!(
        uid.parse::<u32>().is_ok_and(|uid| uid != 0),
        "numeric non-root user: {user}"
    );
    assert!(all("HEALTHCHECK")
        .iter()
        .any(|h| h.contains("/health/live")));
    assert_eq!(all("STOPSIGNAL"), ["SIGTERM"]);
    assert!(all("ENTRYPOINT")
        .iter()
        .any(|e| e.contains("docker-entrypoint.sh")));

    // ENV names are settings; the spool is on the writable volume.
    let env: BTreeMap<String, String> = all("ENV")
        .iter()
        .flat_map(|args| args.split_whitespace())
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_known_variables(env.keys().map(String::as_str), "Dockerfile ENV");
    assert!(env["ARCHIVE_SPOOL_DIR"].starts_with("/app/data/"));
    assert_eq!(env["ENV"], "production");

    // Everything the build copies from the context exists and is not ignored.
    for args in all("COPY") {
        if args.contains("--from=") {
            continue;
        }
        let words: Vec<&str> = args
            .split_whitespace()
            .filter(|w| !w.starts_with("--"))
            .collect();
        for source in &words[..words.len() - 1] {
            let source = source.trim_end_matches('/');
            assert!(path(source).exists(), "COPY {source}: no such file");
            assert!(
                !docker_ignores(source),
                "COPY {source}, but .dockerignore leaves it out"
            );
        }
    }
    for ignored in ["target", ".git", ".env", "gamehall.db", "tests/api/main.rs"] {
        assert!(docker_ignores(ignored), ".dockerignore lets {ignored} in");
    }
}

// ---- deploy/k8s -----------------------------------------------------------------------------

/// Every Kubernetes object in deploy/k8s, by file.
fn k8s_objects() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = fs::read_dir(path("deploy/k8s"))
        .expect("deploy/k8s")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|file| {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            yaml_documents(&format!("deploy/k8s/{name}"))
                .into_iter()
                .map(move |doc| (name.clone(), doc))
        })
        .collect()
}

fn k8s_object<'a>(objects: &'a [(String, Value)], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .map(|(_, o)| o)
        .find(|o| o["kind"].as_str() == Some(kind) && o["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("deploy/k8s has no {kind} {name}"))
}

fn config_map(objects: &[(String, Value)]) -> BTreeMap<String, String> {
    k8s_object(objects, "ConfigMap", "gamehall-config")["data"]
        .as_mapping()
        .expect("ConfigMap data")
        .iter()
        .map(|(k, v)| {
            (
                str_of(k, "a key").to_owned(),
                scalar(v).expect("a scalar value"),
            )
        })
        .collect()
}

fn int(value: &Value, what: &str) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("{what} is not a whole number: {value:?}"))
}

#[test]
fn k8s_manifests_parse_and_kustomization_lists_them() {
    let objects = k8s_objects();
    for (file, object) in &objects {
        assert!(object["apiVersion"].is_string(), "{file}: no apiVersion");
        assert!(object["kind"].is_string(), "{file}: no kind");
        if object["kind"] != "Kustomization" {
            assert!(
                object["metadata"]["name"].is_string(),
                "{file}: no metadata.name"
            );
        }
    }
    let kinds: BTreeSet<&str> = objects
        .iter()
        .filter_map(|(_, o)| o["kind"].as_str())
        .collect();
    for kind in [
        "Namespace",
        "ConfigMap",
        "Secret",
        "StatefulSet",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Ingress",
        "Kustomization",
    ] {
        assert!(kinds.contains(kind), "no {kind} in deploy/k8s: {kinds:?}");
    }

    // kustomization.yaml lists every manifest but the Secret's example (never deployed with
    // placeholder values), the optional ServiceMonitor (needs the operator's CRD) and the
    // migration Job (run by hand before an upgrade).
    let kustomization = yaml("deploy/k8s/kustomization.yaml");
    let listed: BTreeSet<String> = seq(&kustomization["resources"], "resources")
        .iter()
        .map(|r| str_of(r, "a resource").to_owned())
        .collect();
    let files: BTreeSet<String> = objects
        .iter()
        .map(|(file, _)| file.clone())
        .filter(|f| {
            ![
                "kustomization.yaml",
                "secret.example.yaml",
                "servicemonitor.yaml",
                "migrate-job.yaml",
            ]
            .contains(&f.as_str())
        })
        .collect();
    assert_eq!(listed, files);
    assert!(!listed.iter().any(|f| f.contains("secret")));
    let images = format!("{:?}", kustomization["images"]);
    assert!(images.contains("gamehall"), "{images}");
}

/// Read-only root, no privilege escalation, every capability dropped.
fn assert_container_locked_down(container: &Value) {
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(
        format!("{:?}", security["capabilities"]["drop"]),
        format!("{:?}", Value::Sequence(vec!["ALL".into()]))
    );
}

#[test]
fn k8s_migration_job_migrates_the_pods_database_once_and_runs_locked_down() {
    let objects = k8s_objects();
    let set = k8s_object(&objects, "StatefulSet", "gamehall");
    let server = &seq(&set["spec"]["template"]["spec"]["containers"], "containers")[0];
    let job = k8s_object(&objects, "Job", "gamehall-migrate");
    assert!(
        !job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "the Job's pod is labelled"
    );
    assert_ne!(
        job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"].as_str(),
        Some("gamehall"),
        "the StatefulSet, its Service and its PodDisruptionBudget must not select the Job's pod"
    );
    // One try: a failed migration was rolled back, and its log says why. Longer than the
    // StatefulSet's start-up budget, which is what the Job is for.
    assert_eq!(int(&job["spec"]["backoffLimit"], "backoffLimit"), 0);
    let startup = &server["startupProbe"];
    let startup_budget = int(&startup["periodSeconds"], "period")
        * int(&startup["failureThreshold"], "failureThreshold");
    assert!(
        int(
            &job["spec"]["activeDeadlineSeconds"],
            "activeDeadlineSeconds"
        ) >= 30 * startup_budget
    );
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
    let containers = seq(&pod["containers"], "containers");
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    // The entrypoint's `migrate`, with the server's image and its settings: the same database.
    assert_eq!(
        format!("{:?}", container["args"]),
        format!("{:?}", Value::Sequence(vec!["migrate".into()]))
    );
    assert!(
        container["command"].is_null(),
        "the image's entrypoint runs"
    );
    assert_eq!(container["image"], server["image"]);
    assert_eq!(container["envFrom"], server["envFrom"]);
    let entrypoint = read("deploy/docker-entrypoint.sh");
    assert!(
        entrypoint.contains("docker-entrypoint.sh migrate"),
        "the entrypoint takes `migrate`"
    );
    // Locked down like the pods.
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(
        pod["securityContext"]["runAsUser"],
        set["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    );
    assert_container_locked_down(container);
}

#[test]
fn k8s_pods_probe_health_drain_and_run_locked_down() {
    let objects = k8s_objects();
    let config = config_map(&objects);
    let set = k8s_object(&objects, "StatefulSet", "gamehall");
    let pod = &set["spec"]["template"]["spec"];
    let containers = seq(&pod["containers"], "containers");
    assert_eq!(containers.len(), 1);
    let container = &containers[0];

    let port = |name: &str| -> u64 {
        seq(&container["ports"], "ports")
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .map(|p| int(&p["containerPort"], "containerPort"))
            .unwrap_or_else(|| panic!("no port named {name}"))
    };
    assert_eq!(port("http").to_string(), config["PORT"]);
    assert_eq!(port("metrics").to_string(), config["METRICS_PORT"]);

    for (probe, path) in [
        ("startupProbe", "/health/live"),
        ("livenessProbe", "/health/live"),
        ("readinessProbe", "/health/ready"),
    ] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"].as_str(), Some(path), "{probe}");
        assert_eq!(get["port"].as_str(), Some("http"), "{probe}");
    }
    // Readiness waits for its checks, each bounded by HEALTH_CHECK_TIMEOUT.
    let check_timeout: u64 = config["HEALTH_CHECK_TIMEOUT"].parse().unwrap();
    assert!(
        int(
            &container["readinessProbe"]["timeoutSeconds"],
            "readiness timeout"
        ) > check_timeout
    );
    // Start-up may take the entrypoint's migration retries.
    let startup = &container["startupProbe"];
    let startup_budget = int(&startup["periodSeconds"], "period")
        * int(&startup["failureThreshold"], "failureThreshold");
    let attempts: u64 = config["GAMEHALL_MIGRATE_ATTEMPTS"].parse().unwrap();
    let delay: u64 = config["GAMEHALL_MIGRATE_DELAY"].parse().unwrap();
    assert!(startup_budget > attempts * delay, "{startup_budget}s");

    // SIGTERM drains games for SHUTDOWN_DRAIN_TIME after the preStop pause; the kill comes later.
    let drain: u64 = config["SHUTDOWN_DRAIN_TIME"].parse().unwrap();
    let pre_stop: u64 = seq(
        &container["lifecycle"]["preStop"]["exec"]["command"],
        "preStop",
    )
    .iter()
    .filter_map(scalar)
    .filter_map(|word| word.parse::<u64>().ok())
    .sum();
    let grace = int(
        &pod["terminationGracePeriodSeconds"],
        "terminationGracePeriodSeconds",
    );
    assert!(
        grace > drain + pre_stop + 5,
        "terminationGracePeriodSeconds {grace} must exceed SHUTDOWN_DRAIN_TIME {drain} + \
         preStop {pre_stop} with time to flush the archive"
    );

    // Memory: the guard acts before the OOM killer.
    let limit = bytes(
        str_of(&container["resources"]["limits"]["memory"], "memory limit"),
        false,
    );
    let request = bytes(
        str_of(
            &container["resources"]["requests"]["memory"],
            "memory request",
        ),
        false,
    );
    assert_memory_guard_fits(&config, limit, "the StatefulSet");
    assert!(request <= limit);

    // Locked down, as the image's numeric user; only /app/data (and /tmp) writable.
    let uid = dockerfile()
        .iter()
        .rev()
        .find(|(op, _)| op == "USER")
        .and_then(|(_, args)| args.split(':').next().and_then(|u| u.parse::<u64>().ok()))
        .expect("the Dockerfile's numeric USER");
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(int(&pod["securityContext"]["runAsUser"], "runAsUser"), uid);
    assert_container_locked_down(container);
    let data = seq(&container["volumeMounts"], "volumeMounts")
        .iter()
        .find(|m| m["mountPath"].as_str() == Some("/app/data"))
        .expect("a volume at /app/data");
    let volume = str_of(&data["name"], "volume name");
    let claimed = set["spec"]["volumeClaimTemplates"]
        .as_sequence()
        .is_some_and(|t| t.iter().any(|t| t["metadata"]["name"] == volume));
    let mounted = pod["volumes"]
        .as_sequence()
        .is_some_and(|v| v.iter().any(|v| v["name"] == volume));
    assert!(claimed || mounted, "/app/data is not backed by a volume");
    assert!(config["ARCHIVE_SPOOL_DIR"].starts_with("/app/data/"));

    // Settings from the ConfigMap, secrets from the Secret.
    let sources: Vec<String> = seq(&container["envFrom"], "envFrom")
        .iter()
        .map(|s| format!("{:?}", s))
        .collect();
    assert!(sources[0].contains("configMapRef") && sources[0].contains("gamehall-config"));
    assert!(sources[1].contains("secretRef") && sources[1].contains("gamehall-secrets"));

    // Prometheus scrapes the metrics port.
    let annotations = &set["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(
        annotations["prometheus.io/port"].as_str(),
        Some(config["METRICS_PORT"].as_str())
    );
    assert_eq!(annotations["prometheus.io/path"].as_str(), Some("/metrics"));
}

#[test]
fn k8s_settings_are_known_and_secrets_stay_secret() {
    let objects = k8s_objects();
    let config = config_map(&objects);
    assert_known_variables(config.keys().map(String::as_str), "the ConfigMap");
    for secret in SECRET_VARIABLES {
        assert!(
            !config.contains_key(secret),
            "{secret} belongs in the Secret"
        );
    }
    assert_eq!(config["ENV"], "production");
    let secret = k8s_object(&objects, "Secret", "gamehall-secrets");
    let keys: BTreeSet<&str> = secret["stringData"]
        .as_mapping()
        .expect("stringData")
        .keys()
        .map(|k| str_of(k, "a key"))
        .collect();
    assert_known_variables(keys.iter().copied(), "the Secret");
    assert_eq!(keys, SECRET_VARIABLES.into_iter().collect());
    // No container sets variables one by one outside the two sources above.
    let set = k8s_object(&objects, "StatefulSet", "gamehall");
    for container in seq(&set["spec"]["template"]["spec"]["containers"], "containers") {
        if let Some(env) = container["env"].as_sequence() {
            assert_known_variables(
                env.iter().map(|e| str_of(&e["name"], "an env name")),
                "the StatefulSet",
            );
        }
    }
}

#[test]
fn k8s_service_is_sticky_and_scaling_disruption_and_network_match_the_pods() {
    let objects = k8s_objects();
    let config = config_map(&objects);
    let set = k8s_object(&objects, "StatefulSet", "gamehall");
    let pod_labels = set["spec"]["template"]["metadata"]["labels"]
        .as_mapping()
        .expect("pod labels");
    let selects_pods = |selector: &Value, whose: &str| {
        let selector = selector.as_mapping().expect("a selector");
        assert!(!selector.is_empty(), "{whose}: empty selector");
        for (k, v) in selector {
            assert_eq!(pod_labels.get(k), Some(v), "{whose} selects {k:?}={v:?}");
        }
    };
    selects_pods(&set["spec"]["selector"]["matchLabels"], "StatefulSet");

    let service = k8s_object(&objects, "Service", "gamehall");
    assert_eq!(
        service["spec"]["sessionAffinity"].as_str(),
        Some("ClientIP")
    );
    selects_pods(&service["spec"]["selector"], "Service");
    let headless = k8s_object(&objects, "Service", "gamehall-headless");
    assert_eq!(headless["spec"]["clusterIP"].as_str(), Some("None"));
    assert_eq!(
        set["spec"]["serviceName"].as_str(),
        Some("gamehall-headless")
    );

    let hpa = k8s_object(&objects, "HorizontalPodAutoscaler", "gamehall");
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["kind"].as_str(),
        Some("StatefulSet")
    );
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["name"].as_str(),
        Some("gamehall")
    );
    let min = int(&hpa["spec"]["minReplicas"], "minReplicas");
    assert!(min >= 2 && int(&hpa["spec"]["maxReplicas"], "maxReplicas") > min);
    assert!(
        set["spec"]["replicas"].is_null(),
        "the HPA owns replicas; a fixed count would reset the scale on every apply"
    );

    let pdb = k8s_object(&objects, "PodDisruptionBudget", "gamehall");
    selects_pods(
        &pdb["spec"]["selector"]["matchLabels"],
        "PodDisruptionBudget",
    );

    let policy = k8s_object(&objects, "NetworkPolicy", "gamehall");
    selects_pods(
        &policy["spec"]["podSelector"]["matchLabels"],
        "NetworkPolicy",
    );
    let ports = |rules: &Value| -> BTreeSet<u64> {
        seq(rules, "rules")
            .iter()
            .flat_map(|rule| seq(&rule["ports"], "ports").iter())
            .map(|p| int(&p["port"], "port"))
            .collect()
    };
    let ingress = ports(&policy["spec"]["ingress"]);
    let expected: BTreeSet<u64> = [&config["PORT"], &config["METRICS_PORT"]]
        .iter()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(ingress, expected);
    let egress = ports(&policy["spec"]["egress"]);
    assert_eq!(egress, [53, 5432, 6379].into());

    let ingress = k8s_object(&objects, "Ingress", "gamehall");
    let backend = format!("{:?}", ingress["spec"]["rules"]);
    assert!(backend.contains("gamehall") && backend.contains("http"));
    assert!(
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]
            .as_str()
            .and_then(|t| t.parse::<u64>().ok())
            .is_some_and(|t| t >= 3600),
        "WebSockets need long proxy timeouts"
    );
}

// ---- Prometheus and Grafana -----------------------------------------------------------------

#[test]
fn prometheus_scrapes_gamehall_and_loads_the_alert_rules() {
    let config = yaml("deploy/prometheus/prometheus.yml");
    let job = seq(&config["scrape_configs"], "scrape_configs")
        .iter()
        .find(|j| j["job_name"] == "gamehall")
        .expect("a gamehall job");
    assert_eq!(job["metrics_path"].as_str(), Some("/metrics"));
    let targets = format!("{:?}", job["static_configs"]);
    assert!(targets.contains("gamehall:8080"), "{targets}");
    for file in seq(&config["rule_files"], "rule_files") {
        let file = str_of(file, "a rule file");
        assert!(
            path("deploy/prometheus").join(file).exists(),
            "{file} is missing"
        );
    }
    // compose mounts the folder where --config.file looks.
    let compose = compose();
    let prometheus = service(&compose, "prometheus");
    assert!(format!("{:?}", prometheus["volumes"]).contains("./deploy/prometheus:/etc/prometheus"));
    assert!(format!("{:?}", prometheus["command"]).contains("/etc/prometheus/prometheus.yml"));
}

#[test]
fn the_operator_gets_the_same_alert_rules_and_the_job_they_read() {
    let (ok, stdout, stderr) = run_script("deploy/k8s/prometheusrule.sh", &[], &[]);
    assert!(ok, "{stderr}");
    let rule: Value = serde_yaml_ng::from_str(&stdout).expect("a YAML document");
    assert_eq!(rule["kind"].as_str(), Some("PrometheusRule"));
    assert_eq!(
        rule["apiVersion"].as_str(),
        Some("monitoring.coreos.com/v1")
    );
    assert_eq!(rule["metadata"]["name"].as_str(), Some("gamehall"));
    // Every rule as it is in the file compose's Prometheus loads, nothing added or lost.
    let rules = yaml("deploy/prometheus/alerts.yml");
    assert_eq!(rule["spec"]["groups"], rules["groups"]);
    assert!(!seq(&rule["spec"]["groups"], "groups").is_empty());

    // GamehallInstanceDown reads `up{job="gamehall"}`; the ServiceMonitor names the job so.
    let monitor = yaml("deploy/k8s/servicemonitor.yaml");
    let endpoints = seq(&monitor["spec"]["endpoints"], "endpoints");
    for endpoint in endpoints {
        let relabel = seq(&endpoint["relabelings"], "relabelings");
        assert!(
            relabel
                .iter()
                .any(|r| r["targetLabel"] == "job" && r["replacement"] == "gamehall"),
            "{relabel:?}"
        );
    }
    let alerts = read("deploy/prometheus/alerts.yml");
    assert!(alerts.contains(r#"up{job="gamehall"}"#));
}

#[test]
fn alert_rules_cover_the_seeds_alerts_with_known_metrics() {
    let rules = yaml("deploy/prometheus/alerts.yml");
    let mut alerts = BTreeMap::new();
    for group in seq(&rules["groups"], "groups") {
        for rule in seq(&group["rules"], "rules") {
            let name = str_of(&rule["alert"], "alert name").to_owned();
            let expr = str_of(&rule["expr"], "expr");
            let metrics = assert_known_metrics(expr, &name);
            assert!(
                rule["labels"]["severity"].is_string(),
                "{name}: no severity"
            );
            assert!(
                rule["annotations"]["summary"].is_string(),
                "{name}: no summary"
            );
            alerts.insert(name, metrics);
        }
    }
    for (alert, metric) in [
        ("GamehallInstanceDown", "up"),
        (
            "GamehallMemoryHigh",
            "gamehall_process_resident_memory_bytes",
        ),
        ("GamehallArchiveFailures", "gamehall_archive_failed_total"),
        ("GamehallHighHttpErrorRate", "gamehall_http_requests_total"),
    ] {
        let metrics = alerts
            .get(alert)
            .unwrap_or_else(|| panic!("no alert {alert}"));
        assert!(metrics.contains(metric), "{alert} does not read {metric}");
    }
}

/// Where Debian's `prometheus` package puts promtool; tests/run.sh installs the package.
const PROMTOOL: &str = "/usr/bin/promtool";

/// Runs promtool in deploy/prometheus (where the files name each other by relative path).
/// A missing promtool fails the test: these checks are never skipped.
fn promtool(args: &[&str]) -> (bool, String) {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is missing: install Debian's `prometheus` package (tests/run.sh does)"
    );
    let out = Command::new(PROMTOOL)
        .args(args)
        .current_dir(path("deploy/prometheus"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {PROMTOOL}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Every rule file: those prometheus.yml loads and those alerts_test.yml tests.
fn rule_files() -> BTreeSet<String> {
    [
        "deploy/prometheus/prometheus.yml",
        "deploy/prometheus/alerts_test.yml",
    ]
    .iter()
    .flat_map(|file| {
        seq(&yaml(file)["rule_files"], "rule_files")
            .iter()
            .map(|f| str_of(f, "a rule file").to_owned())
            .collect::<Vec<_>>()
    })
    .collect()
}

#[test]
fn promtool_accepts_the_rules_and_the_config_and_the_rule_tests_pass() {
    let files = rule_files();
    assert!(files.contains("alerts.yml"), "{files:?}");
    for file in &files {
        let (ok, out) = promtool(&["check", "rules", file]);
        assert!(ok, "promtool check rules {file}:\n{out}");
    }
    let (ok, out) = promtool(&["test", "rules", "alerts_test.yml"]);
    assert!(ok, "promtool test rules alerts_test.yml:\n{out}");
    assert!(out.contains("SUCCESS"), "{out}");
    // prometheus.yml names its rule files relative to itself, and compose mounts the folder
    // whole at /etc/prometheus, so the same file checks here as it loads in the container; its
    // only target (gamehall:8080) is not resolved by a check.
    let (ok, out) = promtool(&["check", "config", "prometheus.yml"]);
    assert!(ok, "promtool check config prometheus.yml:\n{out}");
}

#[test]
fn every_alert_has_a_promtool_test_that_fires_it_and_one_that_does_not() {
    let rules = yaml("deploy/prometheus/alerts.yml");
    let alerts: BTreeSet<String> = seq(&rules["groups"], "groups")
        .iter()
        .flat_map(|group| seq(&group["rules"], "rules").iter())
        .filter_map(|rule| rule["alert"].as_str().map(str::to_owned))
        .collect();
    let tests = yaml("deploy/prometheus/alerts_test.yml");
    let (mut fired, mut quiet) = (BTreeSet::new(), BTreeSet::new());
    for test in seq(&tests["tests"], "tests") {
        for case in seq(&test["alert_rule_test"], "alert_rule_test") {
            let name = str_of(&case["alertname"], "alertname").to_owned();
            assert!(
                alerts.contains(&name),
                "alerts_test.yml tests an unknown alert {name}"
            );
            if seq(&case["exp_alerts"], "exp_alerts").is_empty() {
                quiet.insert(name);
            } else {
                fired.insert(name);
            }
        }
    }
    let never_fired: Vec<_> = alerts.difference(&fired).collect();
    assert!(never_fired.is_empty(), "no test fires {never_fired:?}");
    // ... and quiet before its condition (or its `for`) is met: an alert that always fires
    // passes a test that only expects it to.
    let never_quiet: Vec<_> = alerts.difference(&quiet).collect();
    assert!(
        never_quiet.is_empty(),
        "no test shows {never_quiet:?} quiet"
    );
}

#[test]
fn grafana_dashboard_reads_every_metric_and_nothing_else() {
    let datasources = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    let datasource = &seq(&datasources["datasources"], "datasources")[0];
    let uid = str_of(&datasource["uid"], "datasource uid");
    assert_eq!(datasource["url"].as_str(), Some("http://prometheus:9090"));

    let dashboard: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/dashboards/gamehall.json"))
            .expect("the dashboard is JSON");
    let mut used = BTreeSet::new();
    let mut ids = BTreeSet::new();
    let mut quantiles = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        let title = panel["title"].as_str().unwrap_or("?");
        let id = panel["id"].as_u64().expect("panel id");
        assert!(ids.insert(id), "panel id {id} twice");
        assert!(panel["gridPos"].is_object(), "{title}: no gridPos");
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"].as_str(), Some(uid), "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for target in targets {
            let expr = target["expr"].as_str().expect("expr");
            for series in assert_known_metrics(expr, title) {
                used.insert(metric_of(&series).to_owned());
            }
            if expr.contains("gamehall_move_broadcast_seconds_bucket") {
                if let Some(q) = expr
                    .strip_prefix("histogram_quantile(")
                    .and_then(|rest| rest.split(',').next())
                {
                    quantiles.insert(q.trim().to_owned());
                }
            }
        }
    }
    for template in dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
    {
        let query = template["query"]["query"]
            .as_str()
            .or(template["query"].as_str())
            .expect("a variable query");
        let metric = query
            .strip_prefix("label_values(")
            .and_then(|rest| rest.split(',').next())
            .expect("label_values(metric, label)");
        assert!(is_known_series(metric.trim()), "{query}");
    }
    let every: BTreeSet<String> = SCALAR_METRICS
        .iter()
        .chain(HISTOGRAM_METRICS)
        .map(|m| m.to_string())
        .collect();
    let missing: Vec<_> = every.difference(&used).collect();
    assert!(
        missing.is_empty(),
        "the dashboard shows nothing of {missing:?}"
    );
    assert_eq!(quantiles, ["0.5", "0.95", "0.99"].map(String::from).into());

    // Grafana loads it from where compose mounts it.
    let providers = yaml("deploy/grafana/provisioning/dashboards/gamehall.yml");
    let folder = str_of(
        &seq(&providers["providers"], "providers")[0]["options"]["path"],
        "provider path",
    );
    let compose = compose();
    let mounts = format!("{:?}", service(&compose, "grafana")["volumes"]);
    assert!(
        mounts.contains(&format!("./deploy/grafana/dashboards:{folder}")),
        "{mounts}"
    );
}

// ---- the entrypoint, for real ---------------------------------------------------------------

/// A free port on the loopback interface (free when asked; the server binds it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `GET path` on 127.0.0.1:port: the status code and body, or `None` while nothing answers.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    Some((status, body))
}

/// `deploy/docker-entrypoint.sh`, started as the image starts it: the built `gamehall` on the
/// PATH, production settings, nothing else from the test's environment. Its output goes to
/// files in its working directory; the process is killed if the test ends first.
struct Entrypoint {
    child: Child,
    dir: tempfile::TempDir,
}

impl Entrypoint {
    fn start(args: &[&str], vars: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let bin_dir = Path::new(env!("CARGO_BIN_EXE_gamehall"))
            .parent()
            .expect("the binary's folder");
        let search_path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
        );
        let mut command = Command::new(path("deploy/docker-entrypoint.sh"));
        command
            .args(args)
            .env_clear()
            .env("PATH", search_path)
            .env("ENV", "production")
            .env("HOST", "127.0.0.1")
            .env("JWT_SECRET", "deploy-test-jwt-secret-0123456789")
            .env("ADMIN_TOKEN", "deploy-test-admin-token-0123456789")
            .env("ARCHIVE_SPOOL_DIR", dir.path().join("spool"))
            // No {ENV}.toml here: only the compiled-in layers, as in the image.
            .env("GAMEHALL_CONFIG_DIR", dir.path())
            .env("LOG_FORMAT", "json")
            .env("SHUTDOWN_DRAIN_TIME", "1")
            .env("GAMEHALL_MIGRATE_DELAY", "1")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(File::create(dir.path().join("stdout.log")).expect("a log file"))
            .stderr(File::create(dir.path().join("stderr.log")).expect("a log file"));
        for (name, value) in vars {
            command.env(name, value);
        }
        let child = command.spawn().expect("the entrypoint starts");
        Self { child, dir }
    }

    fn stdout(&self) -> String {
        fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    fn logs(&self) -> String {
        format!(
            "--- stderr\n{}\n--- stdout\n{}",
            self.stderr(),
            self.stdout()
        )
    }

    /// The entrypoint's own log lines (JSON, `source: docker-entrypoint`).
    fn own_lines(&self) -> Vec<serde_json::Value> {
        self.stderr()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| line["source"] == "docker-entrypoint")
            .collect()
    }

    fn wait_until(&mut self, what: &str, timeout: Duration, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("the process's status") {
                panic!("exited ({status}) before {what}\n{}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {timeout:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_for_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("the process's status") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {timeout:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn sigterm(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
    }

    /// Waits until the server the entrypoint started answers `/health/ready` with 200 on `port`.
    fn wait_until_ready(&mut self, port: u16) {
        self.wait_until("/health/ready 200", Duration::from_secs(60), |_| {
            matches!(http_get(port, "/health/ready"), Some((200, _)))
        });
    }

    /// SIGTERM, and the clean exit (status 0) that follows it.
    fn stop_cleanly(&mut self) {
        self.sigterm();
        let status = self.wait_for_exit(Duration::from_secs(30));
        assert_eq!(status.code(), Some(0), "{}", self.logs());
    }
}

impl Drop for Entrypoint {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn archive_tables_exist(db: &pg::TestPgDb) -> bool {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
        "to_regclass('archive.completed_games') IS NOT NULL \
         AND to_regclass('archive.game_events') IS NOT NULL",
    ))
    .get_result::<bool>(&mut db.connect())
    .expect("a query on the test database")
}

fn server_vars(db_url: &str, port: u16, metrics_port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", db_url.to_owned()),
        ("PORT", port.to_string()),
        ("METRICS_PORT", metrics_port.to_string()),
        ("REDIS_URL", "redis://127.0.0.1:6379/0".to_owned()),
    ]
}

#[test]
fn entrypoint_migrates_serves_and_exits_zero_on_sigterm() {
    let db = pg::TestPgDb::create();
    let (port, metrics_port) = (free_port(), free_port());
    let mut server = Entrypoint::start(&[], &server_vars(&db.url, port, metrics_port));
    server.wait_until_ready(port);
    assert!(archive_tables_exist(&db), "{}", server.logs());

    // What the image's HEALTHCHECK, compose and the probes rely on.
    let (status, body) = http_get(port, "/health/live").expect("an answer");
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_get(port, "/health").expect("an answer");
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("JSON health");
    assert_eq!(health["status"], "healthy", "{body}");
    assert!(health["checks"].is_object(), "{body}");
    // Prometheus scrapes METRICS_PORT in Kubernetes.
    let (status, metrics) = http_get(metrics_port, "/metrics").expect("metrics answer");
    assert_eq!(status, 200);
    assert!(metrics.contains("gamehall_"), "{metrics}");
    // ... and there only, not on the port the ingress forwards.
    let (status, _) = http_get(port, "/metrics").expect("an answer");
    assert_eq!(status, 404);
    // The database is probed from start-up on, not only when someone asks for readiness.
    assert!(metrics.contains("gamehall_database_up 1"), "{metrics}");
    assert!(metrics.contains("gamehall_redis_up 1"), "{metrics}");

    // The smoke checks that compose's test profile runs pass against it.
    let smoke = Command::new(path("deploy/smoke-test.sh"))
        .env("GAMEHALL_URL", format!("http://127.0.0.1:{port}"))
        .env("ADMIN_TOKEN", "deploy-test-admin-token-0123456789")
        .env("SMOKE_WAIT_SECONDS", "10")
        .env("METRICS_URL", format!("http://127.0.0.1:{metrics_port}"))
        .env_remove("METRICS_ENABLED")
        .output()
        .expect("the smoke checks run");
    let smoke_out = String::from_utf8_lossy(&smoke.stdout);
    assert!(
        smoke.status.success(),
        "{smoke_out}\n{}\n{}",
        String::from_utf8_lossy(&smoke.stderr),
        server.logs()
    );
    assert!(smoke_out.contains("every check passed"), "{smoke_out}");

    // The shell was replaced by the server (same pid), which gets SIGTERM itself and exits 0.
    server.stop_cleanly();

    let own = server.own_lines();
    let messages: Vec<&str> = own.iter().filter_map(|l| l["msg"].as_str()).collect();
    assert_eq!(
        messages,
        [
            "applying archive migrations",
            "archive migrations are up to date",
            "starting gamehall serve"
        ],
        "{}",
        server.logs()
    );
    for line in server.stdout().lines() {
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
        assert!(record["msg"].is_string(), "{line}");
    }
}

#[test]
fn entrypoint_retries_until_the_database_exists() {
    // The database is created only after the first attempt failed, as when the container
    // starts before its database is ready.
    let db = pg::TestPgDb::create();
    pg::pg_admin()
        .batch_execute(&format!(r#"DROP DATABASE "{}""#, db.name))
        .expect("drop the database for now");
    let port = free_port();
    let mut server = Entrypoint::start(
        &["serve"],
        &[
            ("DATABASE_URL", db.url.clone()),
            ("PORT", port.to_string()),
            ("GAMEHALL_MIGRATE_ATTEMPTS", "30".to_owned()),
        ],
    );
    server.wait_until("a retry", Duration::from_secs(20), |s| {
        s.own_lines()
            .iter()
            .any(|l| l["level"] == "WARN" && l["attempt"] == 1)
    });
    pg::pg_admin()
        .batch_execute(&format!(r#"CREATE DATABASE "{}""#, db.name))
        .expect("create the database");
    server.wait_until_ready(port);
    assert!(archive_tables_exist(&db));
    server.stop_cleanly();
}

#[test]
fn entrypoint_serve_no_migrate_skips_the_migration_step() {
    // A database that a migration Job prepared: nothing is left for the container to apply,
    // and `serve --no-migrate` must start the server as it is, with the flag given once.
    let db = pg::TestPgDb::create();
    let migrate = Entrypoint::start(&["migrate"], &[("DATABASE_URL", db.url.clone())])
        .wait_for_exit(Duration::from_secs(60));
    assert_eq!(migrate.code(), Some(0));
    let port = free_port();
    let mut server = Entrypoint::start(
        &["serve", "--no-migrate"],
        &[("DATABASE_URL", db.url.clone()), ("PORT", port.to_string())],
    );
    server.wait_until_ready(port);
    server.stop_cleanly();
    let own = server.own_lines();
    let messages: Vec<&str> = own.iter().filter_map(|l| l["msg"].as_str()).collect();
    assert_eq!(
        messages,
        ["starting gamehall serve without migrating (--no-migrate)"],
        "{}",
        server.logs()
    );
}

#[test]
fn entrypoint_gives_up_with_a_clear_message_when_the_database_stays_down() {
    let closed = free_port();
    let started = Instant::now();
    let mut run = Entrypoint::start(
        &[],
        &[
            (
                "DATABASE_URL",
                format!("postgres://gamehall:s3cret-pw@127.0.0.1:{closed}/gamehall"),
            ),
            ("PORT", free_port().to_string()),
            ("GAMEHALL_MIGRATE_ATTEMPTS", "3".to_owned()),
            ("GAMEHALL_MIGRATE_DELAY", "0".to_owned()),
        ],
    );
    let status = run.wait_for_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{}", run.logs());
    assert!(started.elapsed() < Duration::from_secs(20));

    let own = run.own_lines();
    let attempts: Vec<u64> = own
        .iter()
        .filter(|l| l["msg"] == "applying archive migrations")
        .filter_map(|l| l["attempt"].as_u64())
        .collect();
    assert_eq!(attempts, [1, 2, 3], "{}", run.logs());
    let retries = own.iter().filter(|l| l["level"] == "WARN").count();
    assert_eq!(retries, 2, "{}", run.logs());
    let last = own.last().expect("a last line");
    assert_eq!(last["level"], "ERRO");
    let message = last["msg"].as_str().unwrap_or_default();
    assert!(
        message.contains("giving up") && message.contains("3 times"),
        "{message}"
    );
    assert!(message.contains("DATABASE_URL"), "{message}");
    // The server never started, and the entrypoint never printed the password.
    assert!(!run.stderr().contains("starting gamehall serve"));
    for line in &own {
        assert!(!line.to_string().contains("s3cret"), "{line}");
    }
}

#[test]
fn entrypoint_does_not_retry_an_invalid_configuration() {
    let mut run = Entrypoint::start(
        &[],
        &[
            ("DATABASE_URL", "postgres://127.0.0.1:1/x".to_owned()),
            ("PORT", "eighty".to_owned()),
        ],
    );
    let status = run.wait_for_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(2), "{}", run.logs());
    assert!(run.stderr().contains("PORT"), "{}", run.logs());
    let own = run.own_lines();
    assert_eq!(
        own.len(),
        2,
        "one attempt, then the refusal: {}",
        run.logs()
    );
    assert!(own[1]["msg"]
        .as_str()
        .is_some_and(|m| m.contains("not retrying")));
}

#[test]
fn entrypoint_runs_other_commands_as_they_are() {
    let mut run = Entrypoint::start(
        &["--version"],
        &[("DATABASE_URL", "postgres://127.0.0.1:1/x".to_owned())],
    );
    let status = run.wait_for_exit(Duration::from_secs(20));
    assert!(status.success(), "{}", run.logs());
    assert!(run.stdout().starts_with("gamehall "), "{}", run.logs());
    assert!(run.own_lines().is_empty(), "no migration: {}", run.logs());

    let mut run = Entrypoint::start(
        &["migrate"],
        &[
            ("DATABASE_URL", "postgres://127.0.0.1:1/x".to_owned()),
            ("GAMEHALL_MIGRATE_ATTEMPTS", "x".to_owned()),
        ],
    );
    assert_eq!(
        run.wait_for_exit(Duration::from_secs(20)).code(),
        Some(2),
        "a bad GAMEHALL_MIGRATE_ATTEMPTS is refused: {}",
        run.logs()
    );
}

// ---------------------------------------------------------------------------------------------
// Backups: deploy/backup.sh and deploy/restore-test.sh against the local PostgreSQL

/// Runs one of the deploy scripts with `vars`; returns (success, stdout, stderr).
fn run_script(script: &str, args: &[&str], vars: &[(&str, &str)]) -> (bool, String, String) {
    let output = Command::new(path(script))
        .args(args)
        .envs(vars.iter().copied())
        .output()
        .unwrap_or_else(|err| panic!("run {script}: {err}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Archives `games` small games straight into `db` (already migrated), three events each.
fn archive_rows(db: &pg::TestPgDb, first: usize, games: usize) {
    let mut sql = String::new();
    for n in first..first + games {
        sql.push_str(&format!(
            "INSERT INTO archive.completed_games (game_id, room_id, game_kind, game_data, \
             completed_at, seed) VALUES ('g-{n}', 'r-{n}', 'tictactoe', \
             '{{\"players\": [\"Ada {n}\"], \"note\": \"ü\"}}', now(), {n});\n"
        ));
        for seq in 1..=3 {
            sql.push_str(&format!(
                "INSERT INTO archive.game_events (game_id, seq, event_type, event_data, \
                 event_timestamp) VALUES ('g-{n}', {seq}, 'move', '{{\"cell\": {seq}}}', now());\n"
            ));
        }
    }
    db.connect()
        .batch_execute(&sql)
        .expect("insert archive rows");
}

#[test]
fn a_backup_restores_to_the_same_archive_and_old_dumps_are_pruned() {
    let source = pg::TestPgDb::create();
    let scratch = pg::TestPgDb::create();
    let gamehall = env!("CARGO_BIN_EXE_gamehall");
    let migrate = Command::new(gamehall)
        .arg("migrate")
        .env("DATABASE_URL", &source.url)
        .output()
        .expect("gamehall migrate runs");
    assert!(migrate.status.success(), "{migrate:?}");
    archive_rows(&source, 0, 5);

    let backups = tempfile::tempdir().expect("a temporary directory");
    let backup_dir = backups.path().to_str().expect("a UTF-8 path");
    // A dump older than the retention, which the run must delete, and an unrelated file it
    // must leave alone.
    let old = backups.path().join("gamehall-20000101T000000Z.dump");
    fs::write(&old, b"old").expect("write an old dump");
    let touched = Command::new("touch")
        .args(["-d", "10 days ago"])
        .arg(&old)
        .status()
        .expect("touch runs");
    assert!(touched.success());
    fs::write(backups.path().join("notes.txt"), b"keep").expect("write a file");

    let (ok, stdout, stderr) = run_script(
        "deploy/backup.sh",
        &[],
        &[
            ("DATABASE_URL", &source.url),
            ("BACKUP_DIR", backup_dir),
            ("BACKUP_RETENTION_DAYS", "7"),
        ],
    );
    assert!(ok, "{stdout}\n{stderr}");
    let dump = PathBuf::from(stdout.trim());
    assert!(
        dump.starts_with(backups.path()) && dump.is_file(),
        "{stdout}"
    );
    assert!(!old.exists(), "the expired dump is still there: {stderr}");
    assert!(backups.path().join("notes.txt").exists());
    let leftovers: Vec<_> = fs::read_dir(backups.path())
        .expect("list the backup folder")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "a partial dump was left behind");

    // The newest dump restores into the empty scratch database with the same content; the
    // restored schema is current (migrate has nothing to do).
    let restore_vars = [
        ("RESTORE_DATABASE_URL", scratch.url.as_str()),
        ("SOURCE_DATABASE_URL", source.url.as_str()),
        ("BACKUP_DIR", backup_dir),
        ("GAMEHALL_BIN", gamehall),
    ];
    let (ok, stdout, stderr) = run_script("deploy/restore-test.sh", &[], &restore_vars);
    assert!(ok, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("a JSON report");
    assert_eq!(report["games"], 5, "{stdout}");
    assert_eq!(report["events"], 15, "{stdout}");
    assert_eq!(
        report["dump"],
        dump.to_str().expect("a UTF-8 path"),
        "{stdout}"
    );

    // The check can fail: a game archived after the dump makes the source differ.
    archive_rows(&source, 5, 1);
    let (ok, stdout, stderr) = run_script(
        "deploy/restore-test.sh",
        &[dump.to_str().expect("a UTF-8 path")],
        &restore_vars,
    );
    assert!(!ok, "a differing restore passed: {stdout}");
    assert!(stderr.contains("MISMATCH"), "{stderr}");
}

#[test]
fn backup_refuses_what_it_cannot_back_up() {
    let backups = tempfile::tempdir().expect("a temporary directory");
    let dir = backups.path().to_str().expect("a UTF-8 path");
    let (ok, _, stderr) = run_script(
        "deploy/backup.sh",
        &[],
        &[
            ("DATABASE_URL", "sqlite://gamehall.db"),
            ("BACKUP_DIR", dir),
        ],
    );
    assert!(!ok);
    assert!(stderr.contains("not a PostgreSQL URL"), "{stderr}");
    let (ok, _, stderr) = run_script(
        "deploy/backup.sh",
        &[],
        &[
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
            ("BACKUP_DIR", dir),
            ("BACKUP_RETENTION_DAYS", "a week"),
        ],
    );
    assert!(!ok);
    assert!(stderr.contains("BACKUP_RETENTION_DAYS"), "{stderr}");
    // And a database that does not exist leaves no file behind.
    let missing = pg::database_url_for(&pg::pg_admin_url(), "gamehall_no_such_database");
    let (ok, _, _) = run_script(
        "deploy/backup.sh",
        &[],
        &[("DATABASE_URL", &missing), ("BACKUP_DIR", dir)],
    );
    assert!(!ok);
    assert_eq!(
        fs::read_dir(backups.path()).expect("list").count(),
        0,
        "a failed backup left a file"
    );
}

#[test]
fn backups_run_daily_in_compose_and_kubernetes_with_the_database_secret() {
    let compose = compose();
    let backup = service(&compose, "backup");
    assert!(str_of(&backup["image"], "image").starts_with("postgres:15"));
    assert!(format!("{:?}", backup["profiles"]).contains("backup"));
    let env = environment(backup);
    assert!(
        env["DATABASE_URL"].contains("@postgres:5432/gamehall"),
        "{env:?}"
    );
    assert!(format!("{:?}", backup["volumes"]).contains("deploy/backup.sh"));
    assert_eq!(depends_on_condition(backup, "postgres"), "service_healthy");

    let objects = k8s_objects();
    let cron = k8s_object(&objects, "CronJob", "gamehall-backup");
    let schedule = str_of(&cron["spec"]["schedule"], "schedule");
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    assert_eq!(fields.len(), 5, "{schedule}");
    assert_eq!(&fields[2..], ["*", "*", "*"], "not daily: {schedule}");
    assert_eq!(cron["spec"]["concurrencyPolicy"].as_str(), Some("Forbid"));
    let pod = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let container = &seq(&pod["containers"], "containers")[0];
    let script = format!("{:?}", container["command"]);
    for step in [
        "pg_dump --format=custom",
        "pg_restore --list",
        "mv ",
        "-mtime",
    ] {
        assert!(
            script.contains(step),
            "the CronJob skips {step:?}: {script}"
        );
    }
    let env = format!("{:?}", container["env"]);
    assert!(
        env.contains("gamehall-secrets") && env.contains("DATABASE_URL"),
        "{env}"
    );
    let claim = str_of(
        &seq(&pod["volumes"], "volumes")[0]["persistentVolumeClaim"]["claimName"],
        "claimName",
    );
    k8s_object(&objects, "PersistentVolumeClaim", claim);
}

#[test]
fn the_operations_guide_documents_every_setting_with_its_default() {
    let guide = read("docs/operations.md");
    let section = guide
        .split("\n## Configuration\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/operations.md has a Configuration section");
    let documented: BTreeSet<String> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| name.to_owned())
        .collect();
    assert_eq!(
        documented,
        settings(),
        "the configuration table in docs/operations.md and config/default.toml disagree"
    );
}
