//! A user: flags, passwords and selectors (Redis's `user`), and the rules that change it
//! (`ACLSetUser`).

use sha2::{Digest, Sha256};

use crate::catalog::Catalog;
use crate::error::RuleError;
use crate::selector::{most_relevant, Denied, Invocation, Selector};

/// The `sanitize-payload` / `skip-sanitize-payload` flag, when one was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sanitize {
    Unset,
    Sanitize,
    Skip,
}

/// Settings rules depend on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `acl-pubsub-default allchannels`: new selectors may use every channel.
    pub all_channels_default: bool,
}

#[derive(Debug, Clone)]
pub struct User {
    pub name: Vec<u8>,
    pub enabled: bool,
    pub nopass: bool,
    pub sanitize: Sanitize,
    /// SHA-256 of each password, lowercase hex.
    pub passwords: Vec<String>,
    /// The root selector first.
    pub selectors: Vec<Selector>,
}

/// Hex SHA-256, as Redis stores and shows passwords.
pub fn hash_password(password: &[u8]) -> String {
    Sha256::digest(password)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn valid_hash(hash: &[u8]) -> bool {
    hash.len() == 64 && hash.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// Compares without an early exit, so the time taken does not tell how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl User {
    /// A new user: off, no password, nothing allowed (`ACLCreateUser`).
    pub fn new(catalog: &Catalog, name: &[u8], options: Options) -> User {
        User {
            name: name.to_vec(),
            enabled: false,
            nopass: false,
            sanitize: Sanitize::Unset,
            passwords: Vec::new(),
            selectors: vec![Selector::new(catalog, true, options.all_channels_default)],
        }
    }

    /// The `default` user as Redis creates it: `on nopass ~* &* +@all`.
    pub fn new_default(catalog: &Catalog, options: Options) -> User {
        let mut user = User::new(catalog, b"default", options);
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            user.apply(catalog, op.as_bytes(), options)
                .expect("default rules are valid");
        }
        user
    }

    pub fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    fn root_mut(&mut self) -> &mut Selector {
        &mut self.selectors[0]
    }

    /// Can run any command on any key and channel: the check can be skipped.
    pub fn unrestricted(&self) -> bool {
        self.selectors
            .iter()
            .any(|s| s.allcommands && s.allkeys && s.allchannels)
    }

    /// Applies one rule (`ACLSetUser`); an empty rule does nothing.
    pub fn apply(
        &mut self,
        catalog: &Catalog,
        op: &[u8],
        options: Options,
    ) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.sanitize = Sanitize::Skip;
        } else if is("sanitize-payload") {
            self.sanitize = Sanitize::Sanitize;
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8(op[1..].to_vec()).expect("hex")
            } else {
                return Err(RuleError::BadHash);
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8(op[1..].to_vec()).expect("hex")
            } else {
                return Err(RuleError::BadHash);
            };
            let at = self
                .passwords
                .iter()
                .position(|p| *p == hash)
                .ok_or(RuleError::NoSuchPassword)?;
            self.passwords.remove(at);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let selector = parse_selector(catalog, &op[1..op.len() - 1], options)?;
            self.selectors.push(selector);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            self.nopass = false;
            self.passwords.clear();
            let root = self.root_mut();
            root.allkeys = false;
            root.keys.clear();
            root.allchannels = options.all_channels_default;
            root.channels.clear();
            self.enabled = false;
            self.sanitize = Sanitize::Sanitize;
            self.selectors.truncate(1);
            self.root_mut().set_all(false);
        } else {
            self.root_mut().apply(catalog, op)?;
        }
        Ok(())
    }

    /// Applies every rule or none: the rules go to a copy, which replaces this user only
    /// when all applied (as ACL SETUSER stages them on a temporary user).
    pub fn apply_all<'r>(
        &mut self,
        catalog: &Catalog,
        ops: impl IntoIterator<Item = &'r [u8]>,
        options: Options,
    ) -> Result<(), (&'r [u8], RuleError)> {
        let mut staged = self.clone();
        for op in ops {
            staged.apply(catalog, op, options).map_err(|e| (op, e))?;
        }
        *self = staged;
        Ok(())
    }

    /// Whether `password` opens this user (`ACLCheckUserCredentials`, the user found).
    pub fn accepts(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let hashed = hash_password(password);
        // Every stored hash is compared, so the time taken does not tell which matched.
        self.passwords.iter().fold(false, |found, p| {
            found | constant_time_eq(p.as_bytes(), hashed.as_bytes())
        })
    }

    /// Whether this user may run the command (`ACLCheckAllUserCommandPerm`): allowed when
    /// one selector allows it; otherwise the most relevant refusal.
    pub fn check(&self, catalog: &Catalog, inv: &mut Invocation<'_>) -> Result<(), Denied> {
        let mut keys = None;
        let mut worst = Denied::Command;
        for selector in &self.selectors {
            match selector.check(catalog, inv, &mut keys) {
                Ok(()) => return Ok(()),
                Err(denied) => worst = most_relevant(worst, denied),
            }
        }
        Err(worst)
    }

    /// Whether a selector that allows the command also allows every key with `need`
    /// (`ACLUserCheckCmdWithUnrestrictedKeyAccess`).
    pub fn unrestricted_key_access(
        &self,
        catalog: &Catalog,
        inv: &mut Invocation<'_>,
        need: u8,
    ) -> bool {
        let mut keys = None;
        self.selectors
            .iter()
            .any(|s| s.check(catalog, inv, &mut keys).is_ok() && s.all_keys_for(need))
    }

    /// Whether some selector lets this user touch `key` with the permissions `need`.
    pub fn key_allowed(&self, key: &[u8], need: u8) -> bool {
        self.selectors.iter().any(|s| s.key_allowed(key, need))
    }

    /// Whether some selector lets this user use `channel`.
    pub fn channel_allowed(&self, channel: &[u8], literal: bool) -> bool {
        self.selectors
            .iter()
            .any(|s| s.channel_allowed(channel, literal))
    }
}

/// A selector from the text between its parentheses: rules split as `sdssplitargs` does.
fn parse_selector(
    catalog: &Catalog,
    inner: &[u8],
    options: Options,
) -> Result<Selector, RuleError> {
    let mut selector = Selector::new(catalog, false, options.all_channels_default);
    let mut buf = Vec::new();
    let mut ranges = Vec::new();
    if resp::request::split_args(inner, &mut buf, &mut ranges).is_ok() {
        for &(from, to) in &ranges {
            selector.apply(catalog, &buf[from..to])?;
        }
    }
    Ok(selector)
}

/// Joins a selector given across several arguments (`(~key* +get` `+set)`) into one, as
/// Redis's `ACLMergeSelectorArguments`. `Err` holds the index of the argument that opened
/// a selector never closed.
pub fn merge_selector_args(args: &[&[u8]]) -> Result<Vec<Vec<u8>>, usize> {
    let mut merged = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, &op) in args.iter().enumerate() {
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((j, op.to_vec()));
            continue;
        }
        if let Some((_, selector)) = open.as_mut() {
            selector.push(b' ');
            selector.extend_from_slice(op);
            if op.last() == Some(&b')') {
                merged.push(open.take().expect("open").1);
            }
            continue;
        }
        merged.push(op.to_vec());
    }
    match open {
        Some((start, _)) => Err(start),
        None => Ok(merged),
    }
}
