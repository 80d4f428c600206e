//! `cjson`: lua-cjson 2.1 as Redis ships it — `encode`, `decode`, `null` and the setting
//! functions — with its output (numbers as `%.14g`, `/` escaped, an empty table as `{}`,
//! object keys in Lua's table order) and its error messages.

use mlua::{LightUserData, Lua, Table, Value, Variadic};

use super::{format_g, type_name, LibResult};

/// lua-cjson's names for an on/off setting.
const BOOL: &[&str] = &["off", "on"];

/// lua-cjson's settings (`json_config_t`), changed by the `cjson.encode_*` / `decode_*`
/// functions and kept by the Lua state for the scripts that follow, as in Redis (until
/// SCRIPT FLUSH makes a new state).
#[derive(Debug, Clone, Copy)]
struct Config {
    encode_max_depth: usize,
    decode_max_depth: usize,
    /// 0 off (an error), 1 on (`nan`, `inf`), 2 null.
    encode_invalid_numbers: u8,
    decode_invalid_numbers: bool,
    /// Sparse arrays: converted to objects, or (the default) refused, when the highest
    /// index is past `sparse_safe` and more than `sparse_ratio` times the element count.
    sparse_convert: bool,
    sparse_ratio: usize,
    sparse_safe: usize,
    number_precision: usize,
    keep_buffer: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: true,
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            number_precision: 14,
            keep_buffer: true,
        }
    }
}

fn config(lua: &Lua) -> Config {
    lua.app_data_ref::<Config>().map(|c| *c).unwrap_or_default()
}

fn set_config(lua: &Lua, f: impl FnOnce(&mut Config)) {
    let mut c = config(lua);
    f(&mut c);
    lua.set_app_data(c);
}

/// lua-cjson's `json_integer_option`: sets from argument `arg` when given (an integer in
/// `min..=max`), answers the value now.
fn integer_option(
    args: &[Value],
    arg: usize,
    func: &str,
    min: i64,
    max: i64,
) -> LibResult<Option<usize>> {
    match args.get(arg - 1) {
        None | Some(Value::Nil) => Ok(None),
        Some(v) => {
            let n = match v {
                Value::Integer(i) => *i,
                Value::Number(n) => *n as i64,
                Value::String(s) => std::str::from_utf8(&s.as_bytes())
                    .ok()
                    .and_then(|t| t.trim().parse::<f64>().ok())
                    .map(|f| f as i64)
                    .ok_or_else(|| super::bad_argument(arg, func, "number", v))?,
                _ => return Err(super::bad_argument(arg, func, "number", v)),
            };
            if n < min || n > max {
                return Err(format!(
                    "bad argument #1 to '{func}' (expected integer between {min} and {max})"
                ));
            }
            Ok(Some(n as usize))
        }
    }
}

/// lua-cjson's `json_enum_option` with `options` (index 1 is "on" when booleans are
/// accepted): the index set, if an argument was given.
fn enum_option(args: &[Value], arg: usize, func: &str, options: &[&str]) -> LibResult<Option<u8>> {
    match args.get(arg - 1) {
        None | Some(Value::Nil) => Ok(None),
        Some(Value::Boolean(b)) => Ok(Some(*b as u8)),
        Some(Value::String(s)) => {
            let text = s.as_bytes();
            match options.iter().position(|o| o.as_bytes() == &text[..]) {
                Some(i) => Ok(Some(i as u8)),
                None => Err(format!(
                    "bad argument #{arg} to '{func}' (invalid option '{}')",
                    String::from_utf8_lossy(&text)
                )),
            }
        }
        Some(v) => Err(super::bad_argument(arg, func, "string", v)),
    }
}

fn too_many(args: &[Value], n: usize, func: &str) -> LibResult<()> {
    if args.len() > n {
        return Err(format!(
            "bad argument #{} to '{func}' (found too many arguments)",
            n + 1
        ));
    }
    Ok(())
}

/// A lua-cjson setting of one integer in `min..=max` (`cjson.encode_max_depth(n)` ...):
/// sets it from argument 1 when given, answers the value now.
fn integer_setting(
    lua: &Lua,
    t: &Table,
    name: &'static str,
    min: i64,
    max: i64,
    field: fn(&mut Config) -> &mut usize,
) -> mlua::Result<()> {
    let f = crate::vm::raising(lua, move |lua, args: Variadic<Value>| {
        too_many(&args, 1, name)?;
        if let Some(n) = integer_option(&args, 1, name, min, max)? {
            set_config(lua, |c| *field(c) = n);
        }
        Ok(*field(&mut config(lua)) as i64)
    })?;
    t.raw_set(name, f)
}

/// A lua-cjson on/off setting (a boolean, or "on" / "off"): sets it from argument 1 when
/// given, answers the value now.
fn bool_setting(
    lua: &Lua,
    t: &Table,
    name: &'static str,
    field: fn(&mut Config) -> &mut bool,
) -> mlua::Result<()> {
    let f = crate::vm::raising(lua, move |lua, args: Variadic<Value>| {
        too_many(&args, 1, name)?;
        if let Some(v) = enum_option(&args, 1, name, BOOL)? {
            set_config(lua, |c| *field(c) = v == 1);
        }
        Ok(*field(&mut config(lua)))
    })?;
    t.raw_set(name, f)
}

/// An enum setting's value as lua-cjson answers it: a boolean for off/on, else its name.
fn enum_value(lua: &Lua, v: u8, options: &[&str]) -> mlua::Result<Value> {
    Ok(match v {
        0 | 1 => Value::Boolean(v == 1),
        n => Value::String(lua.create_string(options[n as usize])?),
    })
}

/// `cjson.null`: lua-cjson's `NULL` light userdata.
pub fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn is_null(v: &Value) -> bool {
    matches!(v, Value::LightUserData(p) if p.0.is_null())
}

pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "encode",
        crate::vm::raising(lua, |lua, v: Value| {
            let mut out = Vec::new();
            encode(&v, 0, &config(lua), &mut out)?;
            lua.create_string(&out).map_err(|e| e.to_string())
        })?,
    )?;
    t.raw_set(
        "decode",
        crate::vm::raising(lua, |lua, v: Value| {
            let text = match &v {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Integer(_) | Value::Number(_) => super::check_bytes(&v, 1, "decode")?,
                _ => return Err(super::bad_argument(1, "decode", "string", &v)),
            };
            Decoder {
                lua,
                s: &text,
                at: 0,
                max_depth: config(lua).decode_max_depth,
            }
            .document()
        })?,
    )?;
    t.raw_set("null", null())?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    // The settings, kept for the scripts that follow (see `Config`).
    const INVALID: &[&str] = &["off", "on", "null"];
    integer_setting(lua, &t, "encode_max_depth", 1, i32::MAX as i64, |c| {
        &mut c.encode_max_depth
    })?;
    integer_setting(lua, &t, "decode_max_depth", 1, i32::MAX as i64, |c| {
        &mut c.decode_max_depth
    })?;
    integer_setting(lua, &t, "encode_number_precision", 1, 14, |c| {
        &mut c.number_precision
    })?;
    bool_setting(lua, &t, "encode_keep_buffer", |c| &mut c.keep_buffer)?;
    t.raw_set(
        "encode_invalid_numbers",
        crate::vm::raising(lua, |lua, args: Variadic<Value>| {
            too_many(&args, 1, "encode_invalid_numbers")?;
            if let Some(v) = enum_option(&args, 1, "encode_invalid_numbers", INVALID)? {
                set_config(lua, |c| c.encode_invalid_numbers = v);
            }
            enum_value(lua, config(lua).encode_invalid_numbers, INVALID).map_err(|e| e.to_string())
        })?,
    )?;
    bool_setting(lua, &t, "decode_invalid_numbers", |c| {
        &mut c.decode_invalid_numbers
    })?;
    t.raw_set(
        "encode_sparse_array",
        crate::vm::raising(lua, |lua, args: Variadic<Value>| {
            too_many(&args, 3, "encode_sparse_array")?;
            let convert = enum_option(&args, 1, "encode_sparse_array", BOOL)?;
            let ratio = integer_option(&args, 2, "encode_sparse_array", 0, i32::MAX as i64)?;
            let safe = integer_option(&args, 3, "encode_sparse_array", 0, i32::MAX as i64)?;
            set_config(lua, |c| {
                if let Some(v) = convert {
                    c.sparse_convert = v == 1;
                }
                if let Some(r) = ratio {
                    c.sparse_ratio = r;
                }
                if let Some(n) = safe {
                    c.sparse_safe = n;
                }
            });
            let c = config(lua);
            Ok((
                c.sparse_convert,
                c.sparse_ratio as i64,
                c.sparse_safe as i64,
            ))
        })?,
    )?;
    Ok(t)
}

fn encode(v: &Value, depth: usize, cfg: &Config, out: &mut Vec<u8>) -> LibResult<()> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        v if is_null(v) => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Number(n) if !n.is_finite() => match cfg.encode_invalid_numbers {
            0 => return Err("Cannot serialise number: must not be NaN or Inf".into()),
            2 => out.extend_from_slice(b"null"),
            _ if n.is_nan() => out.extend_from_slice(b"nan"),
            _ => out.extend_from_slice(if *n > 0.0 { b"inf" } else { b"-inf" }),
        },
        Value::Number(n) => {
            out.extend_from_slice(format_number(*n, cfg.number_precision).as_bytes())
        }
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth + 1 > cfg.encode_max_depth {
                return Err(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                ));
            }
            match array_length(t, cfg)? {
                Some(len) => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        let item: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                        encode(&item, depth + 1, cfg, out)?;
                    }
                    out.push(b']');
                }
                None => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.clone().pairs::<Value, Value>() {
                        let (k, item) = pair.map_err(|e| e.to_string())?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::String(s) => encode_string(&s.as_bytes(), out),
                            Value::Integer(i) => encode_string(i.to_string().as_bytes(), out),
                            Value::Number(n) => encode_string(
                                format_number(*n, cfg.number_precision).as_bytes(),
                                out,
                            ),
                            other => {
                                return Err(format!(
                                    "Cannot serialise {}: table key must be a number or string",
                                    type_name(other)
                                ))
                            }
                        }
                        out.push(b':');
                        encode(&item, depth + 1, cfg, out)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                type_name(other)
            ))
        }
    }
    Ok(())
}

/// lua-cjson's `lua_array_length`: `Some(max index)` when every key is a positive integer
/// (and the array is not excessively sparse), `None` for an object (or an empty table).
fn array_length(t: &Table, cfg: &Config) -> LibResult<Option<usize>> {
    let Some((max, items)) = super::positive_integer_keys(t)? else {
        return Ok(None);
    };
    if max == 0 {
        return Ok(None);
    }
    if cfg.sparse_ratio > 0 && max > items * cfg.sparse_ratio && max > cfg.sparse_safe {
        if cfg.sparse_convert {
            return Ok(None);
        }
        return Err("Cannot serialise table: excessively sparse array".into());
    }
    Ok(Some(max))
}

/// A number as lua-cjson writes it: `%.<precision>g`.
fn format_number(n: f64, precision: usize) -> String {
    if precision == 14 && n == n.trunc() && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    format_g(n, precision)
}

fn encode_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c < 0x20 || c == 0x7f => {
                out.extend_from_slice(format!("\\u{:04x}", c).as_bytes());
            }
            c => out.push(c),
        }
    }
    out.push(b'"');
}

struct Decoder<'a> {
    lua: &'a Lua,
    s: &'a [u8],
    at: usize,
    /// `decode_max_depth` now.
    max_depth: usize,
}

/// A token's name in lua-cjson's "Expected X but found Y" messages.
enum Found {
    Token(&'static str),
    Error(&'static str),
}

impl Decoder<'_> {
    fn document(&mut self) -> LibResult<Value> {
        let v = self.value(0)?;
        self.skip_ws();
        if self.at < self.s.len() {
            let (found, at) = self.peek_token();
            return Err(self.expected("the end", found, at));
        }
        Ok(v)
    }

    fn skip_ws(&mut self) {
        while self.at < self.s.len() && matches!(self.s[self.at], b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
    }

    fn expected(&self, what: &str, found: Found, at: usize) -> String {
        let found = match found {
            Found::Token(t) | Found::Error(t) => t,
        };
        format!("Expected {what} but found {found} at character {}", at + 1)
    }

    /// What starts at the cursor, for an error message.
    fn peek_token(&self) -> (Found, usize) {
        let at = self.at;
        let Some(&c) = self.s.get(at) else {
            return (Found::Token("T_END"), at);
        };
        let t = match c {
            b'{' => "T_OBJ_BEGIN",
            b'}' => "T_OBJ_END",
            b'[' => "T_ARR_BEGIN",
            b']' => "T_ARR_END",
            b':' => "T_COLON",
            b',' => "T_COMMA",
            b'"' => "T_STRING",
            b'-' | b'0'..=b'9' => "T_NUMBER",
            b't' if self.s[at..].starts_with(b"true") => "T_BOOLEAN",
            b'f' if self.s[at..].starts_with(b"false") => "T_BOOLEAN",
            b'n' if self.s[at..].starts_with(b"null") => "T_NULL",
            _ => return (Found::Error("invalid token"), at),
        };
        (Found::Token(t), at)
    }

    fn value(&mut self, depth: usize) -> LibResult<Value> {
        self.skip_ws();
        let at = self.at;
        let Some(&c) = self.s.get(at) else {
            return Err(self.expected("value", Found::Token("T_END"), at));
        };
        let lua_err = |e: mlua::Error| e.to_string();
        match c {
            b'{' | b'[' => {
                if depth + 1 > self.max_depth {
                    return Err(format!(
                        "Found too many nested data structures ({}) at character {}",
                        depth + 1,
                        at + 1
                    ));
                }
                self.at += 1;
                let t = self.lua.create_table().map_err(lua_err)?;
                if c == b'{' {
                    self.object(&t, depth + 1)?;
                } else {
                    self.array(&t, depth + 1)?;
                }
                Ok(Value::Table(t))
            }
            b'"' => {
                let s = self.string()?;
                Ok(Value::String(self.lua.create_string(&s).map_err(lua_err)?))
            }
            b'-' | b'0'..=b'9' => self.number(),
            b't' if self.s[at..].starts_with(b"true") => {
                self.at += 4;
                Ok(Value::Boolean(true))
            }
            b'f' if self.s[at..].starts_with(b"false") => {
                self.at += 5;
                Ok(Value::Boolean(false))
            }
            b'n' if self.s[at..].starts_with(b"null") => {
                self.at += 4;
                Ok(null())
            }
            _ => {
                let (found, at) = self.peek_token();
                Err(self.expected("value", found, at))
            }
        }
    }

    fn object(&mut self, t: &Table, depth: usize) -> LibResult<()> {
        self.skip_ws();
        if self.s.get(self.at) == Some(&b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            if self.s.get(self.at) != Some(&b'"') {
                let (found, at) = self.peek_token();
                return Err(self.expected("object key string", found, at));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.s.get(self.at) != Some(&b':') {
                let (found, at) = self.peek_token();
                return Err(self.expected("colon", found, at));
            }
            self.at += 1;
            let v = self.value(depth)?;
            let key = self.lua.create_string(&key).map_err(|e| e.to_string())?;
            t.raw_set(key, v).map_err(|e| e.to_string())?;
            self.skip_ws();
            match self.s.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => {
                    let (found, at) = self.peek_token();
                    return Err(self.expected("comma or object end", found, at));
                }
            }
        }
    }

    fn array(&mut self, t: &Table, depth: usize) -> LibResult<()> {
        self.skip_ws();
        if self.s.get(self.at) == Some(&b']') {
            self.at += 1;
            return Ok(());
        }
        let mut i = 1i64;
        loop {
            let v = self.value(depth)?;
            t.raw_set(i, v).map_err(|e| e.to_string())?;
            i += 1;
            self.skip_ws();
            match self.s.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => {
                    let (found, at) = self.peek_token();
                    return Err(self.expected("comma or array end", found, at));
                }
            }
        }
    }

    fn number(&mut self) -> LibResult<Value> {
        let start = self.at;
        let mut end = start;
        while end < self.s.len()
            && matches!(self.s[end], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        {
            end += 1;
        }
        let text = std::str::from_utf8(&self.s[start..end]).unwrap_or("");
        match text.parse::<f64>() {
            Ok(n) => {
                self.at = end;
                Ok(Value::Number(n))
            }
            Err(_) => Err(self.expected("value", Found::Error("invalid number"), start)),
        }
    }

    /// A string token (the cursor on its opening quote), escapes decoded (`\u` to UTF-8,
    /// surrogate pairs joined).
    fn string(&mut self) -> LibResult<Vec<u8>> {
        let start = self.at;
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.at) else {
                return Err(self.expected(
                    "value",
                    Found::Error("unexpected end of string"),
                    start,
                ));
            };
            self.at += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let escape_at = self.at - 1;
                    let Some(&e) = self.s.get(self.at) else {
                        return Err(self.expected(
                            "value",
                            Found::Error("unexpected end of string"),
                            start,
                        ));
                    };
                    self.at += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let cp = self.unicode_escape().ok_or_else(|| {
                                self.expected(
                                    "value",
                                    Found::Error("invalid unicode escape code"),
                                    escape_at,
                                )
                            })?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(cp.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => {
                            return Err(self.expected(
                                "value",
                                Found::Error("invalid escape code"),
                                escape_at,
                            ))
                        }
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.s.get(self.at..self.at + 4)?;
        let v = u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?;
        self.at += 4;
        Some(v)
    }

    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) {
            if self.s.get(self.at..self.at + 2) != Some(b"\\u") {
                return None;
            }
            self.at += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return None;
            }
            char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
        } else if (0xDC00..0xE000).contains(&first) {
            None
        } else {
            char::from_u32(first)
        }
    }
}
