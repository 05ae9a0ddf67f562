//! Logging through slog: JSON (one object per line) or text, behind an async drain so that a
//! slow log sink never blocks a room. The sink is a parameter, so tests can capture or drop it.

use std::io::Write;

use slog::{o, Drain, Logger};

use crate::config::{LogFormat, LogLevel};

/// Lines the async drain buffers before it starts dropping (and counting) them.
const LOG_CHANNEL_SIZE: usize = 8192;

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

/// A logger that writes nothing, for tests that do not look at logs.
pub fn discard() -> Logger {
    Logger::root(slog::Discard, o!())
}
