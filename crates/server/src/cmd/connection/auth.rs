//! AUTH [username] password
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Failures on one connection answered at full speed; each one after them waits twice as
/// long as the one before (10 ms, 20 ms, ... up to [`MAX_PAUSE`]) before the connection
/// reads its next command, so one connection guesses a few passwords a second, not 430k.
const FREE_FAILURES: u32 = 3;
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// Checks a user's password (`ACLCheckUserCredentials`): the user must exist and be on,
/// and take the password (any, for a `nopass` user). On success the connection runs as
/// that user. A failure is counted (INFO `acl_access_denied_auth`), written to the ACL
/// log, and slows this connection down.
pub(crate) fn check(
    ctx: &mut Ctx<'_>,
    command: &[u8],
    username: &[u8],
    password: &[u8],
) -> Result<(), CmdError> {
    let ok = ctx
        .shared
        .users
        .get(username)
        .is_some_and(|u| u.accepts(password));
    if ok {
        ctx.client.auth_failures = 0;
        crate::users::become_user(ctx.shared, ctx.client, username);
        return Ok(());
    }
    let context = if ctx.client.multi.is_some() || ctx.client.in_exec {
        crate::users::Context::Multi
    } else {
        crate::users::Context::Toplevel
    };
    crate::users::log_denial(
        ctx.shared,
        ctx.client,
        crate::users::Reason::Auth,
        context,
        command,
        Some(username),
    );
    ctx.shared
        .stats
        .acl_access_denied_auth
        .fetch_add(1, Ordering::Relaxed);
    let failures = ctx.client.auth_failures.saturating_add(1);
    ctx.client.auth_failures = failures;
    // Logged on the first failures of a connection, then at every power of two.
    if failures <= FREE_FAILURES || failures.is_power_of_two() {
        tracing::warn!(
            client = ctx.client.info.id,
            addr = %ctx.client.info.addr,
            user = %String::from_utf8_lossy(username),
            failures,
            "authentication failed"
        );
    }
    if failures > FREE_FAILURES && !ctx.client.in_exec {
        let doublings = (failures - FREE_FAILURES - 1).min(16);
        let pause = (Duration::from_millis(10) * (1u32 << doublings)).min(MAX_PAUSE);
        ctx.client.pending = Some(crate::Pending::PauseUntil(Instant::now() + pause));
    }
    Err(CmdError::WrongPass)
}

pub fn auth(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (username, password) = match args.len() {
        2 => {
            if ctx.shared.users.default_user().nopass {
                return Err(CmdError::err("AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
            }
            (&b"default"[..], args.get(1))
        }
        3 => (args.get(1), args.get(2)),
        _ => return Err(CmdError::Syntax),
    };
    check(ctx, args.get(0), username, password)?;
    ctx.out.ok();
    Ok(())
}
