//! Where a command's keys are, learnt from the server's own `COMMAND` reply (first key,
//! last key, step; subcommands by `name|sub`), so a client of a cluster routes every
//! command the server knows, not a list kept here. Commands whose keys move with their
//! arguments (`movablekeys`: EVAL, ZUNIONSTORE, XREAD, ...) are resolved by asking the
//! server (`COMMAND GETKEYS`), which the cluster client does.

use std::collections::HashMap;

use resp::Frame;

/// The key positions of one command, as COMMAND gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spec {
    first: i64,
    last: i64,
    step: i64,
    movable: bool,
    /// COMMAND's `readonly` flag: a replica may answer it.
    readonly: bool,
    /// COMMAND's `write` flag.
    write: bool,
}

/// Where to find a command's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keys {
    /// These argument positions (none: a command without keys).
    At(Vec<usize>),
    /// Only the server can say (`COMMAND GETKEYS`).
    Movable,
    /// The server does not know the command (it will answer the error).
    Unknown,
}

#[derive(Debug, Default, Clone)]
pub struct KeyTable {
    specs: HashMap<String, Spec>,
    /// Commands with subcommands (`object`, `xinfo`, ...): looked up as `name|sub`.
    containers: std::collections::HashSet<String>,
}

impl KeyTable {
    /// Reads a `COMMAND` reply (RESP2 or RESP3 shapes).
    pub fn from_command_reply(reply: &Frame) -> Result<KeyTable, String> {
        let Frame::Array(entries) = reply else {
            return Err("COMMAND: unexpected reply".into());
        };
        let mut table = KeyTable::default();
        for e in entries {
            table.add(e)?;
        }
        if table.specs.is_empty() {
            return Err("COMMAND: no commands".into());
        }
        Ok(table)
    }

    fn add(&mut self, entry: &Frame) -> Result<(), String> {
        let Frame::Array(items) = entry else {
            return Err("COMMAND: an entry is not an array".into());
        };
        let name = items
            .first()
            .and_then(|f| f.as_text())
            .ok_or("COMMAND: an entry without a name")?
            .to_ascii_lowercase();
        let int = |i: usize| match items.get(i) {
            Some(Frame::Integer(n)) => Ok(*n),
            _ => Err(format!("COMMAND: {name}: field {i} is not an integer")),
        };
        let flag = |name: &str| match items.get(2) {
            Some(Frame::Array(flags) | Frame::Set(flags)) => {
                flags.iter().any(|f| f.as_text().is_some_and(|t| t == name))
            }
            _ => false,
        };
        let (movable, readonly, write) = (flag("movablekeys"), flag("readonly"), flag("write"));
        let spec = Spec {
            first: int(3)?,
            last: int(4)?,
            step: int(5)?,
            movable,
            readonly,
            write,
        };
        if let Some(Frame::Array(subs)) = items.get(9) {
            if !subs.is_empty() {
                self.containers.insert(name.clone());
            }
            for s in subs {
                self.add(s)?;
            }
        }
        self.specs.insert(name, spec);
        Ok(())
    }

    /// The spec of `argv`'s command (its subcommand's for containers).
    fn spec(&self, argv: &[&[u8]]) -> Option<&Spec> {
        let name = String::from_utf8_lossy(argv.first()?).to_ascii_lowercase();
        match (self.containers.contains(&name), argv.get(1)) {
            (true, Some(sub)) => {
                let full = format!(
                    "{name}|{}",
                    String::from_utf8_lossy(sub).to_ascii_lowercase()
                );
                self.specs.get(&full).or_else(|| self.specs.get(&name))
            }
            _ => self.specs.get(&name),
        }
    }

    /// Whether a replica may answer `argv` (COMMAND's `readonly` flag).
    pub fn is_readonly(&self, argv: &[&[u8]]) -> bool {
        self.spec(argv).is_some_and(|s| s.readonly)
    }

    /// Whether `argv` writes (COMMAND's `write` flag).
    pub fn is_write(&self, argv: &[&[u8]]) -> bool {
        self.spec(argv).is_some_and(|s| s.write)
    }

    /// Where the keys of `argv` are. Positions past the arguments given are dropped (the
    /// server answers the arity error).
    pub fn keys(&self, argv: &[&[u8]]) -> Keys {
        let Some(spec) = self.spec(argv) else {
            return Keys::Unknown;
        };
        if spec.movable {
            return Keys::Movable;
        }
        if spec.first <= 0 || spec.step <= 0 {
            return Keys::At(Vec::new());
        }
        let n = argv.len() as i64;
        let last = if spec.last < 0 {
            n + spec.last
        } else {
            spec.last.min(n - 1)
        };
        let positions = (spec.first..=last)
            .step_by(spec.step as usize)
            .filter(|&i| i < n)
            .map(|i| i as usize)
            .collect();
        Keys::At(positions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        name: &str,
        first: i64,
        last: i64,
        step: i64,
        flags: &[&str],
        subs: Vec<Frame>,
    ) -> Frame {
        let mut items = vec![
            Frame::Bulk(name.into()),
            Frame::Integer(-2),
            Frame::Array(flags.iter().map(|f| Frame::Simple(f.to_string())).collect()),
            Frame::Integer(first),
            Frame::Integer(last),
            Frame::Integer(step),
            Frame::Array(vec![]),
            Frame::Array(vec![]),
            Frame::Array(vec![]),
        ];
        items.push(Frame::Array(subs));
        Frame::Array(items)
    }

    fn table() -> KeyTable {
        KeyTable::from_command_reply(&Frame::Array(vec![
            entry("get", 1, 1, 1, &["readonly"], vec![]),
            entry("mset", 1, -1, 2, &["write"], vec![]),
            entry("mget", 1, -1, 1, &["readonly"], vec![]),
            entry("ping", 0, 0, 0, &[], vec![]),
            entry("eval", 0, 0, 0, &["movablekeys"], vec![]),
            entry(
                "object",
                0,
                0,
                0,
                &[],
                vec![entry("object|encoding", 2, 2, 1, &[], vec![])],
            ),
        ]))
        .unwrap()
    }

    #[test]
    fn positions_follow_first_last_step() {
        let t = table();
        assert_eq!(t.keys(&[b"GET", b"k"]), Keys::At(vec![1]));
        assert_eq!(
            t.keys(&[b"mset", b"a", b"1", b"b", b"2"]),
            Keys::At(vec![1, 3])
        );
        assert_eq!(
            t.keys(&[b"MGET", b"a", b"b", b"c"]),
            Keys::At(vec![1, 2, 3])
        );
        assert_eq!(t.keys(&[b"ping"]), Keys::At(vec![]));
        assert_eq!(t.keys(&[b"get"]), Keys::At(vec![]));
        assert_eq!(t.keys(&[b"eval", b"s", b"1", b"k"]), Keys::Movable);
        assert_eq!(t.keys(&[b"object", b"ENCODING", b"k"]), Keys::At(vec![2]));
        assert_eq!(t.keys(&[b"nosuch"]), Keys::Unknown);
        assert!(t.is_readonly(&[b"GET", b"k"]) && !t.is_write(&[b"GET", b"k"]));
        assert!(t.is_write(&[b"mset", b"a", b"1"]) && !t.is_readonly(&[b"mset"]));
    }
}
