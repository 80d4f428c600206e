//! The libraries Redis adds to a script's Lua: `bit`, `cjson`, `cmsgpack`, `struct`, written
//! in Rust with the semantics of the C modules Redis vendors (LuaBitOp, lua-cjson,
//! lua-cmsgpack, lua-struct). A failure is returned as `Err(message)`; the caller raises it
//! as a Lua error (see `crate::vm`).

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod structlib;

use mlua::{Lua, Value};

/// A library function's failure: the message Lua's `luaL_error` would raise.
pub type LibResult<T> = Result<T, String>;

/// Lua's type name of a value, for "bad argument" messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::LightUserData(_) | Value::UserData(_) => "userdata",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

/// `luaL_checknumber`: a number, or a string that converts to one.
pub fn check_number(v: &Value, arg: usize, func: &str) -> LibResult<f64> {
    match v {
        Value::Integer(i) => Ok(*i as f64),
        Value::Number(n) => Ok(*n),
        Value::String(s) => {
            let b = s.as_bytes();
            std::str::from_utf8(&b)
                .ok()
                .and_then(|t| parse_lua_number(t.trim()))
                .ok_or_else(|| bad_argument(arg, func, "number", v))
        }
        _ => Err(bad_argument(arg, func, "number", v)),
    }
}

/// `luaL_checklstring`: a string, or a number converted to one (`%.14g`).
pub fn check_bytes(v: &Value, arg: usize, func: &str) -> LibResult<Vec<u8>> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Integer(i) => Ok(i.to_string().into_bytes()),
        Value::Number(n) => Ok(format_number(*n).into_bytes()),
        _ => Err(bad_argument(arg, func, "string", v)),
    }
}

pub fn bad_argument(arg: usize, func: &str, expected: &str, got: &Value) -> String {
    let got = if matches!(got, Value::Nil) {
        "no value"
    } else {
        type_name(got)
    };
    format!("bad argument #{arg} to '{func}' ({expected} expected, got {got})")
}

/// Lua 5.1's `tonumber` on a string: decimal (with exponent), or hex with `0x`.
pub fn parse_lua_number(t: &str) -> Option<f64> {
    if t.is_empty() {
        return None;
    }
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        let v = u64::from_str_radix(hex, 16).ok()? as f64;
        return Some(if neg { -v } else { v });
    }
    if body.eq_ignore_ascii_case("inf")
        || body.eq_ignore_ascii_case("infinity")
        || body.eq_ignore_ascii_case("nan")
    {
        // strtod accepts these; so does Lua 5.1's tonumber.
    }
    t.parse::<f64>().ok()
}

/// Lua 5.1's `tostring` of a number (`LUAI_NUMFFORMAT`, `%.14g`).
pub fn format_number(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf" } else { "-inf" }.into();
    }
    if n == n.trunc() && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    format_g(n, 14)
}

/// C's `%.<precision>g`.
pub fn format_g(n: f64, precision: usize) -> String {
    if n == 0.0 {
        return if n.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let p = precision.max(1);
    let exp = format!("{:.*e}", p - 1, n);
    let (mantissa, e) = exp.split_once('e').expect("exponent");
    let e: i32 = e.parse().expect("exponent digits");
    if e < -4 || e >= p as i32 {
        let m = trim_zeros(mantissa);
        format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    } else {
        let decimals = (p as i32 - 1 - e).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, n)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// The shape of a table's keys for the encoders (lua-cjson's `lua_array_length`,
/// lua-cmsgpack's `table_is_an_array`): `Some((highest key, number of keys))` when every key
/// is a positive integer, `None` otherwise.
pub fn positive_integer_keys(t: &mlua::Table) -> LibResult<Option<(usize, usize)>> {
    let (mut max, mut count) = (0usize, 0usize);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair.map_err(|e| e.to_string())?;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(None),
        };
        if n < 1.0 || n.fract() != 0.0 {
            return Ok(None);
        }
        max = max.max(n as usize);
        count += 1;
    }
    Ok(Some((max, count)))
}

/// Makes a Lua table of Rust functions whose failures come back as `Err`; the caller wraps
/// them (see `crate::vm::raising`).
pub fn new_table(lua: &Lua) -> mlua::Result<mlua::Table> {
    lua.create_table()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_lua_does() {
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(1.5), "1.5");
        assert_eq!(format_number(1.0 / 3.0), "0.33333333333333");
        assert_eq!(format_number(1e20), "1e+20");
        assert_eq!(format_number(-2.5e-7), "-2.5e-07");
        assert_eq!(format_number(123456789012345678.0), "1.2345678901235e+17");
    }
}
