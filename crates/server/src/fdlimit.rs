//! Sizing `maxclients` to the open-file limit, as Redis does (`adjustOpenFilesLimit`): the
//! node needs a descriptor per client plus a reserve (listeners, epoll instances, logs, the
//! admin listener's budget, the cluster bus). It raises its soft limit toward what that
//! needs and, where the hard limit does not allow it, lowers `maxclients` so that clients
//! can never run the process out of descriptors (nor can anything else take theirs).

/// Descriptors Redis keeps for its own use (`CONFIG_MIN_RESERVED_FDS`).
pub const RESERVED_FDS: usize = 32;

/// The `maxclients` this process can honour, with `extra` descriptors reserved beyond
/// [`RESERVED_FDS`]; raises the soft `RLIMIT_NOFILE` if needed and allowed, and logs when it
/// has to lower `maxclients`.
pub fn fit_maxclients(maxclients: usize, extra: usize) -> usize {
    let reserve = RESERVED_FDS + extra;
    let want = (maxclients + reserve) as u64;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return maxclients;
        }
        if limit.rlim_cur >= want {
            return maxclients;
        }
        let raised = libc::rlimit {
            rlim_cur: want.min(limit.rlim_max),
            rlim_max: limit.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            limit.rlim_cur = raised.rlim_cur;
        }
    }
    if limit.rlim_cur >= want {
        tracing::info!(
            limit = limit.rlim_cur,
            "open files limit raised for maxclients"
        );
        return maxclients;
    }
    let fit = (limit.rlim_cur as usize).saturating_sub(reserve).max(1);
    tracing::warn!(
        "You requested maxclients of {maxclients} requiring at least {want} max file \
         descriptors. Server can't set maximum open files to {want}. Current maximum open \
         files is {}. maxclients has been reduced to {fit} to compensate for low ulimit. If \
         you need higher maxclients increase 'ulimit -n'.",
        limit.rlim_cur
    );
    fit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_demands_fit() {
        assert_eq!(fit_maxclients(10, 0), 10);
    }
}
