//! The local spool: finished games the database could not take yet, kept on disk until it can.
//!
//! `ARCHIVE_SPOOL_DIR/archive-spool.jsonl` holds one JSON [`GameRecord`] per line, in the order
//! they were spooled. Every append is fsynced before it returns, so a game the archive has
//! accepted survives a crash. After a successful replay the file is truncated; if the process
//! dies between the database commit and the truncation, the next replay writes the same games
//! again, which the archive's idempotent keys turn into no-ops.
//!
//! Records the database can never take (see [`crate::archive::StoreError::is_record_fault`])
//! and unreadable spool lines go to `archive-rejected.jsonl` beside it, for an operator: set
//! aside, never deleted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::Serialize;
use slog::{error, warn, Logger};

use super::record::GameRecord;

/// The spool file's name inside the spool directory.
pub const SPOOL_FILE: &str = "archive-spool.jsonl";
/// Where records that can never be archived are set aside.
pub const REJECTED_FILE: &str = "archive-rejected.jsonl";

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("archive spool: cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A complete line (not the torn tail of a crash) does not parse. The file is left as it
    /// is; [`Spool::salvage`] moves such lines aside.
    #[error("archive spool {path} line {line} is not a game record: {source}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },

    #[error("cannot encode game {game_id} for the archive spool: {source}")]
    Encode {
        game_id: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The spool file of one directory. Only one `Spool` may use a directory at a time: the
/// archive writer owns it.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    path: PathBuf,
    /// Opened for appending, so every write lands at the end, even after a truncation.
    file: File,
    /// Bytes in the file: an append that fails half-way is cut back to this.
    bytes: u64,
    /// Records in the file.
    len: usize,
    logger: Logger,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, creating `dir` too. A torn last line,
    /// left by a crash in the middle of an append, is cut off with a warning; a last line that
    /// only lacks its newline but parses is kept.
    pub fn open(dir: impl Into<PathBuf>, logger: Logger) -> Result<Self, SpoolError> {
        let dir = dir.into();
        create_dir_durably(&dir)?;
        let path = dir.join(SPOOL_FILE);
        let existed = path.exists();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(io_error("open", &path))?;
        if !existed {
            // Make the new file's directory entry durable, so the first fsynced append
            // cannot vanish with it.
            sync_dir(&dir)?;
        }
        let mut spool = Self {
            dir,
            path,
            file,
            bytes: 0,
            len: 0,
            logger,
        };
        spool.recover_tail()?;
        Ok(spool)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The rejected-records file beside the spool.
    pub fn rejected_path(&self) -> PathBuf {
        self.dir.join(REJECTED_FILE)
    }

    /// Records in the spool.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `records` after those already spooled and fsyncs them: when this returns `Ok`,
    /// they survive a crash. On `Err` none of them is in the spool.
    pub fn append(&mut self, records: &[GameRecord]) -> Result<(), SpoolError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buffer = Vec::new();
        for record in records {
            serde_json::to_writer(&mut buffer, record).map_err(|source| SpoolError::Encode {
                game_id: record.game_id.clone(),
                source,
            })?;
            buffer.push(b'\n');
        }
        let written = self
            .file
            .write_all(&buffer)
            .and_then(|()| self.file.sync_data());
        if let Err(source) = written {
            // Cut a partial write off, so that the next append does not start in the middle
            // of a line. If even that fails, the tail is torn and `open` cuts it next time.
            if let Err(e) = self.file.set_len(self.bytes) {
                error!(self.logger, "cannot cut a failed append off the archive spool";
                       "path" => %self.path.display(), "error" => %e);
            }
            return Err(SpoolError::Io {
                op: "append to",
                path: self.path.clone(),
                source,
            });
        }
        self.bytes += buffer.len() as u64;
        self.len += records.len();
        Ok(())
    }

    /// Every spooled record, oldest first. A line torn by a crash at the very end is skipped
    /// with a warning; any other unreadable line is [`SpoolError::Corrupt`].
    pub fn read_all(&self) -> Result<Vec<GameRecord>, SpoolError> {
        let mut records = Vec::with_capacity(self.len);
        for line in self.lines()? {
            if line.complete && line.is_blank() {
                continue;
            }
            if !line.complete {
                warn!(self.logger, "skipping a torn last line in the archive spool";
                      "path" => %self.path.display(), "line" => line.number);
                continue;
            }
            let record =
                serde_json::from_slice(&line.text).map_err(|source| SpoolError::Corrupt {
                    path: self.path.clone(),
                    line: line.number,
                    source,
                })?;
            records.push(record);
        }
        Ok(records)
    }

    /// Like [`Spool::read_all`], but moves every unreadable line to the rejected file and
    /// rewrites the spool without them, so one bad line cannot hold up the others forever.
    /// Returns the good records and how many lines were moved.
    pub fn salvage(&mut self) -> Result<(Vec<GameRecord>, usize), SpoolError> {
        let mut records = Vec::new();
        let mut bad: Vec<Rejected<'_>> = Vec::new();
        for line in self.lines()? {
            if line.is_blank() {
                continue;
            }
            match serde_json::from_slice::<GameRecord>(&line.text) {
                Ok(record) => records.push(record),
                Err(e) => bad.push(Rejected {
                    rejected_at: Utc::now().to_rfc3339(),
                    reason: format!("unreadable spool line {}: {e}", line.number),
                    record: None,
                    line: Some(String::from_utf8_lossy(&line.text).into_owned()),
                }),
            }
        }
        if bad.is_empty() {
            return Ok((records, 0));
        }
        self.append_rejected(&bad)?;
        error!(self.logger, "moved unreadable archive spool lines aside";
               "lines" => bad.len(), "to" => %self.rejected_path().display());
        self.rewrite(&records)?;
        Ok((records, bad.len()))
    }

    /// Sets records the database can never take aside in the rejected file (fsynced), with
    /// the reason.
    pub fn reject(&mut self, records: &[GameRecord], reason: &str) -> Result<(), SpoolError> {
        let entries: Vec<Rejected<'_>> = records
            .iter()
            .map(|record| Rejected {
                rejected_at: Utc::now().to_rfc3339(),
                reason: reason.to_owned(),
                record: Some(record),
                line: None,
            })
            .collect();
        self.append_rejected(&entries)
    }

    /// Empties the spool (after its records were written), durably.
    pub fn clear(&mut self) -> Result<(), SpoolError> {
        self.file
            .set_len(0)
            .and_then(|()| self.file.sync_all())
            .map_err(io_error("truncate", &self.path))?;
        self.bytes = 0;
        self.len = 0;
        Ok(())
    }

    /// Reads the file once at open: counts its records, and cuts a torn tail off (or adds the
    /// missing newline to a tail that is a whole record).
    fn recover_tail(&mut self) -> Result<(), SpoolError> {
        let lines = self.lines()?;
        let mut len = lines
            .iter()
            .filter(|line| line.complete && !line.is_blank())
            .count();
        let mut bytes = lines.last().map_or(0, |line| line.end);
        if let Some(tail) = lines.last().filter(|line| !line.complete) {
            if serde_json::from_slice::<GameRecord>(&tail.text).is_ok() {
                warn!(self.logger, "archive spool's last record lacked its newline; kept";
                      "path" => %self.path.display(), "line" => tail.number);
                self.file
                    .write_all(b"\n")
                    .and_then(|()| self.file.sync_data())
                    .map_err(io_error("repair", &self.path))?;
                bytes += 1;
                len += 1;
            } else {
                warn!(self.logger, "cutting a torn last line off the archive spool";
                      "path" => %self.path.display(), "line" => tail.number);
                self.file
                    .set_len(tail.start)
                    .and_then(|()| self.file.sync_data())
                    .map_err(io_error("repair", &self.path))?;
                bytes = tail.start;
            }
        }
        self.bytes = bytes;
        self.len = len;
        Ok(())
    }

    /// Every line of the file, blank ones included; only the last can be incomplete (no
    /// newline after it).
    fn lines(&self) -> Result<Vec<Line>, SpoolError> {
        let file = File::open(&self.path).map_err(io_error("open", &self.path))?;
        let mut reader = BufReader::new(file);
        let mut lines = Vec::new();
        let mut offset = 0u64;
        loop {
            let mut text = Vec::new();
            let read = reader
                .read_until(b'\n', &mut text)
                .map_err(io_error("read", &self.path))?;
            if read == 0 {
                return Ok(lines);
            }
            let complete = text.last() == Some(&b'\n');
            if complete {
                text.pop();
            }
            let start = offset;
            offset += read as u64;
            lines.push(Line {
                number: lines.len() + 1,
                start,
                end: offset,
                text,
                complete,
            });
        }
    }

    /// Replaces the spool with `records`: written to a temporary file, fsynced, renamed over
    /// the spool, directory fsynced, so a crash leaves either the old file or the new one.
    fn rewrite(&mut self, records: &[GameRecord]) -> Result<(), SpoolError> {
        let tmp = self.dir.join(format!("{SPOOL_FILE}.tmp"));
        let mut buffer = Vec::new();
        for record in records {
            serde_json::to_writer(&mut buffer, record).map_err(|source| SpoolError::Encode {
                game_id: record.game_id.clone(),
                source,
            })?;
            buffer.push(b'\n');
        }
        let mut file = File::create(&tmp).map_err(io_error("create", &tmp))?;
        file.write_all(&buffer)
            .and_then(|()| file.sync_all())
            .map_err(io_error("write", &tmp))?;
        fs::rename(&tmp, &self.path).map_err(io_error("replace", &self.path))?;
        sync_dir(&self.dir)?;
        self.file = OpenOptions::new()
            .append(true)
            .read(true)
            .open(&self.path)
            .map_err(io_error("open", &self.path))?;
        self.bytes = buffer.len() as u64;
        self.len = records.len();
        Ok(())
    }

    fn append_rejected(&self, entries: &[Rejected<'_>]) -> Result<(), SpoolError> {
        let path = self.rejected_path();
        let existed = path.exists();
        let mut buffer = Vec::new();
        for entry in entries {
            serde_json::to_writer(&mut buffer, entry).map_err(|source| SpoolError::Encode {
                game_id: entry.record.map_or_else(String::new, |r| r.game_id.clone()),
                source,
            })?;
            buffer.push(b'\n');
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error("open", &path))?;
        file.write_all(&buffer)
            .and_then(|()| file.sync_data())
            .map_err(io_error("append to", &path))?;
        if !existed {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

/// One line of the rejected file.
#[derive(Serialize)]
struct Rejected<'a> {
    rejected_at: String,
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a GameRecord>,
    /// The raw text of a spool line that did not parse.
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<String>,
}

struct Line {
    /// From 1, as an editor shows it.
    number: usize,
    /// Byte offsets of the line in the file, newline included.
    start: u64,
    end: u64,
    /// Without the newline.
    text: Vec<u8>,
    /// False for a last line that no newline ends: torn by a crash mid-append.
    complete: bool,
}

impl Line {
    fn is_blank(&self) -> bool {
        self.text.iter().all(u8::is_ascii_whitespace)
    }
}

fn io_error(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SpoolError {
    let path = path.to_owned();
    move |source| SpoolError::Io { op, path, source }
}

/// Creates `dir` and any missing parents, fsyncing each parent whose entries changed, so the
/// spool's directory itself survives a crash.
fn create_dir_durably(dir: &Path) -> Result<(), SpoolError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut current = Some(dir);
    while let Some(path) = current {
        if path.as_os_str().is_empty() || path.exists() {
            break;
        }
        missing.push(path);
        current = path.parent();
    }
    fs::create_dir_all(dir).map_err(io_error("create", dir))?;
    for created in missing.iter().rev() {
        sync_dir(created)?;
        if let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("fsync", dir))
}
