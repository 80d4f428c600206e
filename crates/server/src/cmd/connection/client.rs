//! CLIENT ID | SETNAME | GETNAME | LIST | INFO | KILL | SETINFO | NO-EVICT | REPLY | PAUSE |
//! UNPAUSE | UNBLOCK | HELP
use std::sync::atomic::Ordering;
use std::sync::Arc;

use resp::Args;

use crate::client::ClientInfo;
use crate::cmd::{int_arg, is};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::ReplyMode;

pub fn id(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    ctx.out.int(ctx.client.info.id as i64);
    Ok(())
}

pub fn setname(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let name = args.get(2);
    if !super::valid_client_name(name) {
        return Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    *ctx.client.info.name.write() = String::from_utf8_lossy(name).into_owned();
    ctx.out.ok();
    Ok(())
}

pub fn getname(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let name = ctx.client.info.name.read().clone();
    if name.is_empty() {
        ctx.out.null();
    } else {
        ctx.out.bulk(name.as_bytes());
    }
    Ok(())
}

/// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id [id ...]]
pub fn list(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let mut ids: Option<Vec<u64>> = None;
    let mut only_type: Option<ClientType> = None;
    let mut i = 2;
    while i < args.len() {
        let a = args.get(i);
        if is(a, "type") && i + 1 < args.len() {
            only_type = Some(client_type(args.get(i + 1))?);
            i += 2;
        } else if is(a, "id") && i + 1 < args.len() {
            let mut list = Vec::new();
            for v in args.tail(i + 1).iter() {
                let n = int_arg(v).map_err(|_| CmdError::err("Invalid client ID"))?;
                if n <= 0 {
                    return Err(CmdError::err("Invalid client ID"));
                }
                list.push(n as u64);
            }
            ids = Some(list);
            i = args.len();
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let started = ctx.shared.started;
    *ctx.client.info.last_cmd.write() = ctx.client.last_command;
    let mut text = String::new();
    for c in ctx.shared.clients.all() {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&c.id)) {
            continue;
        }
        if only_type.is_none_or(|t| t.matches(&c)) {
            text.push_str(&c.render(started));
            text.push('\n');
        }
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// The client classes of CLIENT LIST/KILL `TYPE`, as Redis's `getClientType`: the primary's
/// link, a replica's link, a subscriber, or anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Pubsub,
    Replica,
    Master,
}

impl ClientType {
    fn of(c: &ClientInfo) -> ClientType {
        match c.role.load(std::sync::atomic::Ordering::Relaxed) {
            crate::client::ROLE_MASTER => ClientType::Master,
            crate::client::ROLE_REPLICA => ClientType::Replica,
            _ if c.is_pubsub() => ClientType::Pubsub,
            _ => ClientType::Normal,
        }
    }

    fn matches(self, c: &ClientInfo) -> bool {
        Self::of(c) == self
    }
}

fn client_type(t: &[u8]) -> Result<ClientType, CmdError> {
    if is(t, "normal") {
        Ok(ClientType::Normal)
    } else if is(t, "pubsub") {
        Ok(ClientType::Pubsub)
    } else if is(t, "master") {
        Ok(ClientType::Master)
    } else if is(t, "replica") || is(t, "slave") {
        Ok(ClientType::Replica)
    } else {
        Err(CmdError::err(format!(
            "Unknown client type '{}'",
            String::from_utf8_lossy(t)
        )))
    }
}

pub fn info(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    *ctx.client.info.last_cmd.write() = ctx.client.last_command;
    let line = ctx.client.info.render(ctx.shared.started) + "\n";
    ctx.out.verbatim("txt", line.as_bytes());
    Ok(())
}

/// CLIENT KILL ip:port (old form: OK or an error) or CLIENT KILL <filter> <value> ... (new
/// form: the number killed; SKIPME defaults to yes).
pub fn kill(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let me = ctx.client.info.id;
    let clients = ctx.shared.clients.all();
    if args.len() == 3 {
        let addr = String::from_utf8_lossy(args.get(2));
        let Some(target) = clients.iter().find(|c| c.addr.to_string() == addr) else {
            return Err(CmdError::err("No such client"));
        };
        kill_one(ctx, target, me);
        ctx.out.ok();
        return Ok(());
    }
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let mut id = None;
    let mut addr = None;
    let mut laddr = None;
    let mut skipme = true;
    let mut max_age = None;
    let mut of_type = None;
    let mut user = None;
    let mut i = 2;
    while i + 1 < args.len() {
        let (k, v) = (args.get(i), args.get(i + 1));
        if is(k, "id") {
            let n = int_arg(v)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| CmdError::err("client-id should be greater than 0"))?;
            id = Some(n as u64);
        } else if is(k, "addr") {
            addr = Some(String::from_utf8_lossy(v).into_owned());
        } else if is(k, "laddr") {
            laddr = Some(String::from_utf8_lossy(v).into_owned());
        } else if is(k, "type") {
            of_type = Some(client_type(v)?);
        } else if is(k, "user") {
            if ctx.shared.users.get(v).is_none() {
                return Err(CmdError::err(format!(
                    "No such user '{}'",
                    String::from_utf8_lossy(v)
                )));
            }
            user = Some(String::from_utf8_lossy(v).into_owned());
        } else if is(k, "skipme") {
            skipme = if is(v, "yes") {
                true
            } else if is(v, "no") {
                false
            } else {
                return Err(CmdError::Syntax);
            };
        } else if is(k, "maxage") {
            max_age = Some(int_arg(v)?);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let mut killed = 0;
    for c in &clients {
        let matches = id.is_none_or(|id| c.id == id)
            && addr.as_deref().is_none_or(|a| c.addr.to_string() == a)
            && laddr.as_deref().is_none_or(|a| c.laddr.to_string() == a)
            && of_type.is_none_or(|t| t.matches(c))
            && user.as_deref().is_none_or(|u| *c.user.read() == u)
            && max_age.is_none_or(|age| c.created.elapsed().as_secs() as i64 >= age)
            && !(skipme && c.id == me);
        if matches {
            kill_one(ctx, c, me);
            killed += 1;
        }
    }
    ctx.out.int(killed);
    Ok(())
}

/// Closes a client: this one after its reply, another at once (CLIENT KILL, ACL DELUSER).
pub(crate) fn kill_one(ctx: &mut Ctx<'_>, target: &Arc<ClientInfo>, me: u64) {
    if target.id == me {
        ctx.client.close_after_reply = true;
    } else {
        target.kill.cancel();
        // Gone from CLIENT LIST at once, as in Redis, not when its task gets to run.
        ctx.shared.clients.remove(target.id);
    }
}

/// CLIENT SETINFO LIB-NAME|LIB-VER value (Redis 7.2).
pub fn setinfo(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (attr, value) = (args.get(2), args.get(3));
    if !super::valid_client_name(value) && !value.is_empty() {
        return Err(CmdError::err(format!(
            "{} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(attr).to_ascii_lowercase()
        )));
    }
    let value = String::from_utf8_lossy(value).into_owned();
    if is(attr, "lib-name") {
        *ctx.client.info.lib_name.write() = value;
    } else if is(attr, "lib-ver") {
        *ctx.client.info.lib_ver.write() = value;
    } else {
        return Err(CmdError::err(format!(
            "Unrecognized option '{}'",
            String::from_utf8_lossy(attr)
        )));
    }
    ctx.out.ok();
    Ok(())
}

/// `ON` / `OFF` of CLIENT NO-EVICT and NO-TOUCH.
fn on_off(v: &[u8]) -> Result<bool, CmdError> {
    if is(v, "on") {
        Ok(true)
    } else if is(v, "off") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

pub fn no_evict(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let on = on_off(args.get(2))?;
    ctx.client.info.no_evict.store(on, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

/// CLIENT NO-TOUCH ON|OFF (Redis 7.2): while on, this client's commands (other than TOUCH)
/// do not update the LRU/LFU data of the keys they read — a monitoring or backup client
/// then does not make cold keys look hot to eviction.
pub fn no_touch(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let on = on_off(args.get(2))?;
    ctx.client.info.no_touch.store(on, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

/// CLIENT REPLY ON | OFF | SKIP. Only ON is answered; the dispatcher applies the mode.
pub fn reply(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let v = args.get(2);
    if is(v, "on") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.out.ok();
    } else if is(v, "off") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if is(v, "skip") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

/// Redis 7.0's text; at the 7.2 level also the subcommands 7.2 added (SETINFO, NO-TOUCH).
pub fn help(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    const BEFORE_SETINFO: &[&str] = &[
        "CACHING (YES|NO)",
        "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
        "GETREDIR",
        "    Return the client ID we are redirecting to when tracking is enabled.",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are:",
        "    * ADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made from the specified address",
        "    * LADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made to specified local address",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Kill connections by type.",
        "    * USER <username>",
        "      Kill connections authenticated by <username>.",
        "    * SKIPME (YES|NO)",
        "      Skip killing current connection (default: yes).",
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
    ];
    const SETINFO: &[&str] = &[
        "SETINFO <option> <value>",
        "    Set client meta attr. Options are:",
        "    * LIB-NAME: the client lib name.",
        "    * LIB-VER: the client lib version.",
    ];
    const AFTER_SETINFO: &[&str] = &[
        "UNBLOCK <clientid> [TIMEOUT|ERROR]",
        "    Unblock the specified blocked client.",
        "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
        "         [OPTIN] [OPTOUT] [NOLOOP]",
        "    Control server assisted client side caching.",
        "TRACKINGINFO",
        "    Report tracking status for the current connection.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
    ];
    const NO_TOUCH: &[&str] = &[
        "NO-TOUCH (ON|OFF)",
        "    Will not touch LRU/LFU stats when this mode is on.",
    ];
    let redis_7_2 = ctx.shared.live.redis_7_2;
    let mut lines: Vec<&str> = BEFORE_SETINFO.to_vec();
    if redis_7_2 {
        lines.extend_from_slice(SETINFO);
    }
    lines.extend_from_slice(AFTER_SETINFO);
    if redis_7_2 {
        lines.extend_from_slice(NO_TOUCH);
    }
    crate::cmd::help(ctx.out, "CLIENT", &lines);
    Ok(())
}

/// CLIENT PAUSE timeout [WRITE|ALL]: hold back every command (ALL, the default) or those
/// that write, for `timeout` milliseconds or until CLIENT UNPAUSE.
pub fn pause(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    if args.len() > 4 {
        return Err(CmdError::err(
            "unknown subcommand or wrong number of arguments for 'PAUSE'. Try CLIENT HELP.",
        ));
    }
    let ms = resp::number::parse_i64(args.get(2))
        .ok_or_else(|| CmdError::err("timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    let all = match args.len() {
        3 => true,
        _ if crate::cmd::is(args.get(3), "all") => true,
        _ if crate::cmd::is(args.get(3), "write") => false,
        _ => return Err(CmdError::err("CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let until = std::time::Instant::now() + std::time::Duration::from_millis(ms as u64);
    ctx.shared.pause.pause(until, all);
    ctx.out.ok();
    Ok(())
}

/// CLIENT UNPAUSE: lifts a pause at once.
pub fn unpause(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    ctx.shared.pause.unpause();
    ctx.out.ok();
    Ok(())
}

/// CLIENT UNBLOCK client-id [TIMEOUT|ERROR]: ends another client's blocking command as if
/// it timed out, or with `-UNBLOCKED`; 1 if that client was blocked, else 0.
pub fn unblock(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let id = int_arg(args.get(2))?;
    let reason = match args.len() {
        3 => 1,
        4 if is(args.get(3), "timeout") => 1,
        4 if is(args.get(3), "error") => 2,
        _ => {
            return Err(CmdError::err(
                "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let target = ctx
        .shared
        .clients
        .all()
        .into_iter()
        .find(|c| c.id as i64 == id && c.blocked.load(Ordering::SeqCst));
    let Some(target) = target else {
        ctx.out.int(0);
        return Ok(());
    };
    target
        .unblock
        .store(reason, std::sync::atomic::Ordering::SeqCst);
    target.unblocked.notify_one();
    ctx.out.int(1);
    Ok(())
}
