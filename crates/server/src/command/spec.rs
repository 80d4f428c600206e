//! Command metadata types and their RESP rendering.

use resp::ReplyWriter;

/// A tree of static reply values: how command metadata (key specs, docs) is stored, so it can
/// be written in either protocol version with the exact reply types Redis uses.
#[derive(Debug)]
pub enum Meta {
    Map(&'static [(&'static str, Meta)]),
    Array(&'static [Meta]),
    Set(&'static [Meta]),
    Str(&'static str),
    Status(&'static str),
    Int(i64),
    Null,
}

impl Meta {
    pub fn write(&self, out: &mut ReplyWriter) {
        match self {
            Meta::Map(pairs) => {
                out.map(pairs.len());
                for (k, v) in pairs.iter() {
                    out.bulk(k.as_bytes());
                    v.write(out);
                }
            }
            Meta::Array(items) => {
                out.array(items.len());
                items.iter().for_each(|i| i.write(out));
            }
            Meta::Set(items) => {
                out.set(items.len());
                items.iter().for_each(|i| i.write(out));
            }
            Meta::Str(s) => out.bulk(s.as_bytes()),
            Meta::Status(s) => out.simple(s),
            Meta::Int(n) => out.int(*n),
            Meta::Null => out.null(),
        }
    }
}

/// What Redis reports about a command (`COMMAND INFO` / `COMMAND DOCS`).
#[derive(Debug)]
pub struct CommandMeta {
    /// Lower case; subcommands are `container|sub`.
    pub name: &'static str,
    /// Positive: exact argument count (command name included); negative: at least `-arity`.
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub acl_categories: &'static [&'static str],
    pub tips: &'static [&'static str],
    pub key_specs: Meta,
    pub docs: Meta,
    pub subcommands: &'static [CommandMeta],
}

impl CommandMeta {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    /// The `COMMAND INFO` entry: 10 fields, as Redis 7.
    pub fn write_info(&self, out: &mut ReplyWriter) {
        out.array(10);
        out.bulk(self.name.as_bytes());
        out.int(self.arity as i64);
        out.set(self.flags.len());
        self.flags.iter().for_each(|f| out.simple(f));
        out.int(self.first_key as i64);
        out.int(self.last_key as i64);
        out.int(self.step as i64);
        out.set(self.acl_categories.len());
        self.acl_categories.iter().for_each(|c| out.simple(c));
        out.set(self.tips.len());
        self.tips.iter().for_each(|t| out.bulk(t.as_bytes()));
        self.key_specs.write(out);
        if self.subcommands.is_empty() {
            out.set(0);
        } else {
            out.array(self.subcommands.len());
            self.subcommands.iter().for_each(|s| s.write_info(out));
        }
    }

    /// The `COMMAND DOCS` value for this command (a map), subcommands included.
    pub fn write_docs(&self, out: &mut ReplyWriter) {
        let Meta::Map(fields) = &self.docs else {
            out.map(0);
            return;
        };
        let subs = !self.subcommands.is_empty();
        out.map(fields.len() + subs as usize);
        for (k, v) in fields.iter() {
            out.bulk(k.as_bytes());
            v.write(out);
        }
        if subs {
            out.bulk(b"subcommands");
            out.map(self.subcommands.len());
            for s in self.subcommands {
                out.bulk(s.name.as_bytes());
                s.write_docs(out);
            }
        }
    }

    /// Key positions of a concrete invocation, from first/last/step (COMMAND GETKEYS, and
    /// later cluster routing).
    pub fn key_positions(&self, argc: usize) -> Vec<usize> {
        if self.first_key <= 0 {
            return Vec::new();
        }
        let last = if self.last_key < 0 {
            argc as i32 + self.last_key
        } else {
            self.last_key
        };
        let step = self.step.max(1) as usize;
        (self.first_key as usize..=(last.max(0) as usize))
            .step_by(step)
            .filter(|&i| i < argc)
            .collect()
    }
}

/// Redis 7.2's `CLIENT SETINFO`, which redis-py and others send on connect; the 7.0 server
/// the rest of the metadata was generated from does not have it.
pub static CLIENT_SETINFO: CommandMeta = CommandMeta {
    name: "client|setinfo",
    arity: 4,
    flags: &["noscript", "loading", "stale"],
    first_key: 0,
    last_key: 0,
    step: 0,
    acl_categories: &["@slow", "@connection"],
    tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
    key_specs: Meta::Set(&[]),
    docs: Meta::Map(&[
        (
            "summary",
            Meta::Str("Sets information specific to the client or connection."),
        ),
        ("since", Meta::Str("7.2.0")),
        ("group", Meta::Str("connection")),
        ("complexity", Meta::Str("O(1)")),
    ]),
    subcommands: &[],
};

/// Redis 7.2's `CLUSTER MYSHARDID` (cluster clients read the shard id); absent from 7.0.
pub static CLUSTER_MYSHARDID: CommandMeta = CommandMeta {
    name: "cluster|myshardid",
    arity: 2,
    flags: &["stale"],
    first_key: 0,
    last_key: 0,
    step: 0,
    acl_categories: &["@slow"],
    tips: &["nondeterministic_output"],
    key_specs: Meta::Set(&[]),
    docs: Meta::Map(&[
        ("summary", Meta::Str("Returns the shard ID of a node.")),
        ("since", Meta::Str("7.2.0")),
        ("group", Meta::Str("cluster")),
        ("complexity", Meta::Str("O(1)")),
    ]),
    subcommands: &[],
};
