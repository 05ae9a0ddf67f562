//! The open-file limit: every connection is a file descriptor, in this process and in the
//! server. The soft limit is raised as far as the hard limit allows at start, and a run that
//! would not fit is refused before it opens anything, with the number to ask for.

/// Descriptors kept aside for the runtime, the HTTP client's pool, `/proc` reads and stdio.
pub const RESERVED: u64 = 256;

#[derive(Debug, thiserror::Error)]
pub enum FdLimitError {
    #[error("cannot read the open-file limit: {0}")]
    Read(std::io::Error),
    #[error(
        "{wanted} connections need {needed} open files but this process may open at most \
         {hard} (hard limit; raise it with `ulimit -Hn` as root or in limits.conf, and give \
         the server as many)"
    )]
    TooFew { wanted: u64, needed: u64, hard: u64 },
}

/// The soft and hard `RLIMIT_NOFILE` after raising the soft one to the hard one.
#[derive(Clone, Copy, Debug)]
pub struct FdLimit {
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft limit to the hard limit (no privilege needed) and checks that
/// `connections` fit.
pub fn raise_for(connections: u64) -> Result<FdLimit, FdLimitError> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(FdLimitError::Read(std::io::Error::last_os_error()));
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own. Raising the soft limit up to the hard one
        // is always allowed; should it fail anyway, the check below uses the old value.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    // rlim_t is u64 on Linux but not on every platform libc serves.
    #[allow(clippy::unnecessary_cast)]
    let (soft, hard) = (limit.rlim_cur as u64, limit.rlim_max as u64);
    let needed = connections.saturating_add(RESERVED);
    if needed > soft {
        return Err(FdLimitError::TooFew {
            wanted: connections,
            needed,
            hard,
        });
    }
    Ok(FdLimit { soft, hard })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_connections_fit_and_an_absurd_number_is_refused_with_the_limit() {
        let limit = raise_for(10).expect("ten connections fit anywhere");
        assert_eq!(
            limit.soft, limit.hard,
            "the soft limit is raised to the hard one"
        );
        match raise_for(u64::MAX / 2) {
            Err(FdLimitError::TooFew { hard, .. }) => assert_eq!(hard, limit.hard),
            other => panic!("expected TooFew, got {other:?}"),
        }
    }
}
