//! The `redis` table a script sees (`call`/`pcall` are in `crate::raw_call`): `error_reply`,
//! `status_reply`, `sha1hex`, `log`, `setresp`, `set_repl`, `replicate_commands`,
//! `acl_check_cmd`, `breakpoint`, `debug` and the constants. Functions whose misuse Redis
//! raises as an error return `(error table, true)`; the Lua wrappers made at start-up
//! (`crate::vm`) raise it.

use mlua::{Lua, Table, Value, Variadic};

use crate::convert::error_table;
use crate::vm::with_running;

const REPL_NONE: i64 = 0;
const REPL_AOF: i64 = 1;
const REPL_REPLICA: i64 = 2;
const REPL_ALL: i64 = 3;

/// A value or an error to raise.
type Raising = (Value, bool);

fn raise(lua: &Lua, text: &str) -> mlua::Result<Raising> {
    Ok((error_table(lua, text)?, true))
}

fn arg_text(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        Value::Number(n) => Some(crate::libs::format_number(*n).into_bytes()),
        _ => None,
    }
}

/// The table, reporting Redis version `version` (the node's `compat-version`).
pub fn open(lua: &Lua, version: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "sha1hex",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.len() != 1 {
                return raise(lua, "-ERR wrong number of arguments");
            }
            let body = arg_text(&args[0]).unwrap_or_default();
            let hex = sha1_smol::Sha1::from(&body).digest().to_string();
            Ok((Value::String(lua.create_string(hex)?), false))
        })?,
    )?;
    t.raw_set(
        "error_reply",
        lua.create_function(
            |lua, args: Variadic<Value>| match (args.len(), args.first()) {
                (1, Some(Value::String(s))) => {
                    let text = String::from_utf8_lossy(&s.as_bytes()).into_owned();
                    let text = if text.starts_with('-') {
                        text
                    } else {
                        format!("-{text}")
                    };
                    error_table(lua, &text)
                }
                _ => error_table(lua, "-ERR wrong number or type of arguments"),
            },
        )?,
    )?;
    t.raw_set(
        "status_reply",
        lua.create_function(
            |lua, args: Variadic<Value>| match (args.len(), args.first()) {
                (1, Some(v @ (Value::String(_) | Value::Integer(_) | Value::Number(_)))) => {
                    let s = lua.create_table()?;
                    s.raw_set("ok", lua.create_string(arg_text(v).unwrap_or_default())?)?;
                    Ok(Value::Table(s))
                }
                _ => error_table(lua, "-ERR wrong number or type of arguments"),
            },
        )?,
    )?;
    t.raw_set(
        "log",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.len() < 2 {
                return raise(lua, "-ERR redis.log() requires two arguments or more.");
            }
            let level = match &args[0] {
                Value::Integer(i) => *i,
                Value::Number(n) => *n as i64,
                _ => return raise(lua, "-ERR First argument must be a number (log level)."),
            };
            if !(0..=3).contains(&level) {
                return raise(lua, "-ERR Invalid debug level.");
            }
            let text: Vec<String> = args
                .iter()
                .skip(1)
                .map(|v| String::from_utf8_lossy(&arg_text(v).unwrap_or_default()).into_owned())
                .collect();
            let text = text.join(" ");
            match level {
                0 => tracing::debug!(target: "script", "{text}"),
                1 => tracing::info!(target: "script", "{text}"),
                2 => tracing::info!(target: "script", "{text}"),
                _ => tracing::warn!(target: "script", "{text}"),
            }
            Ok((Value::Nil, false))
        })?,
    )?;
    t.raw_set(
        "setresp",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.len() != 1 {
                return raise(lua, "-ERR redis.setresp() requires one argument.");
            }
            let version = match &args[0] {
                Value::Integer(i) => *i,
                Value::Number(n) => *n as i64,
                _ => 0,
            };
            if version != 2 && version != 3 {
                return raise(lua, "-ERR RESP version must be 2 or 3.");
            }
            with_running(|_, running| running.policy.resp3 = version == 3);
            Ok((Value::Nil, false))
        })?,
    )?;
    t.raw_set(
        "set_repl",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.len() != 1 {
                return raise(lua, "-ERR redis.set_repl() requires two arguments.");
            }
            let flags = match &args[0] {
                Value::Integer(i) => *i,
                Value::Number(n) => *n as i64,
                _ => -1,
            };
            if !(REPL_NONE..=REPL_ALL).contains(&flags) {
                return raise(
                    lua,
                    "-ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                );
            }
            // There is no AOF: what reaches replicas is what REPL_REPLICA says.
            with_running(|_, running| running.replicate = flags & REPL_REPLICA != 0);
            Ok((Value::Nil, false))
        })?,
    )?;
    t.raw_set(
        "acl_check_cmd",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.is_empty() {
                return raise(
                    lua,
                    "-ERR Please specify at least one argument for this redis lib call",
                );
            }
            let mut command = resp::request::OwnedArgs::default();
            for arg in args.iter() {
                let Some(text) = arg_text(arg) else {
                    return raise(
                        lua,
                        "-ERR Lua redis lib command arguments must be strings or integers",
                    );
                };
                command.push(&text);
            }
            // The caller's user decides, keys and channels included.
            match with_running(|ctx, _| ctx.acl_allows(command.as_args())).flatten() {
                Some(allowed) => Ok((Value::Boolean(allowed), false)),
                None => raise(lua, "-ERR Invalid command passed to redis.acl_check_cmd()"),
            }
        })?,
    )?;
    t.raw_set(
        "replicate_commands",
        lua.create_function(|_, _: Variadic<Value>| Ok(true))?,
    )?;
    t.raw_set(
        "breakpoint",
        lua.create_function(|_, _: Variadic<Value>| Ok(false))?,
    )?;
    t.raw_set(
        "debug",
        lua.create_function(|_, _: Variadic<Value>| Ok(()))?,
    )?;
    for (name, value) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
        ("REPL_NONE", REPL_NONE),
        ("REPL_AOF", REPL_AOF),
        ("REPL_SLAVE", REPL_REPLICA),
        ("REPL_REPLICA", REPL_REPLICA),
        ("REPL_ALL", REPL_ALL),
    ] {
        t.raw_set(name, value)?;
    }
    t.raw_set("REDIS_VERSION", version)?;
    t.raw_set("REDIS_VERSION_NUM", version_num(version))?;
    Ok(t)
}

/// `7.2.0` as `0x070200`.
fn version_num(v: &str) -> i64 {
    v.split('.')
        .map(|p| p.parse::<i64>().unwrap_or(0))
        .chain(std::iter::repeat(0))
        .take(3)
        .fold(0, |acc, p| (acc << 8) | p)
}
