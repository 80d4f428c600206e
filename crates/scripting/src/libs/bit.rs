//! `bit`: LuaBitOp 1.0's operations on 32-bit integers, as Redis ships it.

use mlua::{Lua, Table, Value, Variadic};

use super::{check_number, LibResult};

/// LuaBitOp's `barg`: the number's value modulo 2^32 (adding 2^52 + 2^51 puts the integer
/// part, rounded to nearest, in the low 32 bits of the mantissa).
fn to_bits(v: &Value, arg: usize, func: &str) -> LibResult<u32> {
    let n = check_number(v, arg, func)?;
    Ok((n + 6_755_399_441_055_744.0).to_bits() as u32)
}

fn signed(b: u32) -> f64 {
    b as i32 as f64
}

fn arg(args: &Variadic<Value>, i: usize) -> &Value {
    args.get(i).unwrap_or(&Value::Nil)
}

type BitFn = fn(&Lua, &Variadic<Value>) -> LibResult<Value>;

fn fold(args: &Variadic<Value>, func: &str, op: fn(u32, u32) -> u32) -> LibResult<Value> {
    let mut acc = to_bits(arg(args, 0), 1, func)?;
    for (i, v) in args.iter().enumerate().skip(1) {
        acc = op(acc, to_bits(v, i + 1, func)?);
    }
    Ok(Value::Number(signed(acc)))
}

fn shift(args: &Variadic<Value>, func: &str, op: fn(u32, u32) -> u32) -> LibResult<Value> {
    let b = to_bits(arg(args, 0), 1, func)?;
    let n = to_bits(arg(args, 1), 2, func)? & 31;
    Ok(Value::Number(signed(op(b, n))))
}

const FUNCTIONS: &[(&str, BitFn)] = &[
    ("tobit", |_, a| {
        Ok(Value::Number(signed(to_bits(arg(a, 0), 1, "tobit")?)))
    }),
    ("bnot", |_, a| {
        Ok(Value::Number(signed(!to_bits(arg(a, 0), 1, "bnot")?)))
    }),
    ("band", |_, a| fold(a, "band", |x, y| x & y)),
    ("bor", |_, a| fold(a, "bor", |x, y| x | y)),
    ("bxor", |_, a| fold(a, "bxor", |x, y| x ^ y)),
    ("lshift", |_, a| shift(a, "lshift", |b, n| b << n)),
    ("rshift", |_, a| shift(a, "rshift", |b, n| b >> n)),
    ("arshift", |_, a| {
        shift(a, "arshift", |b, n| ((b as i32) >> n) as u32)
    }),
    ("rol", |_, a| shift(a, "rol", |b, n| b.rotate_left(n))),
    ("ror", |_, a| shift(a, "ror", |b, n| b.rotate_right(n))),
    ("bswap", |_, a| {
        Ok(Value::Number(signed(
            to_bits(arg(a, 0), 1, "bswap")?.swap_bytes(),
        )))
    }),
    ("tohex", tohex),
];

fn tohex(lua: &Lua, args: &Variadic<Value>) -> LibResult<Value> {
    let mut b = to_bits(arg(args, 0), 1, "tohex")?;
    let mut n: i32 = match args.get(1) {
        None => 8,
        Some(v) => to_bits(v, 2, "tohex")? as i32,
    };
    let digits: &[u8; 16] = if n < 0 {
        n = n.saturating_neg();
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let n = n.min(8) as usize;
    let mut buf = [0u8; 8];
    for i in (0..n).rev() {
        buf[i] = digits[(b & 15) as usize];
        b >>= 4;
    }
    Ok(Value::String(
        lua.create_string(&buf[..n]).map_err(|e| e.to_string())?,
    ))
}

pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for &(name, f) in FUNCTIONS {
        t.raw_set(
            name,
            crate::vm::raising(lua, move |lua, a: Variadic<Value>| f(lua, &a))?,
        )?;
    }
    Ok(t)
}
