//! `cmsgpack`: lua-cmsgpack 0.4 as Redis ships it — `pack(...)`, `unpack(s)`,
//! `unpack_one(s [, offset])`, `unpack_limit(s, limit [, offset])` — with its encoding
//! choices (the smallest integer form, a float when a double survives the round trip,
//! arrays for tables keyed 1..n, nil past 16 levels of nesting) and error texts.

use mlua::{Lua, Table, Value, Variadic};

use super::LibResult;

/// Deeper tables are packed as nil (`LUACMSGPACK_MAX_NESTING`).
const MAX_NESTING: usize = 16;

fn encode(v: &Value, level: usize, out: &mut Vec<u8>) -> LibResult<()> {
    match v {
        Value::Nil => out.push(0xc0),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_int(*i, out),
        Value::Number(n) => {
            let n = *n;
            if !n.is_infinite() && (n as i64) as f64 == n {
                encode_int(n as i64, out);
            } else if (n as f32) as f64 == n || n.is_nan() {
                out.push(0xca);
                out.extend_from_slice(&(n as f32).to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        Value::String(s) => {
            let b = s.as_bytes();
            let len = b.len();
            if len < 32 {
                out.push(0xa0 | len as u8);
            } else if len <= 0xff {
                out.push(0xd9);
                out.push(len as u8);
            } else if len <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            out.extend_from_slice(&b);
        }
        Value::Table(_) if level >= MAX_NESTING => out.push(0xc0),
        Value::Table(t) => match array_len(t)? {
            Some(len) => {
                header(out, len, 0x90, 0xdc, 0xdd);
                for i in 1..=len {
                    let item: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                    encode(&item, level + 1, out)?;
                }
            }
            None => {
                // Counted, then walked again encoding as it goes: holding every pair
                // would pin one Lua reference per key and value, and a big table runs
                // the reference stack out.
                let mut count = 0usize;
                for pair in t.clone().pairs::<Value, Value>() {
                    pair.map_err(|e| e.to_string())?;
                    count += 1;
                }
                header(out, count, 0x80, 0xde, 0xdf);
                for pair in t.clone().pairs::<Value, Value>() {
                    let (k, item) = pair.map_err(|e| e.to_string())?;
                    encode(&k, level + 1, out)?;
                    encode(&item, level + 1, out)?;
                }
            }
        },
        _ => out.push(0xc0),
    }
    Ok(())
}

fn header(out: &mut Vec<u8>, len: usize, fix: u8, b16: u8, b32: u8) {
    if len < 16 {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn encode_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// lua-cmsgpack's `table_is_an_array`: every key a positive integer and no holes (an
/// empty table is an empty array). `Some(length)` then.
fn array_len(t: &Table) -> LibResult<Option<usize>> {
    Ok(super::positive_integer_keys(t)?
        .filter(|(max, count)| max == count)
        .map(|(_, count)| count))
}

enum DecodeError {
    Eof,
    BadFormat,
}

struct Cursor<'a> {
    lua: &'a Lua,
    s: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).ok_or(DecodeError::Eof)?;
        let b = self.s.get(self.at..end).ok_or(DecodeError::Eof)?;
        self.at = end;
        Ok(b)
    }

    fn be(&mut self, n: usize) -> Result<u64, DecodeError> {
        Ok(self.take(n)?.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
    }

    fn string(&mut self, n: usize) -> Result<Value, DecodeError> {
        let b = self.take(n)?;
        self.lua
            .create_string(b)
            .map(Value::String)
            .map_err(|_| DecodeError::BadFormat)
    }

    fn value(&mut self) -> Result<Value, DecodeError> {
        let tag = self.take(1)?[0];
        Ok(match tag {
            0x00..=0x7f => Value::Number(tag as f64),
            0xe0..=0xff => Value::Number(tag as i8 as f64),
            0xc0 => Value::Nil,
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xcc => Value::Number(self.be(1)? as f64),
            0xcd => Value::Number(self.be(2)? as f64),
            0xce => Value::Number(self.be(4)? as f64),
            0xcf => Value::Number(self.be(8)? as f64),
            0xd0 => Value::Number(self.be(1)? as u8 as i8 as f64),
            0xd1 => Value::Number(self.be(2)? as u16 as i16 as f64),
            0xd2 => Value::Number(self.be(4)? as u32 as i32 as f64),
            0xd3 => Value::Number(self.be(8)? as i64 as f64),
            0xca => Value::Number(f32::from_bits(self.be(4)? as u32) as f64),
            0xcb => Value::Number(f64::from_bits(self.be(8)?)),
            0xa0..=0xbf => self.string((tag & 0x1f) as usize)?,
            0xd9 | 0xc4 => {
                let n = self.be(1)? as usize;
                self.string(n)?
            }
            0xda | 0xc5 => {
                let n = self.be(2)? as usize;
                self.string(n)?
            }
            0xdb | 0xc6 => {
                let n = self.be(4)? as usize;
                self.string(n)?
            }
            0x90..=0x9f => self.array((tag & 0x0f) as usize)?,
            0xdc => {
                let n = self.be(2)? as usize;
                self.array(n)?
            }
            0xdd => {
                let n = self.be(4)? as usize;
                self.array(n)?
            }
            0x80..=0x8f => self.map((tag & 0x0f) as usize)?,
            0xde => {
                let n = self.be(2)? as usize;
                self.map(n)?
            }
            0xdf => {
                let n = self.be(4)? as usize;
                self.map(n)?
            }
            _ => return Err(DecodeError::BadFormat),
        })
    }

    fn array(&mut self, n: usize) -> Result<Value, DecodeError> {
        let t = self
            .lua
            .create_table_with_capacity(n.min(1024), 0)
            .map_err(|_| DecodeError::BadFormat)?;
        for i in 1..=n {
            let v = self.value()?;
            t.raw_set(i, v).map_err(|_| DecodeError::BadFormat)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, n: usize) -> Result<Value, DecodeError> {
        let t = self
            .lua
            .create_table_with_capacity(0, n.min(1024))
            .map_err(|_| DecodeError::BadFormat)?;
        for _ in 0..n {
            let k = self.value()?;
            let v = self.value()?;
            if !matches!(k, Value::Nil) {
                t.raw_set(k, v).map_err(|_| DecodeError::BadFormat)?;
            }
        }
        Ok(Value::Table(t))
    }
}

/// `mp_unpack_full`: decodes up to `limit` values from `offset` (all of them when
/// `limit` is `None`); with a limit, the next offset (-1 at the end) comes first.
fn unpack_full(lua: &Lua, s: &[u8], limit: Option<i64>, offset: i64) -> LibResult<Variadic<Value>> {
    let len = s.len() as i64;
    if offset < 0 || limit.is_some_and(|l| l < 0) {
        return Err(format!(
            "Invalid request to unpack with offset of {offset} and limit of {len}."
        ));
    }
    if offset > len {
        return Err(format!(
            "Start offset {offset} greater than input length {len}."
        ));
    }
    let limit = limit.unwrap_or(i64::MAX);
    let mut c = Cursor {
        lua,
        s,
        at: offset as usize,
    };
    let mut values = Vec::new();
    while c.at < s.len() && (values.len() as i64) < limit {
        match c.value() {
            Ok(v) => values.push(v),
            Err(DecodeError::Eof) => return Err("Missing bytes in input.".into()),
            Err(DecodeError::BadFormat) => return Err("Bad data format in input.".into()),
        }
    }
    Ok(Variadic::from_iter(values))
}

fn bytes_arg(v: Option<&Value>, func: &str) -> LibResult<Vec<u8>> {
    super::check_bytes(v.unwrap_or(&Value::Nil), 1, func)
}

fn int_arg(v: Option<&Value>, arg: usize, func: &str, default: i64) -> LibResult<i64> {
    match v {
        None | Some(Value::Nil) => Ok(default),
        Some(v) => super::check_number(v, arg, func).map(|n| n as i64),
    }
}

pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        crate::vm::raising(lua, |lua, args: Variadic<Value>| {
            if args.is_empty() {
                return Err("bad argument #0 to 'pack' (MessagePack pack needs input.)".to_string());
            }
            let mut out = Vec::new();
            for v in args.iter() {
                encode(v, 0, &mut out)?;
            }
            lua.create_string(&out).map_err(|e| e.to_string())
        })?,
    )?;
    t.raw_set(
        "unpack",
        crate::vm::raising(lua, |lua, args: Variadic<Value>| {
            let s = bytes_arg(args.first(), "unpack")?;
            unpack_full(lua, &s, None, 0)
        })?,
    )?;
    for (name, with_limit) in [("unpack_one", false), ("unpack_limit", true)] {
        t.raw_set(
            name,
            crate::vm::raising(lua, move |lua, args: Variadic<Value>| {
                let s = bytes_arg(args.first(), name)?;
                let (limit, offset) = if with_limit {
                    (
                        int_arg(args.get(1), 2, name, 0)?,
                        int_arg(args.get(2), 3, name, 0)?,
                    )
                } else {
                    (1, int_arg(args.get(1), 2, name, 0)?)
                };
                let values = unpack_full(lua, &s, Some(limit), offset)?;
                let consumed: usize = {
                    // Re-walk to find where the values ended (the cursor is gone).
                    let mut c = Cursor {
                        lua,
                        s: &s,
                        at: offset as usize,
                    };
                    for _ in 0..values.len() {
                        let _ = c.value();
                    }
                    c.at
                };
                let next = if consumed >= s.len() {
                    -1
                } else {
                    consumed as i64
                };
                let mut out = vec![Value::Number(next as f64)];
                out.extend(values);
                Ok(Variadic::from_iter(out))
            })?,
        )?;
    }
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}
