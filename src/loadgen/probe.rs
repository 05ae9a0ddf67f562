//! What the load generator reads about the server: its resident memory and CPU time from
//! `/proc/PID` (when given the PID), and its Prometheus metrics from `/metrics`.

use std::collections::HashMap;
use std::time::Duration;

/// Memory and CPU of one process, from `/proc`.
#[derive(Clone, Copy, Debug)]
pub struct ProcessSample {
    pub rss_bytes: u64,
    pub cpu_seconds: f64,
}

/// Reads `/proc/{pid}` (`"self"` for this process). `None` if the process is gone.
pub fn sample(pid: &str) -> Option<ProcessSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are
    // plain. utime and stime are fields 14 and 15, so 12th and 13th after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(ProcessSample {
        rss_bytes: rss_kb * 1024,
        cpu_seconds: (utime + stime) as f64 / ticks,
    })
}

/// The whole machine's CPU time by kind, summed over its cores, from the `cpu` line of
/// `/proc/stat`, in clock ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MachineCpu {
    /// Everything counted: busy, idle, waiting for I/O and stolen.
    pub total: u64,
    /// Idle and waiting for I/O.
    pub idle: u64,
    /// Time the hypervisor gave this virtual machine's cores to someone else while they had
    /// work: on a shared host it comes and goes from minute to minute, and every latency
    /// figure measured meanwhile is worse for it.
    pub steal: u64,
}

impl MachineCpu {
    /// Reads `/proc/stat`. `None` where there is none (not Linux) or it cannot be read.
    pub fn read() -> Option<MachineCpu> {
        MachineCpu::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// The `cpu` line: user nice system idle iowait irq softirq steal, then guest time that
    /// is already inside user and nice. Kernels older than 2.6.11 stop before steal.
    pub fn parse(stat: &str) -> Option<MachineCpu> {
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let ticks: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        if ticks.len() < 5 {
            return None;
        }
        Some(MachineCpu {
            total: ticks.iter().sum(),
            idle: ticks[3] + ticks[4],
            steal: ticks.get(7).copied().unwrap_or(0),
        })
    }

    /// The share of the machine's CPU time between `before` and `self` that was busy, and the
    /// share that was stolen, in percent; `None` for an empty interval.
    pub fn since(&self, before: &MachineCpu) -> Option<(f64, f64)> {
        let total = self.total.checked_sub(before.total).filter(|&t| t > 0)? as f64;
        let idle = self.idle.saturating_sub(before.idle) as f64;
        let steal = self.steal.saturating_sub(before.steal) as f64;
        Some((
            100.0 * (total - idle - steal).max(0.0) / total,
            100.0 * steal / total,
        ))
    }
}

/// How late this machine wakes a sleeping thread, with nothing of the run going yet: a thread
/// sleeps 1 ms again and again for `duration`, and each wake-up's delay past that millisecond
/// is recorded (p50/p95/p99/max in ms). On a quiet machine the delay is tens of microseconds;
/// on a virtual machine whose host is busy it reaches milliseconds, and every latency the run
/// then measures carries it: a move waits for the same wake-ups. `duration` zero: `Null`.
pub fn wakeup_lateness(duration: Duration) -> serde_json::Value {
    const NAP: Duration = Duration::from_millis(1);
    let mut late = super::report::new_histogram();
    let end = std::time::Instant::now() + duration;
    loop {
        let asleep = std::time::Instant::now();
        if asleep >= end {
            break;
        }
        std::thread::sleep(NAP);
        let micros = asleep.elapsed().saturating_sub(NAP).as_micros() as u64;
        // Clamped into the histogram's range: a wake-up later than that is still counted.
        late.saturating_record(micros.max(1));
    }
    super::report::latency_summary(&late)
}

/// The PID of the process listening on `addr` on this machine: the `LISTEN` socket with that
/// local address in `/proc/net/tcp{,6}`, then the process holding that socket's inode. `None`
/// when it cannot be told (another user's process, a server in a container).
pub fn listener_pid(addr: std::net::SocketAddr) -> Option<u32> {
    let inode = listening_inode(addr)?;
    let wanted = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|link| link.as_os_str() == wanted.as_str()) {
                return Some(pid);
            }
        }
    }
    None
}

/// The inode of the socket listening on `addr` (or on the wildcard address at its port).
fn listening_inode(addr: std::net::SocketAddr) -> Option<u64> {
    const LISTEN: &str = "0A";
    let port = format!("{:04X}", addr.port());
    let table = if addr.is_ipv4() {
        "/proc/net/tcp"
    } else {
        "/proc/net/tcp6"
    };
    let text = std::fs::read_to_string(table).ok()?;
    let local_ip = match addr.ip() {
        // /proc/net/tcp writes an IPv4 address as one little-endian 32-bit hex number.
        std::net::IpAddr::V4(ip) => format!("{:08X}", u32::from_le_bytes(ip.octets())),
        std::net::IpAddr::V6(_) => String::new(),
    };
    text.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (local, state, inode) = (fields.get(1)?, fields.get(3)?, fields.get(9)?);
        let (ip, p) = local.split_once(':')?;
        let any = ip.chars().all(|c| c == '0');
        let ip_matches = any || local_ip.is_empty() || ip == local_ip;
        (p == port && *state == LISTEN && ip_matches)
            .then(|| inode.parse().ok())
            .flatten()
    })
}

/// One scrape of `/metrics`: every sample by its full series name (`name{labels}`).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    series: HashMap<String, f64>,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let series = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .filter_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                Some((name.to_owned(), value.parse().ok()?))
            })
            .collect();
        Metrics { series }
    }

    /// Sum of every series of metric `name` whose labels contain `label` (e.g. `game="pong"`).
    pub fn sum(&self, name: &str, label: Option<&str>) -> f64 {
        self.series
            .iter()
            .filter(|(series, _)| {
                let (metric, labels) = series.split_once('{').unwrap_or((series, ""));
                metric == name && label.is_none_or(|l| labels.contains(l))
            })
            .map(|(_, v)| v)
            .sum()
    }

    /// Cumulative bucket counts of histogram `name` (optionally one label), by upper bound.
    fn buckets(&self, name: &str, label: Option<&str>) -> Vec<(f64, f64)> {
        let bucket = format!("{name}_bucket{{");
        let mut out: Vec<(f64, f64)> = Vec::new();
        for (series, value) in &self.series {
            let Some(labels) = series.strip_prefix(&bucket) else {
                continue;
            };
            if label.is_some_and(|l| !labels.contains(l)) {
                continue;
            }
            let Some(le) = labels
                .split("le=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
            else {
                continue;
            };
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                match le.parse() {
                    Ok(b) => b,
                    Err(_) => continue,
                }
            };
            match out.iter_mut().find(|(b, _)| *b == bound) {
                Some(entry) => entry.1 += value,
                None => out.push((bound, *value)),
            }
        }
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    }
}

/// What happened to a histogram between two scrapes.
pub struct HistogramDelta {
    pub count: f64,
    /// (upper bound, cumulative count) per bucket.
    buckets: Vec<(f64, f64)>,
}

impl HistogramDelta {
    pub fn between(before: &Metrics, after: &Metrics, name: &str, label: Option<&str>) -> Self {
        Self::difference(&after.buckets(name, label), &before.buckets(name, label))
    }

    /// What remains of this histogram without `part`, one of its subsets counted in the same
    /// buckets (e.g. the moves made while the archive was writing, out of all moves).
    pub fn without(&self, part: &HistogramDelta) -> HistogramDelta {
        Self::difference(&self.buckets, &part.buckets)
    }

    /// `minuend`'s cumulative counts less `subtrahend`'s in the bucket of the same bound (none
    /// there counts as 0).
    fn difference(minuend: &[(f64, f64)], subtrahend: &[(f64, f64)]) -> HistogramDelta {
        let buckets: Vec<(f64, f64)> = minuend
            .iter()
            .map(|&(bound, count)| {
                let less = subtrahend
                    .iter()
                    .find(|(b, _)| *b == bound)
                    .map_or(0.0, |(_, c)| *c);
                (bound, count - less)
            })
            .collect();
        let count = buckets.last().map_or(0.0, |(_, c)| *c);
        HistogramDelta { count, buckets }
    }

    /// The upper bound of the bucket holding quantile `q`: the histogram says "at most this".
    pub fn quantile_upper_bound(&self, q: f64) -> Option<f64> {
        if self.count <= 0.0 {
            return None;
        }
        let wanted = q * self.count;
        self.buckets
            .iter()
            .find(|(_, cumulative)| *cumulative >= wanted)
            .map(|(bound, _)| *bound)
    }

    /// The share (0 to 1) of the observations above `bound`, which must be one of the
    /// buckets' bounds; `None` when there are none, or no bucket has that bound.
    pub fn share_above(&self, bound: f64) -> Option<f64> {
        if self.count <= 0.0 {
            return None;
        }
        let (_, at_most) = self.buckets.iter().find(|(b, _)| *b == bound)?;
        Some((self.count - at_most) / self.count)
    }
}

/// Scrapes `/metrics`; `None` when the server does not serve it.
pub async fn scrape(http: &reqwest::Client, base: &str) -> Option<Metrics> {
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        http.get(format!("{base}/metrics")).send(),
    )
    .await
    .ok()?
    .ok()?;
    if !response.status().is_success() {
        return None;
    }
    Some(Metrics::parse(&response.text().await.ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "\
# HELP gamehall_tick_duration_seconds x
gamehall_tick_duration_seconds_bucket{game=\"pong\",le=\"0.001\"} 10
gamehall_tick_duration_seconds_bucket{game=\"pong\",le=\"0.005\"} 10
gamehall_tick_duration_seconds_bucket{game=\"pong\",le=\"+Inf\"} 10
gamehall_tick_overruns_total{game=\"pong\"} 0
gamehall_messages_in_total{type=\"act\"} 5
gamehall_messages_in_total{type=\"join\"} 2
";
    const AFTER: &str = "\
gamehall_tick_duration_seconds_bucket{game=\"pong\",le=\"0.001\"} 108
gamehall_tick_duration_seconds_bucket{game=\"pong\",le=\"0.005\"} 110
gamehall_tick_duration_seconds_bucket{game=\"pong\",le=\"+Inf\"} 110
gamehall_tick_overruns_total{game=\"pong\"} 1
gamehall_messages_in_total{type=\"act\"} 15
gamehall_messages_in_total{type=\"join\"} 2
";

    #[test]
    fn histogram_quantiles_come_from_bucket_deltas() {
        let (before, after) = (Metrics::parse(BEFORE), Metrics::parse(AFTER));
        let delta = HistogramDelta::between(
            &before,
            &after,
            "gamehall_tick_duration_seconds",
            Some("game=\"pong\""),
        );
        assert_eq!(delta.count, 100.0);
        assert_eq!(delta.quantile_upper_bound(0.5), Some(0.001));
        assert_eq!(delta.quantile_upper_bound(0.99), Some(0.005));
        assert_eq!(
            after.sum("gamehall_messages_in_total", None)
                - before.sum("gamehall_messages_in_total", None),
            10.0
        );
        assert_eq!(after.sum("gamehall_tick_overruns_total", Some("pong")), 1.0);
    }

    #[test]
    fn a_subset_histogram_leaves_the_rest_of_the_whole() {
        let whole = Metrics::parse(
            "m_bucket{le=\"0.001\"} 90\nm_bucket{le=\"0.005\"} 99\nm_bucket{le=\"+Inf\"} 100\n\
             during_bucket{le=\"0.001\"} 1\nduring_bucket{le=\"0.005\"} 9\n\
             during_bucket{le=\"+Inf\"} 10\n",
        );
        let nothing = Metrics::parse("");
        let all = HistogramDelta::between(&nothing, &whole, "m", None);
        let during = HistogramDelta::between(&nothing, &whole, "during", None);
        let rest = all.without(&during);
        assert_eq!(rest.count, 90.0);
        // 89 of the 90 moves outside fall in the first bucket; 1 of the 10 inside does.
        assert_eq!(rest.quantile_upper_bound(0.98), Some(0.001));
        assert_eq!(during.quantile_upper_bound(0.5), Some(0.005));
        assert_eq!(all.quantile_upper_bound(0.95), Some(0.005));
        // Beyond 1 ms: 1 of the 90 outside, 9 of the 10 inside; no bucket ends at 2 ms.
        assert_eq!(rest.share_above(0.001), Some(1.0 / 90.0));
        assert_eq!(during.share_above(0.001), Some(0.9));
        assert_eq!(during.share_above(0.002), None);
        assert_eq!(
            HistogramDelta::between(&nothing, &nothing, "m", None).share_above(0.001),
            None
        );
    }

    #[test]
    fn the_listener_of_a_port_is_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = listener.local_addr().expect("bound");
        assert_eq!(listener_pid(addr), Some(std::process::id()));
    }

    #[test]
    fn this_process_can_be_sampled() {
        let me = sample("self").expect("/proc/self is readable");
        assert!(me.rss_bytes > 0);
    }

    #[test]
    fn wakeup_lateness_is_measured_for_the_time_asked() {
        assert!(wakeup_lateness(Duration::ZERO).is_null());
        let started = std::time::Instant::now();
        let late = wakeup_lateness(Duration::from_millis(100));
        assert!(started.elapsed() >= Duration::from_millis(100));
        // Some wake-ups, each at most as late as the whole probe took.
        let count = late["count"].as_u64().expect("a count");
        assert!((1..=100).contains(&count), "{late}");
        let max = late["max"].as_f64().expect("a max");
        assert!(max <= started.elapsed().as_secs_f64() * 1e3, "{late}");
        assert!(late["p50"].as_f64() <= Some(max), "{late}");
    }

    #[test]
    fn machine_cpu_shares_come_from_the_cpu_line() {
        let before =
            MachineCpu::parse("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n")
                .expect("a cpu line");
        assert_eq!(
            before,
            MachineCpu {
                total: 1000,
                idle: 850,
                steal: 0
            }
        );
        // 1,000 ticks later: 300 busy (user, system, irq), 500 idle or waiting, 200 stolen.
        let after = MachineCpu::parse("cpu  300 0 140 1250 100 5 5 200 0 0\n").expect("a cpu line");
        assert_eq!(after.since(&before), Some((30.0, 20.0)));
        assert_eq!(before.since(&before), None);
        // Before steal was counted, and what is not a cpu line.
        let old = MachineCpu::parse("cpu 1 2 3 4 5\n").expect("five fields are enough");
        assert_eq!(old.steal, 0);
        assert_eq!(MachineCpu::parse("cpu 1 2 3\n"), None);
        assert_eq!(MachineCpu::parse("cpu 1 2 x 4 5\n"), None);
        assert_eq!(MachineCpu::parse("intr 5\n"), None);
        assert!(MachineCpu::read().is_some(), "/proc/stat is readable here");
    }
}
