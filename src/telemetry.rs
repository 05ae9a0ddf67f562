//! Logging through slog: JSON (one object per line) or text, behind an async drain so that a
//! slow log sink never blocks a room. The sink is a parameter, so tests can capture or drop it.

use std::io::Write;

use slog::{o, warn, Drain, Logger};

use crate::config::{LogFormat, LogLevel, Settings};

/// Lines the async drain buffers before it starts dropping (and counting) them. The channel's
/// slots (104 bytes each) are allocated and written when the logger starts, so they are
/// resident for the life of the server: 8,192 of them were 0.85 MB of an idle server's 19 MB.
/// 2,048 lines still cover a fifth of a second of the log thread standing still at the
/// info-level rate of a server finishing 2,000 games a second.
const LOG_CHANNEL_SIZE: usize = 2048;

pub fn build_logger(
    format: LogFormat,
    level: LogLevel,
    sink: impl Write + Send + 'static,
) -> Logger {
    let level = match level {
        LogLevel::Trace => slog::Level::Trace,
        LogLevel::Debug => slog::Level::Debug,
        LogLevel::Info => slog::Level::Info,
        LogLevel::Warning => slog::Level::Warning,
        LogLevel::Error => slog::Level::Error,
        LogLevel::Critical => slog::Level::Critical,
    };
    let drain = match format {
        LogFormat::Json => in_background(
            slog_json::Json::new(sink)
                .set_newlines(true)
                .add_default_keys()
                .build()
                .fuse(),
        ),
        LogFormat::Text => in_background(
            slog_term::FullFormat::new(slog_term::PlainDecorator::new(sink))
                .build()
                .fuse(),
        ),
    };
    Logger::root(
        slog::LevelFilter::new(drain, level).fuse(),
        o!("service" => "gamehall"),
    )
}

fn in_background<D>(drain: D) -> slog_async::Async
where
    D: Drain<Ok = (), Err = slog::Never> + Send + 'static,
{
    slog_async::Async::new(drain)
        .chan_size(LOG_CHANNEL_SIZE)
        .overflow_strategy(slog_async::OverflowStrategy::DropAndReport)
        .thread_name("gamehall-log".into())
        .build()
}

/// One WARN line per variable from the seeds' deployment documents that is set but that
/// gamehall does not read, so that an operator who copied a seed's `.env` learns it changed
/// nothing. Only names are logged: a value (`SECRET_KEY`) may be a secret.
pub fn warn_ignored_variables(log: &Logger, settings: &Settings) {
    for (variable, instead) in settings.ignored_variables() {
        warn!(log, "environment variable ignored: gamehall does not read it";
            "variable" => variable, "instead" => instead);
    }
}

/// A logger that writes nothing, for tests that do not look at logs.
pub fn discard() -> Logger {
    Logger::root(slog::Discard, o!())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_ignored_seed_variable_gets_one_warning_without_its_value() {
        let settings = Settings::load(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
            [
                ("ARCHIVE_BACKEND", "s3"),
                ("SECRET_KEY", "do-not-print-me"),
                ("LOG_LEVEL", "INFO"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        )
        .expect("valid settings");
        let sink = Captured::default();
        let log = build_logger(LogFormat::Json, LogLevel::Info, sink.clone());
        warn_ignored_variables(&log, &settings);
        // The async drain writes when the last logger handle goes.
        drop(log);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let named: Vec<&str> = lines
            .iter()
            .map(|line| {
                assert_eq!(line["level"], "WARN", "{line}");
                line["variable"].as_str().unwrap()
            })
            .collect();
        assert_eq!(named, ["ARCHIVE_BACKEND", "SECRET_KEY"]);
        assert!(!text.contains("do-not-print-me"), "{text}");
        assert!(!text.contains("\"s3\""), "{text}");
    }
}
