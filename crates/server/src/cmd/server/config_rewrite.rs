//! CONFIG REWRITE: writes the parameters in force back into the TOML file the node was
//! started with (`--config`), as Redis rewrites its redis.conf:
//!
//! - a parameter already in the file gets its current value, in place, comments and order
//!   kept (`toml_edit` keeps everything around the values it replaces);
//! - one not in the file is added only if its value is not the default;
//! - only parameters CONFIG SET can change are touched (the others are as they were read).
//!
//! The result is read back with the start-up loader (`Config::from_toml`, then `Live::new`)
//! before it replaces the file, so a rewrite can never leave a file the node would refuse at
//! its next start; the file is replaced by a rename, never left half-written.

use std::io::Write;

use resp::Args;
use toml_edit::{DocumentMut, Item, Value};

use crate::command::Ctx;
use crate::config::{Config, Live, PARAMS};
use crate::error::{CmdError, CmdResult};
use crate::tunables::{self, Effect, Kind, TUNABLES};

pub fn rewrite(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let Some(path) = &ctx.shared.config_file else {
        return Err(CmdError::err("The server is running without a config file"));
    };
    let failed = |why: String| {
        tracing::warn!(file = %path.display(), error = %why, "CONFIG REWRITE failed");
        CmdError::err(format!("Rewriting config file: {why}"))
    };
    let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
    let rewritten = rewritten(&text, &ctx.shared.live).map_err(failed)?;
    replace_file(path, &rewritten).map_err(|e| failed(e.to_string()))?;
    tracing::info!(file = %path.display(), "CONFIG REWRITE executed with success");
    ctx.out.ok();
    Ok(())
}

/// The file's text with the current values of `live` written in.
pub(crate) fn rewritten(text: &str, live: &Live) -> Result<String, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    let defaults = Live::new(&Config::default())?;
    for p in PARAMS.iter().filter(|p| p.set.is_some()) {
        let (now, default) = ((p.get)(live), (p.get)(&defaults));
        let value = config_field_value(p.name, &now)?;
        put(&mut doc, &[p.name], value, now != default);
    }
    for t in TUNABLES {
        if matches!(t.effect, Effect::Immutable) {
            continue;
        }
        let (now, default) = (live.tunables.get(t), defaults.tunables.get(t));
        let names: Vec<&str> = std::iter::once(t.name).chain(t.alias).collect();
        put(&mut doc, &names, tunable_value(t, &now), now != default);
    }
    let text = doc.to_string();
    // Read back as the next start will read it.
    let config = Config::from_toml(&text)?;
    Live::new(&config)?;
    Ok(text)
}

/// Sets the first of `names` the file has to `value` (keeping the comment after it), or
/// adds the first name when the value is not the default.
fn put(doc: &mut DocumentMut, names: &[&str], mut value: Value, not_default: bool) {
    let table = doc.as_table_mut();
    let present = names.iter().find(|n| table.contains_key(n));
    if let Some(item) = present.and_then(|n| table.get_mut(n)) {
        // In place: the key, and the comments before it, stay as they were.
        if let Item::Value(old) = &*item {
            *value.decor_mut() = old.decor().clone();
        }
        *item = Item::Value(value);
    } else if not_default {
        table.insert(names[0], Item::Value(value));
    }
}

/// A start-up option's value in the TOML type its field takes: an integer, a boolean
/// (`yes`/`no`) or a string, whichever the loader accepts, tried in that order.
fn config_field_value(name: &str, now: &str) -> Result<Value, String> {
    let mut candidates = Vec::new();
    if let Ok(n) = now.parse::<i64>() {
        candidates.push(Value::from(n));
    }
    match now {
        "yes" => candidates.push(Value::from(true)),
        "no" => candidates.push(Value::from(false)),
        _ => {}
    }
    candidates.push(Value::from(now));
    candidates
        .into_iter()
        .find(|v| Config::from_toml(&format!("{name} = {v}")).is_ok())
        .ok_or_else(|| format!("no value of '{name}' the configuration file would accept"))
}

/// Another Redis parameter's value: integers and yes/no as TOML's own types, the rest as
/// strings (the loader takes any of them, as CONFIG SET would).
fn tunable_value(t: &tunables::Tunable, now: &str) -> Value {
    match t.kind {
        Kind::Int(..) => now
            .parse::<i64>()
            .map_or_else(|_| Value::from(now), Value::from),
        Kind::Bool if now == "yes" || now == "no" => Value::from(now == "yes"),
        _ => Value::from(now),
    }
}

/// Replaces `path` with `text`: written beside it, synced, then renamed over it.
fn replace_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".rewrite.tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    })();
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What CONFIG SET changed is written in place (comments kept), new non-default values
    /// are added, defaults are not, and the result loads with those values.
    #[test]
    fn rewrite_keeps_the_file_and_writes_what_changed() {
        let text = "# our cache\nmaxmemory = \"64mb\" # a cap\nport = 7000\n";
        let config = Config::from_toml(text).unwrap();
        let live = Live::new(&config).unwrap();
        let hash = tunables::find("hash-max-listpack-entries").unwrap();
        live.tunables.set(hash, "64".into());
        let out = rewritten(text, &live).unwrap();
        assert!(out.starts_with("# our cache\nmaxmemory = 67108864 # a cap\nport = 7000\n"));
        assert!(out.contains("hash-max-listpack-entries = 64"), "{out}");
        assert!(!out.contains("timeout"), "defaults are not added: {out}");
        let again = Config::from_toml(&out).unwrap();
        assert_eq!(again.maxmemory, 64 << 20);
        let live = Live::new(&again).unwrap();
        assert_eq!(live.tunables.get(hash), "64");
    }
}
