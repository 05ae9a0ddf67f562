//! The `gamehall` binary itself: help, configuration errors, and serving on embedded defaults.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_gamehall");

#[test]
fn help_explains_every_command() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["serve", "migrate", "--config-dir"] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--no-migrate"));
}

#[test]
fn a_bad_variable_stops_start_up_with_one_line_naming_it() {
    for (var, value) in [
        ("PORT", "eighty"),
        ("MAX_ACTIVE_GAMES", "lots"),
        ("LOG_FORMAT", "xml"),
        ("ENV", "staging"),
        ("DATABASE_URL", "mysql://u:secret@db/x"),
    ] {
        let out = Command::new(BIN)
            .arg("serve")
            .env(var, value)
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(var), "{stderr}");
        assert!(!stderr.contains("secret"), "a password leaked: {stderr}");
    }
    let out = Command::new(BIN)
        .arg("serve")
        .env("ENV", "production")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("JWT_SECRET"));
}

#[test]
fn serve_runs_on_embedded_defaults_from_any_directory() {
    let dir = std::env::temp_dir().join(format!("gamehall-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("PORT", port.to_string())
        .env("LOG_FORMAT", "json")
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let live = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut stream) => {
                use std::io::{Read, Write};
                stream
                    .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .unwrap();
                let mut response = String::new();
                let _ = stream.read_to_string(&mut response);
                break response;
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(err) => panic!("server never listened: {err}"),
        }
    };
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    assert!(live.starts_with("HTTP/1.1 200"), "{live}");
    assert!(live.contains(r#""status":"alive""#), "{live}");
    // The default SQLite archive was created and migrated in the working directory.
    assert!(dir.join("gamehall.db").exists());
    // Every log line is one JSON object.
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(logs.lines().count() >= 2, "{logs}");
    for line in logs.lines() {
        let record: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        assert!(
            record["msg"].is_string() && record["level"].is_string(),
            "{line}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_taken_port_stops_start_up_with_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = Command::new(BIN)
        .args(["serve", "--no-migrate"])
        .env("PORT", port.to_string())
        .env("LOG_FORMAT", "json")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The same failure is one JSON log line on stdout, for the log pipeline.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let logged: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("every log line is JSON"))
        .collect();
    assert!(
        logged.iter().any(|l| l["level"] == "ERRO"
            && l["error"]
                .as_str()
                .is_some_and(|e| e.contains("cannot listen"))),
        "{stdout}"
    );
}
