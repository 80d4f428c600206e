//! `redis.call` and `redis.pcall` as C functions on the raw Lua API: the hot path of every
//! script, so it skips mlua's value handles (a registry reference and a lock per value)
//! and the intermediate `resp::Frame`: arguments are read off the Lua stack into a
//! per-thread buffer, the command writes its reply into another, and the reply is parsed
//! straight onto the Lua stack (the conversions of `crate::convert::frame_to_lua`).
//!
//! # Unwinding
//! Lua raises errors with `longjmp`, which must not cross a Rust frame that owns values
//! with destructors. So the buffers are thread-local (owned by no frame), everything that
//! owns Rust values (running the command, formatting an error) finishes in its own call
//! before anything is pushed, and the frames that push (and may raise: `lua_error`, or an
//! allocation failure) hold only integers, pointers and slices into those buffers.

use std::cell::UnsafeCell;
use std::ffi::{c_char, c_int};
use std::fmt::Write as _;

use mlua::ffi::{self, lua_State};
use resp::request::OwnedArgs;
use resp::ReplyWriter;

use crate::vm::with_running;

/// Deepest reply nesting pushed onto the Lua stack.
const MAX_DEPTH: usize = 200;

struct Scratch {
    args: OwnedArgs,
    reply: ReplyWriter,
    /// An error reply's text (`CODE message`), for the error table.
    error: String,
}

thread_local! {
    static SCRATCH: UnsafeCell<Scratch> = UnsafeCell::new(Scratch {
        args: OwnedArgs::default(),
        reply: ReplyWriter::new(),
        error: String::new(),
    });
}

/// The calling thread's scratch buffers. Callers never hold two of these at once
/// (`redis.call` does not nest: a script cannot run a script).
fn scratch() -> *mut Scratch {
    SCRATCH.with(|s| s.get())
}

/// `redis.call`.
///
/// # Safety
/// Called by Lua only, as a C function, while a script runs (see the module docs).
pub unsafe extern "C-unwind" fn redis_call(state: *mut lua_State) -> c_int {
    call(state, true)
}

/// `redis.pcall`.
///
/// # Safety
/// As [`redis_call`].
pub unsafe extern "C-unwind" fn redis_pcall(state: *mut lua_State) -> c_int {
    call(state, false)
}

/// What running the command gave.
enum Outcome {
    /// The reply is in `scratch.reply` (read in RESP3 when the flag says so).
    Reply(bool),
    /// A refusal or error reply, its text in `scratch.error`.
    Error,
}

unsafe fn call(state: *mut lua_State, raise: bool) -> c_int {
    let s = scratch();
    let outcome = run(state, &mut *s);
    let s = &*s;
    // The arguments are copied out: their stack slots go to the reply (a command may have
    // taken nearly all of a C function's 8000).
    ffi::lua_settop(state, 0);
    match outcome {
        Outcome::Error => error_result(state, s.error.as_bytes(), raise),
        Outcome::Reply(resp3) => {
            let buf = s.reply.buffer();
            let mut at = 0;
            if buf.first() == Some(&b'-') {
                let line = line_at(buf, 1).unwrap_or(&[]);
                return error_result(state, line, raise);
            }
            if push_value(state, buf, &mut at, resp3, 0).is_none() {
                ffi::lua_settop(state, 0);
                return error_result(state, b"ERR reply too deep or unreadable", raise);
            }
            1
        }
    }
}

/// Reads the arguments and runs the command (everything that owns Rust values happens
/// here, before anything is pushed).
unsafe fn run(state: *mut lua_State, s: &mut Scratch) -> Outcome {
    s.error.clear();
    let n = ffi::lua_gettop(state);
    if n == 0 {
        s.error
            .push_str("ERR Please specify at least one argument for this redis lib call");
        return Outcome::Error;
    }
    s.args.clear();
    for i in 1..=n {
        let t = ffi::lua_type(state, i);
        if t != ffi::LUA_TSTRING && t != ffi::LUA_TNUMBER {
            s.error
                .push_str("ERR Lua redis lib command arguments must be strings or integers");
            return Outcome::Error;
        }
        if t == ffi::LUA_TNUMBER {
            // A number is sent as `%.17g` (Redis 7.0's luaRedisGenericCommand), not as
            // Lua's own `%.14g`: 2^53 - 1 stays exact.
            let n = ffi::lua_tonumber(state, i);
            let text = if n.is_nan() {
                if n.is_sign_negative() { "-nan" } else { "nan" }.to_string()
            } else if n.is_infinite() {
                if n > 0.0 { "inf" } else { "-inf" }.to_string()
            } else {
                crate::libs::format_g(n, 17)
            };
            s.args.push(text.as_bytes());
            continue;
        }
        let mut len = 0usize;
        let p = ffi::lua_tolstring(state, i, &mut len);
        s.args.push(std::slice::from_raw_parts(p as *const u8, len));
    }
    s.reply.clear();
    let done = with_running(|ctx, running| {
        let policy = running.policy;
        ctx.client.script_no_replicate = !running.replicate;
        let r = ctx.call_from_script(s.args.as_args(), &policy, &mut s.reply);
        ctx.client.script_no_replicate = false;
        match r {
            Ok(()) => Outcome::Reply(policy.resp3),
            Err(e) => {
                // A refusal counts in errorstats now, as Redis's scriptCall counts it
                // (`afterErrorReply`), whether the script catches it (redis.pcall) or not.
                ctx.shared.stats.count_error(&e.code());
                let _ = write!(s.error, "{e}");
                Outcome::Error
            }
        }
    });
    done.unwrap_or_else(|| {
        s.error
            .push_str("ERR redis.call is available only while a script runs");
        Outcome::Error
    })
}

/// Pushes `{err = text}` (Redis's `luaPushErrorBuff` form: `CODE message`, trailing line
/// breaks trimmed) and raises it, or returns it for `redis.pcall`.
unsafe fn error_result(state: *mut lua_State, text: &[u8], raise: bool) -> c_int {
    push_error_table(state, text);
    // Already counted in errorstats (the command's error reply, or the refusal): if it
    // ends the script, the script's reply does not count it again (Redis's
    // `ignore_error_stats_update`, on the tables of redis.call and redis.pcall alike).
    ffi::lua_pushboolean(state, 1);
    ffi::lua_setfield(state, -2, c"ignore_error_stats_update".as_ptr());
    if raise {
        ffi::lua_error(state);
    }
    1
}

unsafe fn push_error_table(state: *mut lua_State, text: &[u8]) {
    let mut text = text;
    while let [rest @ .., b'\r' | b'\n'] = text {
        text = rest;
    }
    // `CODE message` already; a bare message gets the code ERR.
    let has_code = text.iter().position(|&b| b == b' ').is_some_and(|sp| {
        sp > 0
            && text[..sp]
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
    });
    ffi::lua_createtable(state, 0, 1);
    if has_code {
        ffi::lua_pushlstring(state, text.as_ptr() as *const c_char, text.len());
    } else {
        ffi::lua_pushlstring(state, b"ERR ".as_ptr() as *const c_char, 4);
        ffi::lua_pushlstring(state, text.as_ptr() as *const c_char, text.len());
        ffi::lua_concat(state, 2);
    }
    ffi::lua_setfield(state, -2, c"err".as_ptr());
}

/// The line starting at `at` (without its CRLF).
fn line_at(buf: &[u8], at: usize) -> Option<&[u8]> {
    let rest = buf.get(at..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    Some(&rest[..end])
}

fn parse_int(s: &[u8]) -> Option<i64> {
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Pushes `t[key] = <top>`-style single-field tables: `{key = value}` with the value on top.
unsafe fn wrap_in_field(state: *mut lua_State, key: &std::ffi::CStr) {
    ffi::lua_createtable(state, 0, 1);
    ffi::lua_insert(state, -2);
    ffi::lua_setfield(state, -2, key.as_ptr());
}

/// Parses one RESP value at `*at` and pushes its Lua form. `None` for unreadable input or
/// nesting past [`MAX_DEPTH`].
unsafe fn push_value(
    state: *mut lua_State,
    buf: &[u8],
    at: &mut usize,
    resp3: bool,
    depth: usize,
) -> Option<()> {
    if depth > MAX_DEPTH || ffi::lua_checkstack(state, 4) == 0 {
        return None;
    }
    let kind = *buf.get(*at)?;
    let line = line_at(buf, *at + 1)?;
    *at += 1 + line.len() + 2;
    match kind {
        b':' => ffi::lua_pushnumber(state, parse_int(line)? as f64),
        b'$' | b'=' => {
            let n = parse_int(line)?;
            if n < 0 {
                push_null(state, resp3);
                return Some(());
            }
            let body = buf.get(*at..*at + n as usize)?;
            *at += n as usize + 2;
            if kind == b'=' {
                // A verbatim string: `txt:...`.
                let (format, text) = (body.get(..3)?, body.get(4..)?);
                ffi::lua_createtable(state, 0, 2);
                ffi::lua_pushlstring(state, format.as_ptr() as *const c_char, format.len());
                ffi::lua_setfield(state, -2, c"format".as_ptr());
                ffi::lua_pushlstring(state, text.as_ptr() as *const c_char, text.len());
                ffi::lua_setfield(state, -2, c"string".as_ptr());
                wrap_in_field(state, c"verbatim_string");
            } else {
                ffi::lua_pushlstring(state, body.as_ptr() as *const c_char, body.len());
            }
        }
        b'+' => {
            ffi::lua_pushlstring(state, line.as_ptr() as *const c_char, line.len());
            wrap_in_field(state, c"ok");
        }
        b'-' => push_error_table(state, line),
        b'_' => push_null(state, resp3),
        b'#' => ffi::lua_pushboolean(state, (line == b"t") as c_int),
        b',' => {
            let text = std::str::from_utf8(line).ok()?;
            let n = match text {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                t => t.parse().unwrap_or(f64::NAN),
            };
            ffi::lua_pushnumber(state, n);
            wrap_in_field(state, c"double");
        }
        b'(' => {
            ffi::lua_pushlstring(state, line.as_ptr() as *const c_char, line.len());
            wrap_in_field(state, c"big_number");
        }
        b'*' | b'>' => {
            let n = parse_int(line)?;
            if n < 0 {
                push_null(state, resp3);
                return Some(());
            }
            ffi::lua_createtable(state, n.min(1 << 20) as c_int, 0);
            for i in 1..=n {
                push_value(state, buf, at, resp3, depth + 1)?;
                ffi::lua_rawseti(state, -2, i as _);
            }
        }
        b'%' => {
            let n = parse_int(line)?;
            // Grown from empty as Redis grows it, so `pairs` visits the keys in Redis's order
            // (integer keys move to the array part as the table rehashes).
            ffi::lua_createtable(state, 0, 0);
            for _ in 0..n {
                push_value(state, buf, at, resp3, depth + 1)?;
                push_value(state, buf, at, resp3, depth + 1)?;
                ffi::lua_rawset(state, -3);
            }
            wrap_in_field(state, c"map");
        }
        b'|' => {
            // Attributes: read past (scripts do not see them), then the value they annotate.
            let n = parse_int(line)?;
            for _ in 0..n.max(0) * 2 {
                skip_value(buf, at, depth + 1)?;
            }
            return push_value(state, buf, at, resp3, depth);
        }
        b'~' => {
            let n = parse_int(line)?;
            ffi::lua_createtable(state, 0, 0);
            for _ in 0..n {
                push_value(state, buf, at, resp3, depth + 1)?;
                ffi::lua_pushboolean(state, 1);
                ffi::lua_rawset(state, -3);
            }
            wrap_in_field(state, c"set");
        }
        _ => return None,
    }
    Some(())
}

/// Moves `*at` past one RESP value.
fn skip_value(buf: &[u8], at: &mut usize, depth: usize) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    let kind = *buf.get(*at)?;
    let line = line_at(buf, *at + 1)?;
    *at += 1 + line.len() + 2;
    let n = match kind {
        b'$' | b'=' | b'!' => {
            let n = parse_int(line)?;
            if n > 0 {
                *at += n as usize + 2;
            }
            return Some(());
        }
        b'*' | b'>' | b'~' => parse_int(line)?,
        b'%' | b'|' => parse_int(line)?.saturating_mul(2),
        _ => return Some(()),
    };
    for _ in 0..n.max(0) {
        skip_value(buf, at, depth + 1)?;
    }
    Some(())
}

/// A null: `false` for a RESP2 script, `nil` for a RESP3 one.
unsafe fn push_null(state: *mut lua_State, resp3: bool) {
    if resp3 {
        ffi::lua_pushnil(state);
    } else {
        ffi::lua_pushboolean(state, 0);
    }
}
