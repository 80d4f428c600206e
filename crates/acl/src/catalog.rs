//! The commands ACL rules name: ids, categories, containers and their subcommands.
//!
//! The node builds one [`Catalog`] from its command table at start; a command's id is its
//! index there, so a user's permission bitmap is indexed by the same number dispatch
//! already holds.

use hashbrown::HashMap;

/// Redis's command categories, in the order `ACL CAT` lists them and rules are described.
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The bit of a category (`read`, case-insensitive, without the `@`), if it exists.
pub fn category_bit(name: &[u8]) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

/// Which arguments of a command are Pub/Sub channels (Redis's `ACLDoesCommandHaveChannels`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelArgs {
    None,
    /// PUBLISH, SPUBLISH: the first argument, matched against the user's patterns.
    First,
    /// SUBSCRIBE, SSUBSCRIBE: every argument, matched against the user's patterns.
    All,
    /// PSUBSCRIBE: every argument is itself a pattern and must equal one of the user's.
    AllLiteral,
}

/// One command or subcommand.
#[derive(Debug, Clone)]
pub struct CommandInfo {
    /// Lower case; a subcommand is `container|sub`.
    pub name: String,
    /// Bits of [`CATEGORIES`].
    pub categories: u32,
    pub parent: Option<usize>,
    pub subcommands: Vec<usize>,
    /// AUTH, HELLO, ...: every user may run them.
    pub no_auth: bool,
    pub channels: ChannelArgs,
}

impl CommandInfo {
    /// A command from its full name and the categories COMMAND INFO lists (`@read`, ...).
    pub fn new(name: &str, categories: &[&str], no_auth: bool) -> CommandInfo {
        let categories = categories
            .iter()
            .filter_map(|c| category_bit(c.trim_start_matches('@').as_bytes()))
            .fold(0, |all, bit| all | bit);
        let channels = match name {
            "publish" | "spublish" => ChannelArgs::First,
            "subscribe" | "ssubscribe" => ChannelArgs::All,
            "psubscribe" => ChannelArgs::AllLiteral,
            _ => ChannelArgs::None,
        };
        CommandInfo {
            name: name.to_ascii_lowercase(),
            categories,
            parent: None,
            subcommands: Vec::new(),
            no_auth,
            channels,
        }
    }
}

/// Every command the rules may name.
#[derive(Debug, Default)]
pub struct Catalog {
    commands: Vec<CommandInfo>,
    by_name: HashMap<String, usize>,
}

impl Catalog {
    /// Links subcommands (`a|b`) to their container (`a`), which must be in the list.
    /// Redis 7's commands and subcommands ([`crate::redis7::COMMANDS`]), for a front door
    /// with no command table of its own (the proxy).
    pub fn redis7() -> Catalog {
        Catalog::new(
            crate::redis7::COMMANDS
                .iter()
                .map(|(name, categories, no_auth, _)| CommandInfo::new(name, categories, *no_auth))
                .collect(),
        )
    }

    pub fn new(mut commands: Vec<CommandInfo>) -> Catalog {
        let by_name: HashMap<String, usize> = commands
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        for i in 0..commands.len() {
            if let Some((container, _)) = commands[i].name.split_once('|') {
                let parent = by_name[container];
                commands[i].parent = Some(parent);
                commands[parent].subcommands.push(i);
            }
        }
        Catalog { commands, by_name }
    }

    pub fn len(&self) -> usize {
        self.commands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    pub fn get(&self, id: usize) -> &CommandInfo {
        &self.commands[id]
    }

    /// Top-level commands, in table order.
    pub fn top_level(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.commands.len()).filter(|&i| self.commands[i].parent.is_none())
    }

    /// Every command, each container followed by its subcommands (the order Redis walks
    /// its command table in).
    pub fn walk(&self) -> impl Iterator<Item = usize> + '_ {
        self.top_level()
            .flat_map(|i| std::iter::once(i).chain(self.commands[i].subcommands.iter().copied()))
    }

    /// Redis's `ACLLookupCommand`: `name` or `container|sub`, case-insensitively; a `|`
    /// after a command without subcommands, or a second `|`, finds nothing.
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
        let mut parts = name.split('|');
        let base = parts.next()?;
        let sub = parts.next();
        if parts.next().is_some() {
            return None;
        }
        let id = *self.by_name.get(base)?;
        match sub {
            None => Some(id),
            Some(_) if self.commands[id].subcommands.is_empty() => None,
            Some(_) => self.by_name.get(&name).copied(),
        }
    }

    /// Full names of the commands in a category (`ACL CAT <category>`).
    pub fn in_category(&self, bit: u32) -> impl Iterator<Item = &str> + '_ {
        self.walk()
            .filter(move |&i| self.commands[i].categories & bit != 0)
            .map(|i| self.commands[i].name.as_str())
    }
}
