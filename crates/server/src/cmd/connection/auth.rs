//! AUTH [username] password
use std::sync::atomic::Ordering;

use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Checks a password against `requirepass`. Only the `default` user exists; without
/// `requirepass` it accepts any password (Redis's `nopass` default user).
pub(crate) fn check(ctx: &Ctx<'_>, username: &[u8], password: &[u8]) -> Result<(), CmdError> {
    if username != b"default" {
        return Err(CmdError::WrongPass);
    }
    match ctx.shared.live.requirepass() {
        None => Ok(()),
        Some(p) if constant_time_eq(p.as_bytes(), password) => Ok(()),
        Some(_) => Err(CmdError::WrongPass),
    }
}

/// Compares without an early exit, so response time does not leak the password prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn auth(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (username, password) = match args.len() {
        2 => {
            if ctx.shared.live.requirepass().is_none() {
                return Err(CmdError::err("AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
            }
            (&b"default"[..], args.get(1))
        }
        3 => (args.get(1), args.get(2)),
        _ => return Err(CmdError::Syntax),
    };
    check(ctx, username, password)?;
    ctx.client.authenticated = true;
    ctx.client.info.authenticated.store(true, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}
