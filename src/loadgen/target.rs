//! Where the load goes: one server address, on this machine unless the operator says otherwise,
//! and the loopback source addresses the connections are spread over (each source address has
//! its own ~28,000 ephemeral ports, so 100k connections need four or more).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpSocket, TcpStream};

/// Connections per source address before another address is used: well inside Linux's default
/// ephemeral range (32768–60999).
pub const CONNECTIONS_PER_SOURCE: usize = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("cannot resolve {spec}: {source}")]
    Resolve {
        spec: String,
        source: std::io::Error,
    },
    #[error("{0} resolves to no address")]
    NoAddress(String),
    #[error(
        "{spec} ({addr}) is not a loopback address; the load generator only targets this \
         machine unless --allow-remote is given"
    )]
    NotLoopback { spec: String, addr: SocketAddr },
}

pub struct Target {
    pub addr: SocketAddr,
    /// Addresses to bind before connecting; empty: the kernel chooses.
    sources: Vec<IpAddr>,
    next: AtomicUsize,
}

impl Target {
    /// `spec` is `host:port`. Every address it resolves to must be loopback unless
    /// `allow_remote`. `sources` loopback source addresses (127.0.0.1, .2, ...) are used when the
    /// target is an IPv4 loopback address.
    pub fn resolve(spec: &str, allow_remote: bool, sources: usize) -> Result<Target, TargetError> {
        let addrs: Vec<SocketAddr> = spec
            .to_socket_addrs()
            .map_err(|source| TargetError::Resolve {
                spec: spec.to_owned(),
                source,
            })?
            .collect();
        let addr = *addrs
            .first()
            .ok_or_else(|| TargetError::NoAddress(spec.to_owned()))?;
        if !allow_remote {
            if let Some(remote) = addrs.iter().find(|a| !a.ip().is_loopback()) {
                return Err(TargetError::NotLoopback {
                    spec: spec.to_owned(),
                    addr: *remote,
                });
            }
        }
        let sources = match addr.ip() {
            IpAddr::V4(ip) if ip.is_loopback() => {
                let first = u32::from(Ipv4Addr::new(127, 0, 0, 1));
                (0..sources.max(1) as u32)
                    .map(|i| IpAddr::V4(Ipv4Addr::from(first + i)))
                    .collect()
            }
            _ => Vec::new(),
        };
        Ok(Target {
            addr,
            sources,
            next: AtomicUsize::new(0),
        })
    }

    /// How many source addresses `connections` need.
    pub fn sources_for(connections: usize) -> usize {
        connections.div_ceil(CONNECTIONS_PER_SOURCE).max(1)
    }

    pub fn http_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The source address for the next connection, round-robin.
    pub fn next_source(&self) -> Option<IpAddr> {
        if self.sources.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        Some(self.sources[i % self.sources.len()])
    }

    pub fn source_count(&self) -> usize {
        self.sources.len()
    }

    /// A TCP connection to the server from the next source address, without Nagle's delay
    /// (gamehall's frames are small and latency is what is measured).
    pub async fn open_tcp(&self) -> std::io::Result<TcpStream> {
        let socket = match self.addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if let Some(ip) = self.next_source() {
            bind_address_no_port(&socket);
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = socket.connect(self.addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// Tells the kernel to pick the source port at `connect` rather than at `bind`: a port bound
/// early is reserved for every destination, so binding would exhaust the range long before the
/// four-tuples run out.
fn bind_address_no_port(socket: &TcpSocket) {
    let one: libc::c_int = 1;
    // SAFETY: a valid socket descriptor, a pointer to a live c_int and its size. Failure only
    // means the port is chosen at bind time, which still works for fewer connections.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_targets_need_permission() {
        assert!(matches!(
            Target::resolve("10.1.2.3:8080", false, 1),
            Err(TargetError::NotLoopback { .. })
        ));
        let remote = Target::resolve("10.1.2.3:8080", true, 4).expect("allowed");
        assert_eq!(remote.next_source(), None);
    }

    #[test]
    fn loopback_connections_rotate_over_source_addresses() {
        let target = Target::resolve("127.0.0.1:8080", false, 3).expect("loopback");
        let seen: Vec<_> = (0..4).filter_map(|_| target.next_source()).collect();
        let ip = |d| IpAddr::V4(Ipv4Addr::new(127, 0, 0, d));
        assert_eq!(seen, vec![ip(1), ip(2), ip(3), ip(1)]);
        assert_eq!(Target::sources_for(100_000), 5);
        assert_eq!(Target::sources_for(10), 1);
    }
}
