//! `struct`: Roberto Ierusalimschy's lua-struct 0.2 as Redis ships it — `pack`, `unpack`,
//! `size` with its format letters (`b B h H l L T i[n] I[n] f d c[n] s x`, `< > ! ` and
//! spaces), alignment rules, native little-endian default, and error texts.

use mlua::{Lua, Table, Value, Variadic};

use super::{check_bytes, check_number, LibResult};

/// Largest integer size (`MAXINTSIZE`).
const MAX_INT_SIZE: usize = 32;
/// Largest alignment `!` gives without a number (`MAXALIGN` on x86-64).
const MAX_ALIGN: usize = 8;

#[derive(Clone, Copy)]
struct Header {
    big_endian: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            big_endian: false,
            align: 1,
        }
    }
}

struct Format<'a> {
    fmt: &'a [u8],
    at: usize,
    func: &'static str,
}

impl<'a> Format<'a> {
    fn new(fmt: &'a [u8], func: &'static str) -> Self {
        Format { fmt, at: 0, func }
    }

    fn getnum(&mut self, default: usize) -> LibResult<usize> {
        if !self.fmt.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: usize = 0;
        while let Some(d) = self.fmt.get(self.at).filter(|c| c.is_ascii_digit()) {
            a = a
                .checked_mul(10)
                .and_then(|a| a.checked_add((d - b'0') as usize))
                .filter(|&a| a <= i32::MAX as usize)
                .ok_or("integral size overflow")?;
            self.at += 1;
        }
        Ok(a)
    }

    fn optsize(&mut self, opt: u8) -> LibResult<usize> {
        Ok(match opt {
            b'B' | b'b' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' => 8,
            b'f' => 4,
            b'd' => 8,
            b'x' => 1,
            b'c' => self.getnum(1)?,
            b'i' | b'I' => {
                let size = self.getnum(4)?;
                if size > MAX_INT_SIZE {
                    return Err(format!(
                        "integral size {size} is larger than limit of {MAX_INT_SIZE}"
                    ));
                }
                size
            }
            _ => 0,
        })
    }

    fn control(&mut self, opt: u8, h: &mut Header) -> LibResult<()> {
        match opt {
            b' ' => {}
            b'>' => h.big_endian = true,
            b'<' => h.big_endian = false,
            b'!' => {
                let a = self.getnum(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return Err(format!("alignment {a} is not a power of 2"));
                }
                h.align = a;
            }
            other => {
                return Err(format!(
                    "bad argument #1 to '{}' (invalid format option '{}')",
                    self.func, other as char
                ))
            }
        }
        Ok(())
    }
}

fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn arg(args: &Variadic<Value>, i: usize) -> &Value {
    args.get(i - 1).unwrap_or(&Value::Nil)
}

fn pack(args: &Variadic<Value>) -> LibResult<Vec<u8>> {
    let fmt = check_bytes(arg(args, 1), 1, "pack")?;
    let mut f = Format::new(&fmt, "pack");
    let mut h = Header::default();
    let mut a = 2;
    let mut out = Vec::new();
    while f.at < fmt.len() {
        let opt = fmt[f.at];
        f.at += 1;
        let mut size = f.optsize(opt)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(arg(args, a), a, "pack")?;
                a += 1;
                let mut value = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                let mut bytes = vec![0u8; size];
                for b in bytes.iter_mut() {
                    *b = (value & 0xff) as u8;
                    value = value.checked_shr(8).unwrap_or(0);
                }
                if h.big_endian {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' => {
                let n = check_number(arg(args, a), a, "pack")? as f32;
                a += 1;
                let b = if h.big_endian {
                    n.to_be_bytes()
                } else {
                    n.to_le_bytes()
                };
                out.extend_from_slice(&b);
            }
            b'd' => {
                let n = check_number(arg(args, a), a, "pack")?;
                a += 1;
                let b = if h.big_endian {
                    n.to_be_bytes()
                } else {
                    n.to_le_bytes()
                };
                out.extend_from_slice(&b);
            }
            b'c' | b's' => {
                let s = check_bytes(arg(args, a), a, "pack")?;
                a += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // lua-struct names the argument after the one it read.
                    return Err(format!("bad argument #{a} to 'pack' (string too short)"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt, &mut h)?,
        }
    }
    Ok(out)
}

fn unpack(lua: &Lua, args: &Variadic<Value>) -> LibResult<Variadic<Value>> {
    let fmt = check_bytes(arg(args, 1), 1, "unpack")?;
    let data = check_bytes(arg(args, 2), 2, "unpack")?;
    let mut pos = match arg(args, 3) {
        Value::Nil => 1usize as i64,
        v => check_number(v, 3, "unpack")? as i64,
    };
    if pos <= 0 {
        return Err("bad argument #3 to 'unpack' (offset must be 1 or greater)".into());
    }
    pos -= 1;
    let mut pos = pos as usize;
    let ld = data.len();
    let mut f = Format::new(&fmt, "unpack");
    let mut h = Header::default();
    let mut out: Vec<Value> = Vec::new();
    let too_short = || "bad argument #2 to 'unpack' (data string too short)".to_string();
    let string = |b: &[u8]| -> LibResult<Value> {
        lua.create_string(b)
            .map(Value::String)
            .map_err(|e| e.to_string())
    };
    while f.at < fmt.len() {
        let opt = fmt[f.at];
        f.at += 1;
        let mut size = f.optsize(opt)?;
        pos += to_align(pos, &h, opt, size);
        if size > ld || pos > ld - size {
            return Err(too_short());
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let bytes = &data[pos..pos + size];
                let mut l: u64 = 0;
                let mut push = |b: u8| l = (l << 8) | b as u64;
                if h.big_endian {
                    bytes.iter().for_each(|&b| push(b));
                } else {
                    bytes.iter().rev().for_each(|&b| push(b));
                }
                let n = if opt.is_ascii_lowercase() {
                    let bits = (size * 8).min(64);
                    let mask = if bits == 0 { 0 } else { u64::MAX << (bits - 1) };
                    if l & mask != 0 {
                        l |= mask;
                    }
                    l as i64 as f64
                } else {
                    l as f64
                };
                out.push(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().expect("4 bytes");
                let n = if h.big_endian {
                    f32::from_be_bytes(b)
                } else {
                    f32::from_le_bytes(b)
                };
                out.push(Value::Number(n as f64));
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().expect("8 bytes");
                let n = if h.big_endian {
                    f64::from_be_bytes(b)
                } else {
                    f64::from_le_bytes(b)
                };
                out.push(Value::Number(n));
            }
            b'c' => {
                if size == 0 {
                    let n = match out.pop() {
                        Some(Value::Number(n)) => n,
                        Some(Value::Integer(i)) => i as f64,
                        _ => return Err("format 'c0' needs a previous size".into()),
                    };
                    size = n as usize;
                    if size > ld || pos > ld - size {
                        return Err(too_short());
                    }
                }
                out.push(string(&data[pos..pos + size])?);
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err("unfinished string in data".into());
                };
                size = end + 1;
                out.push(string(&data[pos..pos + end])?);
            }
            _ => f.control(opt, &mut h)?,
        }
        pos += size;
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(Variadic::from_iter(out))
}

fn size(args: &Variadic<Value>) -> LibResult<f64> {
    let fmt = check_bytes(arg(args, 1), 1, "size")?;
    let mut f = Format::new(&fmt, "size");
    let mut h = Header::default();
    let mut pos = 0usize;
    while f.at < fmt.len() {
        let opt = fmt[f.at];
        f.at += 1;
        let size = f.optsize(opt)?;
        pos += to_align(pos, &h, opt, size);
        if opt == b's' {
            return Err("bad argument #1 to 'size' (option 's' has no fixed size)".into());
        } else if opt == b'c' && size == 0 {
            return Err("bad argument #1 to 'size' (option 'c0' has no fixed size)".into());
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(opt, &mut h)?;
        }
        pos += size;
    }
    Ok(pos as f64)
}

pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        crate::vm::raising(lua, |lua, a: Variadic<Value>| {
            let bytes = pack(&a)?;
            lua.create_string(&bytes).map_err(|e| e.to_string())
        })?,
    )?;
    t.raw_set(
        "unpack",
        crate::vm::raising(lua, |lua, a: Variadic<Value>| unpack(lua, &a))?,
    )?;
    t.raw_set(
        "size",
        crate::vm::raising(lua, |_, a: Variadic<Value>| size(&a))?,
    )?;
    Ok(t)
}
