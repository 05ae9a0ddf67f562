//! Which CPUs the server's threads run on: the cores an operator reserves for the archive
//! writers with `ARCHIVE_WRITER_CPUS`.
//!
//! In `SCHED_IDLE` and pacing themselves (archive/archiver.rs, archive/pacing.rs), the writers
//! give way to the reactors whenever both want a core, yet the moves made while a batch is
//! written were still slower than the others while a writer shared the reactors' cores. With
//! the writer pinned to a core of its own and the reactors kept off it, they were not
//! (docs/benchmarks.md, "Profile", twentieth round). So the reservation works both ways: the
//! writer threads run only on the reserved CPUs, and every other thread of the process leaves
//! them at start-up, before the server starts its own threads, which inherit that.

use std::fmt;
use std::io;
use std::str::FromStr;

/// A set of CPU numbers, as Linux's `cpuset` lists write them: `1`, `2-3`, `0,4-5`. Empty
/// means none reserved.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct CpuList(Vec<usize>);

/// The highest CPU number a `cpu_set_t` can hold, plus one.
const CPU_SETSIZE: usize = libc::CPU_SETSIZE as usize;

impl CpuList {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The CPUs, lowest first, each once.
    pub fn cpus(&self) -> &[usize] {
        &self.0
    }

    fn from_cpus(mut cpus: Vec<usize>) -> CpuList {
        cpus.sort_unstable();
        cpus.dedup();
        CpuList(cpus)
    }

    /// The CPUs of `self` that are not in `other`.
    pub fn without(&self, other: &CpuList) -> CpuList {
        CpuList(
            self.0
                .iter()
                .copied()
                .filter(|cpu| !other.0.contains(cpu))
                .collect(),
        )
    }

    /// The CPUs in both.
    pub fn and(&self, other: &CpuList) -> CpuList {
        CpuList(
            self.0
                .iter()
                .copied()
                .filter(|cpu| other.0.contains(cpu))
                .collect(),
        )
    }

    fn to_cpu_set(&self) -> libc::cpu_set_t {
        // SAFETY: cpu_set_t is a plain bit array, valid all zero; CPU_SET only writes bits
        // below CPU_SETSIZE, which parsing guarantees.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &cpu in &self.0 {
                libc::CPU_SET(cpu, &mut set);
            }
            set
        }
    }
}

impl FromStr for CpuList {
    type Err = String;

    fn from_str(value: &str) -> Result<CpuList, String> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(CpuList::default());
        }
        let number = |word: &str| -> Result<usize, String> {
            let cpu: usize = word
                .trim()
                .parse()
                .map_err(|_| format!("{word:?} is not a CPU number"))?;
            if cpu >= CPU_SETSIZE {
                return Err(format!(
                    "CPU {cpu} is beyond the last one Linux numbers ({})",
                    CPU_SETSIZE - 1
                ));
            }
            Ok(cpu)
        };
        let mut cpus = Vec::new();
        for part in value.split(',') {
            match part.split_once('-') {
                Some((first, last)) => {
                    let (first, last) = (number(first)?, number(last)?);
                    if first > last {
                        return Err(format!("the range {part:?} runs backwards"));
                    }
                    cpus.extend(first..=last);
                }
                None => cpus.push(number(part)?),
            }
        }
        Ok(CpuList::from_cpus(cpus))
    }
}

// serde's `try_from` wants this; config then names the key in the error.
impl TryFrom<String> for CpuList {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

/// Written back in the shortest form it parses from: runs of three or more as ranges.
impl fmt::Display for CpuList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for &cpu in &self.0 {
            match runs.last_mut() {
                Some((_, last)) if *last + 1 == cpu => *last = cpu,
                _ => runs.push((cpu, cpu)),
            }
        }
        let words: Vec<String> = runs
            .into_iter()
            .flat_map(|(first, last)| match last - first {
                0 => vec![first.to_string()],
                1 => vec![first.to_string(), last.to_string()],
                _ => vec![format!("{first}-{last}")],
            })
            .collect();
        f.write_str(&words.join(","))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AffinityError {
    #[error("cannot read which CPUs this process may use: {0}")]
    Unreadable(io::Error),
    #[error(
        "ARCHIVE_WRITER_CPUS={reserved} names no CPU this process may use (it may use {allowed})"
    )]
    NoneAllowed { reserved: CpuList, allowed: CpuList },
    #[error(
        "ARCHIVE_WRITER_CPUS={reserved} leaves no CPU for the rooms and connections (this \
         process may use {allowed}); reserve fewer"
    )]
    NothingLeft { reserved: CpuList, allowed: CpuList },
    #[error("cannot move the server's threads to CPUs {cpus}: {source}")]
    Unsettable { cpus: CpuList, source: io::Error },
}

/// The CPUs the calling thread may run on.
pub fn this_threads_cpus() -> io::Result<CpuList> {
    // SAFETY: `set` is a valid cpu_set_t the call fills in; pid 0 is the calling thread;
    // CPU_ISSET only reads bits below CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(CpuList(
            (0..CPU_SETSIZE)
                .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
                .collect(),
        ))
    }
}

/// Lets the calling thread run only on `cpus`.
pub fn pin_this_thread(cpus: &CpuList) -> io::Result<()> {
    // Thread id 0 is the calling thread.
    set_thread_cpus(0, &cpus.to_cpu_set())
}

/// Lets thread `tid` of this process run only on the CPUs in `set`.
fn set_thread_cpus(tid: libc::pid_t, set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: `set` outlives the call, which only reads it.
    if unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes every thread of the process off the `reserved` CPUs, after checking that the
/// archive writers may run on at least one of them and that at least one is left for
/// everything else; threads started from then on inherit that. Returns the CPUs left. Call it
/// before the server starts its threads: the ones already running (the allocator's
/// background thread, started before `main`) are moved here, one by one.
pub fn keep_process_off(reserved: &CpuList) -> Result<CpuList, AffinityError> {
    let allowed = this_threads_cpus().map_err(AffinityError::Unreadable)?;
    if reserved.and(&allowed).is_empty() {
        return Err(AffinityError::NoneAllowed {
            reserved: reserved.clone(),
            allowed,
        });
    }
    let left = allowed.without(reserved);
    if left.is_empty() {
        return Err(AffinityError::NothingLeft {
            reserved: reserved.clone(),
            allowed,
        });
    }
    let unsettable = |source| AffinityError::Unsettable {
        cpus: left.clone(),
        source,
    };
    let set = left.to_cpu_set();
    for task in std::fs::read_dir("/proc/self/task").map_err(unsettable)? {
        let Some(tid) = task
            .map_err(unsettable)?
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        match set_thread_cpus(tid, &set) {
            // A thread that ended since the listing needs no moving.
            Err(err) if err.raw_os_error() != Some(libc::ESRCH) => return Err(unsettable(err)),
            _ => {}
        }
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::CpuList;

    #[test]
    fn lists_read_as_linux_writes_them() {
        for (text, cpus) in [
            ("", vec![]),
            ("  ", vec![]),
            ("1", vec![1]),
            ("2-3", vec![2, 3]),
            ("0,4-6", vec![0, 4, 5, 6]),
            ("3, 1 ,1", vec![1, 3]),
            ("5-5", vec![5]),
        ] {
            let list: CpuList = text.parse().unwrap();
            assert_eq!(list.cpus(), cpus, "{text:?}");
        }
    }

    #[test]
    fn a_bad_list_says_what_is_wrong() {
        for (text, says) in [
            ("one", "not a CPU number"),
            ("1,,2", "not a CPU number"),
            ("-1", "not a CPU number"),
            ("3-1", "runs backwards"),
            ("1024", "beyond the last one"),
            ("0-2000", "beyond the last one"),
        ] {
            let err = text.parse::<CpuList>().expect_err(text);
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_list_is_written_back_in_its_shortest_form() {
        for (text, written) in [
            ("", ""),
            ("1", "1"),
            ("1,2", "1,2"),
            ("3,0-2,7,8", "0-3,7,8"),
        ] {
            let list: CpuList = text.parse().unwrap();
            assert_eq!(list.to_string(), written);
            assert_eq!(written.parse::<CpuList>().unwrap(), list);
        }
    }

    #[test]
    fn lists_subtract_and_intersect() {
        let all: CpuList = "0-3".parse().unwrap();
        let some: CpuList = "1,3,9".parse().unwrap();
        assert_eq!(all.without(&some).cpus(), [0, 2]);
        assert_eq!(all.and(&some).cpus(), [1, 3]);
    }
}
