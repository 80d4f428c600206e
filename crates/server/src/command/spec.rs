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

    /// Keys of a concrete invocation with their flags (COMMAND GETKEYSANDFLAGS): from the
    /// key specs, as Redis prefers them, except where a spec is incomplete or its flags
    /// depend on the arguments — there Redis asks the command (`setGetKeys`,
    /// `bitfieldGetKeys`, `sortGetKeys`, `migrateGetKeys`), and so do we. `None` when the
    /// arguments do not fit the specs.
    pub fn keys_and_flags(&self, args: resp::Args<'_>) -> Option<Vec<(usize, KeyFlags)>> {
        const RO_ACCESS: KeyFlags = &[Meta::Status("RO"), Meta::Status("access")];
        const RW_ACCESS_UPDATE: KeyFlags = &[
            Meta::Status("RW"),
            Meta::Status("access"),
            Meta::Status("update"),
        ];
        const OW_UPDATE: KeyFlags = &[Meta::Status("OW"), Meta::Status("update")];
        const RW_ACCESS_DELETE: KeyFlags = &[
            Meta::Status("RW"),
            Meta::Status("access"),
            Meta::Status("delete"),
        ];
        let has = |from: usize, word: &str| {
            (from..args.len()).any(|i| args.get(i).eq_ignore_ascii_case(word.as_bytes()))
        };
        match self.name {
            "set" if args.len() > 1 => Some(vec![(
                1,
                if has(3, "get") {
                    RW_ACCESS_UPDATE
                } else {
                    OW_UPDATE
                },
            )]),
            "bitfield" if args.len() > 1 => {
                let writes = (2..args.len()).any(|i| {
                    let a = args.get(i);
                    a.eq_ignore_ascii_case(b"set") || a.eq_ignore_ascii_case(b"incrby")
                });
                Some(vec![(1, if writes { RW_ACCESS_UPDATE } else { RO_ACCESS })])
            }
            "sort" if args.len() > 1 => {
                let mut keys = vec![(1, RO_ACCESS)];
                if let Some(store) = sort_store_key(args) {
                    keys.push((store, OW_UPDATE));
                }
                Some(keys)
            }
            "sort_ro" if args.len() > 1 => Some(vec![(1, RO_ACCESS)]),
            "migrate" => Some(
                migrate_keys(args)
                    .into_iter()
                    .map(|i| (i, RW_ACCESS_DELETE))
                    .collect(),
            ),
            _ => keys_from_specs(&self.key_specs, args),
        }
    }

    /// Key positions of a concrete invocation (cluster routing, COMMAND GETKEYS, waking
    /// blocked clients). Commands whose keys move with their arguments (`movablekeys`:
    /// ZUNION's numkeys, MIGRATE's KEYS, ...) are read through their key specs, as Redis's
    /// `getKeysUsingKeySpecs`; the others from first/last/step, which is exact for them.
    pub fn key_positions(&self, args: resp::Args<'_>) -> Vec<usize> {
        if self.has_flag("movablekeys") {
            return key_positions_from_specs(&self.key_specs, args)
                .or_else(|| match self.name {
                    // Incomplete specs: Redis falls back to migrateGetKeys / sortGetKeys.
                    "migrate" => Some(migrate_keys(args)),
                    "sort_ro" => Some(vec![1].into_iter().filter(|&i| i < args.len()).collect()),
                    "sort" => Some(
                        std::iter::once(1)
                            .chain(sort_store_key(args))
                            .filter(|&i| i < args.len())
                            .collect(),
                    ),
                    _ => None,
                })
                .unwrap_or_default();
        }
        let argc = args.len();
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

fn field<'a>(m: &'a Meta, name: &str) -> Option<&'a Meta> {
    match m {
        Meta::Map(pairs) => pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v),
        _ => None,
    }
}

fn int_field(m: &Meta, name: &str) -> Option<i64> {
    match field(m, name)? {
        Meta::Int(n) => Some(*n),
        _ => None,
    }
}

fn str_field<'a>(m: &'a Meta, name: &str) -> Option<&'a str> {
    match field(m, name)? {
        Meta::Str(s) => Some(s),
        _ => None,
    }
}

/// The destination of SORT's last STORE (Redis's `sortGetKeys`): LIMIT, GET and BY values
/// are skipped while searching.
fn sort_store_key(args: resp::Args<'_>) -> Option<usize> {
    let mut found = None;
    let mut i = 2;
    while i < args.len() {
        let a = args.get(i);
        if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"store") && i + 1 < args.len() {
            found = Some(i + 1);
        }
        i += 1;
    }
    found
}

/// MIGRATE's keys (Redis's `migrateGetKeys`): the key argument, or with KEYS (and an empty
/// key argument) the keys after it; options with values are skipped while searching.
fn migrate_keys(args: resp::Args<'_>) -> Vec<usize> {
    let argc = args.len();
    let mut i = 6;
    while i < argc {
        let a = args.get(i);
        if a.eq_ignore_ascii_case(b"keys") {
            if !args.get(3).is_empty() {
                return Vec::new();
            }
            return (i + 1..argc).collect();
        }
        if a.eq_ignore_ascii_case(b"auth") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"auth2") {
            i += 2;
        }
        i += 1;
    }
    if argc > 3 {
        vec![3]
    } else {
        Vec::new()
    }
}

/// Redis 7.0's `getKeysUsingKeySpecs`: each spec finds where its keys begin (an index, or
/// after a keyword searched forwards or backwards) and how many there are (a range, or a
/// count read from the arguments). A spec that does not fit the arguments (a syntax error
/// the command will report) makes the whole answer `None`, as Redis returns no keys then.
fn key_positions_from_specs(specs: &Meta, args: resp::Args<'_>) -> Option<Vec<usize>> {
    keys_from_specs(specs, args).map(|keys| keys.into_iter().map(|(i, _)| i).collect())
}

/// The flags a key spec gives its keys (`RW`, `access`, ...), as COMMAND INFO lists them.
pub type KeyFlags = &'static [Meta];

/// [`key_positions_from_specs`] with each key's flags.
fn keys_from_specs(specs: &Meta, args: resp::Args<'_>) -> Option<Vec<(usize, KeyFlags)>> {
    let Meta::Set(specs) = specs else {
        return Some(Vec::new());
    };
    let argc = args.len() as i64;
    let mut out = Vec::new();
    for spec in specs.iter() {
        let flags: KeyFlags = match field(spec, "flags") {
            Some(Meta::Set(flags)) => flags,
            _ => &[],
        };
        {
            if flags.iter().any(|f| matches!(f, Meta::Status("not_key"))) {
                continue;
            }
            // Specs that cannot find every key send Redis to the command's own rules.
            if flags
                .iter()
                .any(|f| matches!(f, Meta::Status("incomplete")))
            {
                return None;
            }
        }
        let begin = field(spec, "begin_search")?;
        let begin_spec = field(begin, "spec")?;
        let first = match str_field(begin, "type")? {
            "index" => int_field(begin_spec, "index")?,
            "keyword" => {
                let keyword = str_field(begin_spec, "keyword")?;
                let from = int_field(begin_spec, "startfrom")?;
                let found = if from > 0 {
                    (from..argc).find(|&i| {
                        args.get(i as usize)
                            .eq_ignore_ascii_case(keyword.as_bytes())
                    })
                } else {
                    (1..=argc + from).rev().find(|&i| {
                        args.get(i as usize)
                            .eq_ignore_ascii_case(keyword.as_bytes())
                    })
                };
                match found {
                    Some(i) => i + 1,
                    None => continue,
                }
            }
            _ => return None,
        };
        let find = field(spec, "find_keys")?;
        let find_spec = field(find, "spec")?;
        let (first, last, step) = match str_field(find, "type")? {
            "range" => {
                let lastkey = int_field(find_spec, "lastkey")?;
                let limit = int_field(find_spec, "limit")?;
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (first, last, int_field(find_spec, "keystep")?)
            }
            "keynum" => {
                let at = first + int_field(find_spec, "keynumidx")?;
                let at = usize::try_from(at).ok().filter(|&at| at < args.len())?;
                let numkeys = resp::number::parse_i64(args.get(at)).filter(|n| *n >= 0)?;
                let first = first + int_field(find_spec, "firstkey")?;
                (first, first + numkeys - 1, int_field(find_spec, "keystep")?)
            }
            _ => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        out.extend(
            (first..=last)
                .step_by(step.max(1) as usize)
                .map(|i| (i as usize, flags)),
        );
    }
    Some(out)
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

/// Redis 7.2's `CLIENT NO-TOUCH`; absent from 7.0.
pub static CLIENT_NO_TOUCH: CommandMeta = CommandMeta {
    name: "client|no-touch",
    arity: 3,
    flags: &["noscript", "loading", "stale"],
    first_key: 0,
    last_key: 0,
    step: 0,
    acl_categories: &["@slow", "@connection"],
    tips: &[],
    key_specs: Meta::Set(&[]),
    docs: Meta::Map(&[
        (
            "summary",
            Meta::Str(
                "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
            ),
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

/// Shard-Cache's own slot-moving subcommands of CLUSTER (Redis moves slots key by key with
/// MIGRATE; here a topology change moves them, keys and all: see `crate::migration`).
macro_rules! cluster_own {
    ($static:ident, $name:literal, $arity:literal, $summary:literal, $flags:expr, $categories:expr) => {
        pub static $static: CommandMeta = CommandMeta {
            name: $name,
            arity: $arity,
            flags: $flags,
            first_key: 0,
            last_key: 0,
            step: 0,
            acl_categories: $categories,
            tips: &[],
            key_specs: Meta::Set(&[]),
            docs: Meta::Map(&[
                ("summary", Meta::Str($summary)),
                ("since", Meta::Str("shardcache")),
                ("group", Meta::Str("cluster")),
                (
                    "complexity",
                    Meta::Str("O(N) where N is the number of slots"),
                ),
            ]),
            subcommands: &[],
        };
    };
}

const ADMIN: &[&str] = &["admin", "stale", "no_async_loading"];
const ADMIN_CATEGORIES: &[&str] = &["@admin", "@slow", "@dangerous"];

cluster_own!(
    CLUSTER_MOVESLOTS,
    "cluster|moveslots",
    -5,
    "Moves slot ranges, with their keys, to the primary with the given node id.",
    ADMIN,
    ADMIN_CATEGORIES
);
cluster_own!(
    CLUSTER_REBALANCE,
    "cluster|rebalance",
    2,
    "Moves the slots that differ from the planner's balanced table, with their keys.",
    ADMIN,
    ADMIN_CATEGORIES
);
cluster_own!(
    CLUSTER_DRAIN,
    "cluster|drain",
    3,
    "Moves every slot of a node away, with their keys, then removes the node.",
    ADMIN,
    ADMIN_CATEGORIES
);
cluster_own!(
    CLUSTER_CANCELMOVES,
    "cluster|cancelmoves",
    2,
    "Cancels every pending slot move; the slots stay with their owners.",
    ADMIN,
    ADMIN_CATEGORIES
);
cluster_own!(
    CLUSTER_PAUSEMOVES,
    "cluster|pausemoves",
    2,
    "Pauses every pending slot move (the slots stay served by their owners) until CLUSTER RESUMEMOVES.",
    ADMIN,
    ADMIN_CATEGORIES
);
cluster_own!(
    CLUSTER_RESUMEMOVES,
    "cluster|resumemoves",
    2,
    "Resumes the slot moves CLUSTER PAUSEMOVES paused.",
    ADMIN,
    ADMIN_CATEGORIES
);
cluster_own!(
    CLUSTER_DIGESTS,
    "cluster|digests",
    2,
    "Returns this node's replication offset and the digest of each non-empty slot at that offset (a replica's consistency audit).",
    &["stale", "loading"],
    &["@slow"]
);
cluster_own!(
    CLUSTER_MIGRATIONS,
    "cluster|migrations",
    2,
    "Reports the pending slot moves and this node's migration progress.",
    &["stale", "loading"],
    &["@slow"]
);
