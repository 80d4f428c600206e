//! A script's value into the reply, by Redis's rules (`luaReplyToRedisReply`), read straight
//! off the Lua stack: numbers truncated to integers, strings to bulk strings, `true` to 1
//! (a RESP3 script — `redis.setresp(3)` — gives a boolean), `false` and `nil` to null;
//! tables with an `err`, `ok`, `double`, `big_number`, `verbatim_string`, `map` or `set`
//! field to those replies, other tables to arrays up to their first `nil`. Fields are read
//! raw (no metamethods run). Nesting ends where Lua's stack does ("reached lua stack
//! limit"), at the same depth as on Redis. (A command's reply into Lua is `crate::raw_call`.)
//!
//! Only raw reads and the reply writer run here: nothing raises a Lua error, so these frames
//! are never unwound by one.

use std::ffi::c_char;

use mlua::ffi::{self, lua_State};
use mlua::Lua;
use resp::ReplyWriter;

/// `{err = text}` as Redis's `luaPushErrorBuff` makes it: a leading `-` dropped (its first
/// word is the code), a message without one given the code `ERR`, trailing line breaks
/// trimmed.
pub fn error_table(lua: &Lua, text: &str) -> mlua::Result<mlua::Value> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set("err", lua.create_string(error_text(text))?)?;
    Ok(mlua::Value::Table(t))
}

pub fn error_text(text: &str) -> String {
    let (code, msg) = match text.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, msg)) => (code.to_string(), msg),
            None => ("ERR".to_string(), rest),
        },
        None => match text.split_once(' ') {
            // Already "CODE message" (our errors' Display, a command's error reply).
            Some((code, msg)) if is_code(code) => (code.to_string(), msg),
            _ => ("ERR".to_string(), text),
        },
    };
    format!("{code} {}", msg.trim_end_matches(['\r', '\n']))
}

/// An error code is upper-case letters (ERR, WRONGTYPE, NOSCRIPT, ...).
fn is_code(word: &str) -> bool {
    !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// C's `(long long)` of a double on x86-64: out of range (and NaN) gives the minimum.
pub fn to_integer(n: f64) -> i64 {
    let range = i64::MIN as f64..-(i64::MIN as f64);
    if n.is_nan() || !range.contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// The bytes of the string at `idx` (which must be a string).
unsafe fn bytes<'a>(state: *mut lua_State, idx: i32) -> &'a [u8] {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(state, idx, &mut len);
    std::slice::from_raw_parts(p as *const u8, len)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// Pushes `t[key]` (raw) for the table at `idx` (negative, relative to before the push)
/// and returns its type.
unsafe fn field(state: *mut lua_State, idx: i32, key: &str) -> i32 {
    ffi::lua_pushlstring(state, key.as_ptr() as *const c_char, key.len());
    ffi::lua_rawget(state, idx - 1);
    ffi::lua_type(state, -1)
}

/// Writes the value on top of the stack as the reply and pops it. `resp3`: the script's
/// protocol (`redis.setresp`), which decides how booleans go out.
///
/// # Safety
/// `state` is a Lua state with a value on top.
pub unsafe fn write_top(state: *mut lua_State, out: &mut ReplyWriter, resp3: bool) {
    if ffi::lua_checkstack(state, 4) == 0 {
        out.error("ERR reached lua stack limit");
        ffi::lua_settop(state, -2);
        return;
    }
    match ffi::lua_type(state, -1) {
        ffi::LUA_TSTRING => out.bulk(bytes(state, -1)),
        ffi::LUA_TBOOLEAN => {
            let b = ffi::lua_toboolean(state, -1) != 0;
            match (resp3, b) {
                (true, b) => out.boolean(b),
                (false, true) => out.int(1),
                (false, false) => out.null(),
            }
        }
        ffi::LUA_TNUMBER => out.int(to_integer(ffi::lua_tonumber(state, -1))),
        ffi::LUA_TTABLE => {
            write_table(state, out, resp3);
            return;
        }
        _ => out.null(),
    }
    ffi::lua_settop(state, -2);
}

/// [`write_top`] for a table; pops it.
unsafe fn write_table(state: *mut lua_State, out: &mut ReplyWriter, resp3: bool) {
    let pop = |n: i32| ffi::lua_settop(state, -1 - n);
    if field(state, -1, "err") == ffi::LUA_TSTRING {
        out.error(&lossy(bytes(state, -1)));
        return pop(2);
    }
    pop(1);
    if field(state, -1, "ok") == ffi::LUA_TSTRING {
        out.simple(&lossy(bytes(state, -1)));
        return pop(2);
    }
    pop(1);
    if field(state, -1, "double") == ffi::LUA_TNUMBER {
        out.double(ffi::lua_tonumber(state, -1));
        return pop(2);
    }
    pop(1);
    if field(state, -1, "big_number") == ffi::LUA_TSTRING {
        let text = lossy(bytes(state, -1));
        if out.is_resp3() {
            out.raw(format!("({text}\r\n").as_bytes());
        } else {
            out.bulk(text.as_bytes());
        }
        return pop(2);
    }
    pop(1);
    if field(state, -1, "verbatim_string") == ffi::LUA_TTABLE {
        if field(state, -1, "format") == ffi::LUA_TSTRING {
            if field(state, -2, "string") == ffi::LUA_TSTRING {
                let format = lossy(bytes(state, -2));
                out.verbatim(&format, bytes(state, -1));
                return pop(4);
            }
            pop(1);
        }
        pop(1);
    }
    pop(1);
    if field(state, -1, "map") == ffi::LUA_TTABLE {
        let mut pairs = 0;
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, -2) != 0 {
            pop(1);
            pairs += 1;
        }
        out.map(pairs);
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, -2) != 0 {
            // Stack: map, key, value.
            ffi::lua_pushvalue(state, -2);
            write_top(state, out, resp3);
            write_top(state, out, resp3);
        }
        return pop(2);
    }
    pop(1);
    if field(state, -1, "set") == ffi::LUA_TTABLE {
        let mut members = 0;
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, -2) != 0 {
            pop(1);
            members += 1;
        }
        out.set(members);
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, -2) != 0 {
            pop(1);
            ffi::lua_pushvalue(state, -1);
            write_top(state, out, resp3);
        }
        return pop(2);
    }
    pop(1);
    // An array: its elements up to the first nil.
    let mut len = 0;
    loop {
        ffi::lua_rawgeti(state, -1, (len + 1) as _);
        let nil = ffi::lua_type(state, -1) == ffi::LUA_TNIL;
        pop(1);
        if nil {
            break;
        }
        len += 1;
    }
    out.array(len);
    for i in 1..=len {
        ffi::lua_rawgeti(state, -1, i as _);
        write_top(state, out, resp3);
    }
    pop(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_follow_lua_push_error_buff() {
        assert_eq!(error_text("-WRONGTYPE Operation"), "WRONGTYPE Operation");
        assert_eq!(error_text("-single"), "ERR single");
        assert_eq!(error_text("no code"), "ERR no code");
        assert_eq!(error_text("ERR value is bad\r\n"), "ERR value is bad");
        assert_eq!(to_integer(1e20), i64::MIN);
        assert_eq!(to_integer(-3.99), -3);
    }
}
