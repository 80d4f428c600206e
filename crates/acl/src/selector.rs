//! A selector: one set of command, key and channel permissions (Redis's `aclSelector`). A
//! user has a root selector and may have more; a command runs when any one allows it.

use std::collections::BTreeMap;

use crate::catalog::{category_bit, Catalog, ChannelArgs};
use crate::error::RuleError;

/// A key pattern may be used to read (`%R~`), to write (`%W~`) or both (`~`).
pub const KEY_READ: u8 = 1;
pub const KEY_WRITE: u8 = 2;
pub const KEY_ALL: u8 = KEY_READ | KEY_WRITE;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    pub flags: u8,
    pub pattern: Vec<u8>,
}

impl KeyPattern {
    /// As ACL LIST writes it: `~p`, `%R~p` or `%W~p`.
    pub fn describe(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(match self.flags {
            KEY_READ => b"%R~",
            KEY_WRITE => b"%W~",
            _ => b"~",
        });
        out.extend_from_slice(&self.pattern);
    }
}

/// Why a command was refused, with the argument that caused it (Redis's `ACL_DENIED_*`
/// and `idxptr`). Ordered as Redis ranks them when several selectors refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    Command,
    Key(usize),
    Channel(usize),
}

impl Denied {
    fn rank(&self) -> (u8, usize) {
        match *self {
            Denied::Command => (1, 0),
            Denied::Key(i) => (2, i),
            Denied::Channel(i) => (4, i),
        }
    }
}

/// What the check needs of a command invocation beyond its arguments: its keys with the
/// permission each needs ([`KEY_READ`]/[`KEY_WRITE`] bits), computed once, only if a
/// selector restricts keys.
pub struct Invocation<'a> {
    pub id: usize,
    pub args: resp::Args<'a>,
    pub keys: &'a mut dyn FnMut() -> Vec<(usize, u8)>,
}

#[derive(Debug, Clone)]
pub struct Selector {
    pub root: bool,
    pub allkeys: bool,
    pub allchannels: bool,
    /// Every command allowed, so the bitmap need not be looked at (cleared by any `-`).
    pub allcommands: bool,
    /// Set by `+@all` and cleared only by `-@all`: the user was described starting from
    /// everything (Redis's reserved "future commands" bit).
    pub future: bool,
    allowed: Vec<u64>,
    /// Allowed first arguments of otherwise refused commands (`+select|0`).
    firstargs: BTreeMap<usize, Vec<Vec<u8>>>,
    pub keys: Vec<KeyPattern>,
    pub channels: Vec<Vec<u8>>,
}

impl Selector {
    /// An empty selector: nothing allowed, except every channel when `acl-pubsub-default`
    /// is `allchannels`.
    pub fn new(catalog: &Catalog, root: bool, all_channels_default: bool) -> Selector {
        Selector {
            root,
            allkeys: false,
            allchannels: all_channels_default,
            allcommands: false,
            future: false,
            allowed: vec![0; catalog.len().div_ceil(64)],
            firstargs: BTreeMap::new(),
            keys: Vec::new(),
            channels: Vec::new(),
        }
    }

    pub fn allows_command_bit(&self, id: usize) -> bool {
        self.allowed[id / 64] & (1 << (id % 64)) != 0
    }

    fn set_bit(&mut self, id: usize, value: bool) {
        if value {
            self.allowed[id / 64] |= 1 << (id % 64);
        } else {
            self.allowed[id / 64] &= !(1 << (id % 64));
            self.allcommands = false;
        }
    }

    /// Allows or refuses a command with its subcommands (`ACLChangeSelectorPerm`).
    pub(crate) fn change(&mut self, catalog: &Catalog, id: usize, allow: bool) {
        self.set_bit(id, allow);
        self.firstargs.remove(&id);
        for &sub in &catalog.get(id).subcommands {
            self.set_bit(sub, allow);
        }
    }

    pub(crate) fn change_category(&mut self, catalog: &Catalog, bit: u32, allow: bool) {
        for id in catalog.walk() {
            if catalog.get(id).categories & bit != 0 {
                self.change(catalog, id, allow);
            }
        }
    }

    pub(crate) fn set_all(&mut self, allow: bool) {
        let fill = if allow { u64::MAX } else { 0 };
        self.allowed.iter_mut().for_each(|w| *w = fill);
        self.allcommands = allow;
        self.future = allow;
        self.firstargs.clear();
    }

    pub(crate) fn same_bits(&self, other: &Selector) -> bool {
        self.allowed == other.allowed
    }

    pub(crate) fn firstargs(&self, id: usize) -> &[Vec<u8>] {
        self.firstargs.get(&id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Counts the commands of a category this selector allows and refuses.
    pub(crate) fn count_category(&self, catalog: &Catalog, bit: u32) -> (usize, usize) {
        let (mut on, mut off) = (0, 0);
        for id in catalog.walk() {
            if catalog.get(id).categories & bit != 0 {
                if self.allows_command_bit(id) {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }

    /// Applies one selector rule (Redis's `ACLSetSelector`).
    pub fn apply(&mut self, catalog: &Catalog, op: &[u8]) -> Result<(), RuleError> {
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if op.is_empty() {
            return Err(RuleError::Syntax);
        }
        if is("allkeys") || is("~*") {
            self.allkeys = true;
            self.keys.clear();
        } else if is("resetkeys") {
            self.allkeys = false;
            self.keys.clear();
        } else if is("allchannels") || is("&*") {
            self.allchannels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.allchannels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.set_all(true);
        } else if is("nocommands") || is("-@all") {
            self.set_all(false);
        } else if op[0] == b'~' || op[0] == b'%' {
            self.add_key_pattern(op)?;
        } else if op[0] == b'&' {
            if self.allchannels {
                return Err(RuleError::ChannelAfterAll);
            }
            let pattern = &op[1..];
            if crate::has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
            self.allchannels = false;
        } else if op[0] == b'+' && op.get(1) != Some(&b'@') {
            self.allow_command(catalog, &op[1..])?;
        } else if op[0] == b'-' && op.get(1) != Some(&b'@') {
            let id = catalog.lookup(&op[1..]).ok_or(RuleError::UnknownCommand)?;
            self.change(catalog, id, false);
        } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
            let bit = category_bit(&op[2..]).ok_or(RuleError::UnknownCommand)?;
            self.change_category(catalog, bit, op[0] == b'+');
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if self.allkeys {
            return Err(RuleError::KeyAfterAll);
        }
        let mut flags = 0;
        let mut offset = 1;
        if op[0] == b'%' {
            while offset < op.len() {
                let c = op[offset].to_ascii_uppercase();
                if c == b'R' && flags & KEY_READ == 0 {
                    flags |= KEY_READ;
                } else if c == b'W' && flags & KEY_WRITE == 0 {
                    flags |= KEY_WRITE;
                } else if c == b'~' {
                    offset += 1;
                    break;
                } else {
                    return Err(RuleError::Syntax);
                }
                offset += 1;
            }
            if flags == 0 {
                return Err(RuleError::Syntax);
            }
        } else {
            flags = KEY_ALL;
        }
        let pattern = &op[offset..];
        if crate::has_spaces(pattern) {
            return Err(RuleError::Syntax);
        }
        match self.keys.iter_mut().find(|k| k.pattern == pattern) {
            Some(existing) => existing.flags |= flags,
            None => self.keys.push(KeyPattern {
                flags,
                pattern: pattern.to_vec(),
            }),
        }
        self.allkeys = false;
        Ok(())
    }

    /// `+command`, `+container|sub`, or `+command|first-arg`.
    fn allow_command(&mut self, catalog: &Catalog, name: &[u8]) -> Result<(), RuleError> {
        let Some(bar) = name.iter().rposition(|&c| c == b'|') else {
            let id = catalog.lookup(name).ok_or(RuleError::UnknownCommand)?;
            self.change(catalog, id, true);
            return Ok(());
        };
        let (base, sub) = (&name[..bar], &name[bar + 1..]);
        let id = catalog.lookup(base).ok_or(RuleError::UnknownCommand)?;
        if catalog.get(id).parent.is_some() {
            return Err(RuleError::SubcommandFirstArg);
        }
        if sub.is_empty() {
            return Err(RuleError::Syntax);
        }
        if !catalog.get(id).subcommands.is_empty() {
            let sub_id = catalog.lookup(name).ok_or(RuleError::UnknownCommand)?;
            self.change(catalog, sub_id, true);
        } else {
            let args = self.firstargs.entry(id).or_default();
            if !args.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                args.push(sub.to_vec());
            }
        }
        Ok(())
    }

    /// Whether this selector allows the command (`ACLSelectorCheckCmd`).
    pub fn check(
        &self,
        catalog: &Catalog,
        inv: &mut Invocation<'_>,
        keys: &mut Option<Vec<(usize, u8)>>,
    ) -> Result<(), Denied> {
        let cmd = catalog.get(inv.id);
        if !self.allcommands && !cmd.no_auth && !self.allows_command_bit(inv.id) {
            let at = if cmd.parent.is_some() { 2 } else { 1 };
            let allowed = inv.args.len() >= 2
                && at < inv.args.len()
                && self
                    .firstargs(inv.id)
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(inv.args.get(at)));
            if !allowed {
                return Err(Denied::Command);
            }
        }
        if !self.allkeys {
            let keys = keys.get_or_insert_with(|| (inv.keys)());
            for &(pos, need) in keys.iter() {
                if !self.key_allowed(inv.args.get(pos), need) {
                    return Err(Denied::Key(pos));
                }
            }
        }
        if !self.allchannels {
            let (range, literal) = match cmd.channels {
                ChannelArgs::None => return Ok(()),
                ChannelArgs::First => (1..2.min(inv.args.len()), false),
                ChannelArgs::All => (1..inv.args.len(), false),
                ChannelArgs::AllLiteral => (1..inv.args.len(), true),
            };
            for pos in range {
                if !self.channel_allowed(inv.args.get(pos), literal) {
                    return Err(Denied::Channel(pos));
                }
            }
        }
        Ok(())
    }

    /// Every key may be touched with `need`: `allkeys`, or a `*` pattern granting it.
    pub fn all_keys_for(&self, need: u8) -> bool {
        self.allkeys
            || self
                .keys
                .iter()
                .any(|p| p.flags & need == need && p.pattern == b"*")
    }

    /// `ACLSelectorCheckKey`: a pattern applies when it grants every permission needed.
    pub fn key_allowed(&self, key: &[u8], need: u8) -> bool {
        self.allkeys
            || self
                .keys
                .iter()
                .any(|p| p.flags & need == need && store::glob::matches(&p.pattern, key, false))
    }

    /// A channel (or, `literal`, a PSUBSCRIBE pattern that must equal one of ours).
    pub fn channel_allowed(&self, channel: &[u8], literal: bool) -> bool {
        self.allchannels
            || self.channels.iter().any(|p| {
                if literal {
                    p == channel
                } else {
                    store::glob::matches(p, channel, false)
                }
            })
    }
}

/// The error to report when every selector refused: the highest-ranked, later arguments
/// winning ties (`ACLCheckAllUserCommandPerm`).
pub(crate) fn most_relevant(a: Denied, b: Denied) -> Denied {
    if b.rank() > a.rank() {
        b
    } else {
        a
    }
}
