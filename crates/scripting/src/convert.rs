//! Conversions between replies and Lua values, by Redis's rules (the "Data type conversion"
//! section of the scripting documentation):
//!
//! - a command's reply into Lua (`redis.call`, in `crate::raw_call`): integers to numbers, bulk strings to strings,
//!   arrays to tables, status to `{ok=...}`, errors to `{err=...}`, a RESP2 null to `false`;
//!   in RESP3 (`redis.setresp(3)`) also null to `nil`, maps to `{map={...}}`, sets to
//!   `{set={member=true}}`, doubles to `{double=n}`, booleans to booleans, big numbers to
//!   `{big_number=s}`, verbatim strings to `{verbatim_string={format=, string=}}`;
//! - a script's value into the reply: numbers truncated to integers, strings to bulk strings,
//!   `true` to 1 (RESP3 scripts: a boolean), `false` and `nil` to null, tables with `err`,
//!   `ok`, `double`, `big_number`, `map`, `set`, `verbatim_string` fields to those replies, other tables to
//!   arrays up to their first `nil`.

use mlua::{Lua, Table, Value};
use resp::ReplyWriter;

/// Nesting a reply may reach before it is cut with an error (Redis runs out of Lua stack
/// at about this depth: "reached lua stack limit"); self-referencing tables end there.
const MAX_DEPTH: usize = 1000;

fn single(lua: &Lua, key: &str, v: Value) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set(key, v)?;
    Ok(Value::Table(t))
}

/// `{err = text}` as Redis's `luaPushErrorBuff` makes it: a leading `-` dropped (its first
/// word is the code), a message without one given the code `ERR`, trailing line breaks
/// trimmed.
pub fn error_table(lua: &Lua, text: &str) -> mlua::Result<Value> {
    single(
        lua,
        "err",
        Value::String(lua.create_string(error_text(text))?),
    )
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
fn to_integer(n: f64) -> i64 {
    let range = i64::MIN as f64..-(i64::MIN as f64);
    if n.is_nan() || !range.contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

fn lossy(s: &mlua::LuaString) -> String {
    String::from_utf8_lossy(&s.as_bytes()).into_owned()
}

/// Writes a script's value as the reply. `resp3` is the script's protocol
/// (`redis.setresp`), which decides how booleans go out; the writer's own protocol (the
/// client's) decides the wire types.
pub fn lua_to_reply(out: &mut ReplyWriter, v: &Value, resp3: bool) {
    write_value(out, v, resp3, 0)
}

fn write_value(out: &mut ReplyWriter, v: &Value, resp3: bool, depth: usize) {
    if depth > MAX_DEPTH {
        out.error("ERR reached lua stack limit");
        return;
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) if resp3 => out.boolean(*b),
        Value::Boolean(true) => out.int(1),
        Value::Boolean(false) => out.null(),
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(to_integer(*n)),
        Value::Table(t) => write_table(out, t, resp3, depth),
        _ => out.null(),
    }
}

fn write_table(out: &mut ReplyWriter, t: &Table, resp3: bool, depth: usize) {
    if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
        out.error(&lossy(&e));
        return;
    }
    if let Ok(Value::String(ok)) = t.raw_get::<Value>("ok") {
        let text: String = lossy(&ok)
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        out.simple(&text);
        return;
    }
    match t.raw_get::<Value>("double") {
        Ok(Value::Number(n)) => return out.double(n),
        Ok(Value::Integer(i)) => return out.double(i as f64),
        _ => {}
    }
    if let Ok(Value::String(b)) = t.raw_get::<Value>("big_number") {
        let text = lossy(&b);
        if out.is_resp3() {
            out.raw(format!("({text}\r\n").as_bytes());
        } else {
            out.bulk(text.as_bytes());
        }
        return;
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().filter_map(Result::ok).collect();
        out.map(pairs.len());
        for (k, v) in &pairs {
            write_value(out, k, resp3, depth + 1);
            write_value(out, v, resp3, depth + 1);
        }
        return;
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let members: Vec<Value> = s
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| k)
            .collect();
        out.set(members.len());
        for m in &members {
            write_value(out, m, resp3, depth + 1);
        }
        return;
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
        if let (Ok(Value::String(format)), Ok(Value::String(text))) =
            (v.raw_get::<Value>("format"), v.raw_get::<Value>("string"))
        {
            out.verbatim(&lossy(&format), &text.as_bytes());
            return;
        }
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
    }
    out.array(items.len());
    for item in &items {
        write_value(out, item, resp3, depth + 1);
    }
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
