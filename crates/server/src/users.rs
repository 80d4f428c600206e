//! The node's ACL users and the ACL log (Redis's `Users` radix tree and `ACLLog`).
//!
//! Users are replaced whole: a change stores a new `Arc<User>` and bumps [`Users::generation`];
//! each connection keeps its user's `Arc` and looks the user up again by name when the
//! generation moved (one relaxed load per command), so a change applies to connections
//! already authenticated as that user from their next command, as in Redis.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use acl::{Catalog, CommandInfo, Denied, User};
use parking_lot::{Mutex, RwLock};

use crate::command::CommandTable;

/// ACL LOG groups a repeat of an entry (same reason, context, object, user) within this
/// time into the entry.
const LOG_GROUPING_MS: u64 = 60_000;

/// Why an ACL LOG entry was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    Channel,
    Auth,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }
}

/// Where the refused command ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
    Lua,
}

impl Context {
    pub fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LogEntry {
    pub count: u64,
    pub reason: Reason,
    pub context: Context,
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    /// Last time it happened, ms since the epoch.
    pub at_ms: u64,
    /// CLIENT LIST line of the (last) client it happened to.
    pub client_info: String,
}

pub struct Users {
    pub catalog: Catalog,
    map: RwLock<BTreeMap<Vec<u8>, Arc<User>>>,
    generation: AtomicU64,
    /// The default user needs a password (or is off): new connections must authenticate.
    auth_required: AtomicBool,
    log: Mutex<VecDeque<LogEntry>>,
    /// `aclfile`: where ACL LOAD reads and ACL SAVE writes.
    pub file: Option<PathBuf>,
}

/// The catalog ACL rules name commands by: every command and subcommand of the table, with
/// its table index as its id, then Redis's commands this node does not implement (an ACL
/// file written for Redis loads here, and rules read back as Redis writes them; such a
/// command still answers "unknown command").
fn catalog(table: &CommandTable) -> Catalog {
    Catalog::new(
        table
            .commands
            .iter()
            .map(|c| CommandInfo::new(c.meta.name, c.meta.acl_categories, c.no_auth))
            .chain(
                acl::redis7::COMMANDS
                    .iter()
                    .filter(|(name, ..)| table.lookup(name.as_bytes()).is_none())
                    .map(|(name, categories, no_auth, _)| {
                        CommandInfo::new(name, categories, *no_auth)
                    }),
            )
            .collect(),
    )
}

impl Users {
    /// The default user (with `requirepass` as its password, if set), the users given in
    /// the configuration (`user` lines), then the ACL file's users, if any.
    pub fn new(
        table: &CommandTable,
        requirepass: Option<&str>,
        configured: &[String],
        file: Option<PathBuf>,
        options: acl::Options,
    ) -> Result<Users, String> {
        let users = Users {
            catalog: catalog(table),
            map: RwLock::new(BTreeMap::new()),
            generation: AtomicU64::new(0),
            auth_required: AtomicBool::new(false),
            log: Mutex::new(VecDeque::new()),
            file,
        };
        let mut default = User::new_default(&users.catalog, options);
        set_password(&users.catalog, &mut default, requirepass);
        users.put(default);
        if !configured.is_empty() && users.file.is_some() {
            return Err("Configuring users in the configuration and at the same time an ACL file (aclfile) is invalid: define users in one place".into());
        }
        for line in configured {
            // The default user exists already: a configured `default` is reset, then given
            // the line's rules (Redis's ACLLoadConfiguredUsers).
            let text = match line.strip_prefix("default ") {
                Some(rules) => format!("user default reset {rules}"),
                None => format!("user {line}"),
            };
            let loaded = acl::file::load(text.as_bytes(), "config", &users.catalog, options)?;
            for user in loaded.into_iter().filter(|u| {
                u.name != b"default" || line.split_whitespace().next() == Some("default")
            }) {
                users.put(user);
            }
        }
        if let Some(path) = &users.file {
            users.load_file(path, options)?;
        }
        Ok(users)
    }

    /// Bumped by every change to any user.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    #[inline]
    pub fn auth_required(&self) -> bool {
        self.auth_required.load(Ordering::Relaxed)
    }

    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        self.map.read().get(name).cloned()
    }

    pub fn default_user(&self) -> Arc<User> {
        self.get(b"default")
            .expect("the default user always exists")
    }

    /// Every user, sorted by name.
    pub fn all(&self) -> Vec<Arc<User>> {
        self.map.read().values().cloned().collect()
    }

    /// Stores (adds or replaces) a user.
    pub fn put(&self, user: User) {
        if user.name == b"default" {
            self.auth_required
                .store(!(user.nopass && user.enabled), Ordering::Relaxed);
        }
        self.map.write().insert(user.name.clone(), Arc::new(user));
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Removes users; the number that existed. The default user is never removed.
    pub fn remove(&self, names: &[&[u8]]) -> usize {
        let mut map = self.map.write();
        let removed = names
            .iter()
            .filter(|n| **n != b"default" && map.remove(**n).is_some())
            .count();
        drop(map);
        self.generation.fetch_add(1, Ordering::Release);
        removed
    }

    /// `requirepass` changed: it becomes the default user's only password (none: nopass).
    pub fn set_requirepass(&self, password: Option<&str>) {
        let mut default = (*self.default_user()).clone();
        set_password(&self.catalog, &mut default, password);
        self.put(default);
    }

    /// Replaces every user with the ACL file's, or changes nothing and answers why not.
    /// The names of users that existed before and are gone or changed are returned, so
    /// their connections can be closed.
    pub fn load_file(
        &self,
        path: &std::path::Path,
        options: acl::Options,
    ) -> Result<Vec<Vec<u8>>, String> {
        let text = std::fs::read(path).map_err(|e| {
            format!(
                "Error loading ACLs, opening file '{}': {}",
                path.display(),
                io_error_text(&e)
            )
        })?;
        let loaded = acl::file::load(&text, &path.display().to_string(), &self.catalog, options)?;
        let mut map = self.map.write();
        let old: Vec<Vec<u8>> = map.keys().cloned().collect();
        map.clear();
        drop(map);
        for user in loaded {
            self.put(user);
        }
        Ok(old.into_iter().filter(|n| n != b"default").collect())
    }

    /// Writes every user to the ACL file (through a temporary file, renamed over it).
    pub fn save_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        let users = self.all();
        let text = acl::file::save(users.iter().map(|u| &**u), &self.catalog);
        let tmp = path.with_extension(format!("tmp-{}-{}", std::process::id(), crate::unix_ms()));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })
    }

    /// Records a refusal (`addACLLogEntry`): a repeat of one of the last 10 entries within a
    /// minute bumps that entry and moves it first; the log keeps `max_len` entries.
    pub fn log(&self, entry: LogEntry, max_len: usize) {
        let mut log = self.log.lock();
        let repeat = log.iter().take(10).position(|e| {
            e.reason == entry.reason
                && e.context == entry.context
                && e.at_ms.abs_diff(entry.at_ms) <= LOG_GROUPING_MS
                && e.object == entry.object
                && e.username == entry.username
        });
        match repeat {
            Some(at) => {
                let mut e = log.remove(at).expect("found");
                e.count += 1;
                e.at_ms = entry.at_ms;
                e.client_info = entry.client_info;
                log.push_front(e);
            }
            None => {
                log.push_front(entry);
                log.truncate(max_len);
            }
        }
    }

    /// The newest `count` entries.
    pub fn log_entries(&self, count: usize) -> Vec<LogEntry> {
        self.log.lock().iter().take(count).cloned().collect()
    }

    pub fn log_reset(&self) {
        self.log.lock().clear();
    }
}

fn set_password(catalog: &Catalog, user: &mut User, password: Option<&str>) {
    let options = acl::Options::default();
    let _ = user.apply(catalog, b"resetpass", options);
    match password.filter(|p| !p.is_empty()) {
        Some(p) => {
            let rule = [b">".as_slice(), p.as_bytes()].concat();
            let _ = user.apply(catalog, &rule, options);
        }
        None => {
            let _ = user.apply(catalog, b"nopass", options);
        }
    }
}

/// `strerror`'s text for the common cases (Rust's adds " (os error N)").
fn io_error_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => e.to_string(),
    }
}

/// Settings of the live configuration the rules depend on (`acl-pubsub-default`).
pub fn options(live: &crate::config::Live) -> acl::Options {
    let all = crate::tunables::find("acl-pubsub-default")
        .is_some_and(|t| live.tunables.get(t) == "allchannels");
    acl::Options {
        all_channels_default: all,
    }
}

/// A connection's user, as of a [`Users::generation`]: refreshed by [`refresh`] when the
/// generation moved.
#[derive(Debug, Default)]
pub struct ClientAcl {
    pub user: Option<Arc<User>>,
    generation: Option<u64>,
    /// The user may run anything: the per-command check is skipped.
    pub open: bool,
}

/// Makes `client` run every command unchecked, whatever the users are (the append-only
/// file's replay: Redis's AOF client has no user). Called before each command, since a
/// change of the users would otherwise [`refresh`] it back to the default user.
pub fn make_superuser(shared: &crate::Shared, client: &mut crate::ClientState) {
    client.acl.user = None;
    client.acl.open = true;
    client.acl.generation = Some(shared.users.generation());
    client.authenticated = true;
}

/// Brings the connection's user up to date with the users' generation. A user deleted
/// meanwhile (its connections are being closed) falls back to the default user,
/// unauthenticated, as Redis does.
#[inline]
pub fn refresh(shared: &crate::Shared, client: &mut crate::ClientState) {
    let generation = shared.users.generation();
    if client.acl.generation == Some(generation) {
        return;
    }
    let name = client.info.user.read().clone();
    let user = match shared.users.get(name.as_bytes()) {
        Some(user) => user,
        None => {
            client.authenticated = false;
            client.info.authenticated.store(false, Ordering::Relaxed);
            *client.info.user.write() = "default".into();
            shared.users.default_user()
        }
    };
    client.acl.open = user.unrestricted();
    client.acl.user = Some(user);
    client.acl.generation = Some(generation);
}

/// Authenticates the connection as `user` (AUTH, HELLO AUTH).
pub fn become_user(shared: &crate::Shared, client: &mut crate::ClientState, user: &[u8]) {
    *client.info.user.write() = String::from_utf8_lossy(user).into_owned();
    client.acl.generation = None;
    client.authenticated = true;
    client.info.authenticated.store(true, Ordering::Relaxed);
    refresh(shared, client);
}

/// The ACL check of one command (the table's `index`), for the connection's user. `Ok` at
/// once for a user allowed everything.
pub fn check(
    shared: &crate::Shared,
    client: &crate::ClientState,
    index: usize,
    args: resp::Args<'_>,
) -> Result<(), Denied> {
    if client.acl.open {
        return Ok(());
    }
    let Some(user) = client.acl.user.as_ref() else {
        return Ok(());
    };
    check_user(shared, user, index, args)
}

/// Whether `user` may run the command at the table's `index` with `args`.
pub fn check_user(
    shared: &crate::Shared,
    user: &User,
    index: usize,
    args: resp::Args<'_>,
) -> Result<(), Denied> {
    let mut keys = || command_keys(shared, index, args);
    user.check(
        &shared.users.catalog,
        &mut acl::Invocation {
            id: index,
            args,
            keys: &mut keys,
        },
    )
}

/// Whether a selector of `user` that allows this command may touch every key with the
/// permissions `need` (commands that reach keys their arguments do not name: SORT BY/GET).
pub fn unrestricted_key_access(
    shared: &crate::Shared,
    user: &User,
    index: usize,
    args: resp::Args<'_>,
    need: u8,
) -> bool {
    let mut keys = || command_keys(shared, index, args);
    user.unrestricted_key_access(
        &shared.users.catalog,
        &mut acl::Invocation {
            id: index,
            args,
            keys: &mut keys,
        },
        need,
    )
}

/// The keys of a command invocation with the permission each needs (what a selector that
/// restricts keys checks).
fn command_keys(shared: &crate::Shared, index: usize, args: resp::Args<'_>) -> Vec<(usize, u8)> {
    shared
        .table
        .get(index)
        .meta
        .keys_and_flags(args)
        .unwrap_or_default()
        .into_iter()
        .map(|(pos, flags)| (pos, key_permission(flags)))
        .collect()
}

/// The permission a key needs from its key spec's flags: `access` reads, `insert`,
/// `delete` and `update` write (Redis's `ACLSelectorCheckKey`).
fn key_permission(flags: crate::command::spec::KeyFlags) -> u8 {
    use crate::command::spec::Meta;
    flags.iter().fold(0, |need, f| match f {
        Meta::Status("access") => need | acl::KEY_READ,
        Meta::Status("insert" | "delete" | "update") => need | acl::KEY_WRITE,
        _ => need,
    })
}

/// Records a refusal of `client`'s command in the ACL log.
pub fn log_denial(
    shared: &crate::Shared,
    client: &crate::ClientState,
    reason: Reason,
    context: Context,
    object: &[u8],
    username: Option<&[u8]>,
) {
    let max_len = crate::tunables::find("acllog-max-len")
        .and_then(|t| shared.live.tunables.get(t).parse::<usize>().ok())
        .unwrap_or(128);
    let counter = match reason {
        Reason::Command => Some(&shared.stats.acl_access_denied_cmd),
        Reason::Key => Some(&shared.stats.acl_access_denied_key),
        Reason::Channel => Some(&shared.stats.acl_access_denied_channel),
        // Counted where authentication fails (AUTH, HELLO, the admin API).
        Reason::Auth => None,
    };
    if let Some(counter) = counter {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    let username = match username {
        Some(name) => name.to_vec(),
        None => client.info.user.read().as_bytes().to_vec(),
    };
    shared.users.log(
        LogEntry {
            count: 1,
            reason,
            context,
            object: object.to_vec(),
            username,
            at_ms: crate::unix_ms(),
            client_info: client.info.render(shared.started),
        },
        max_len,
    );
}

/// Logs a denied command and answers the refusal Redis gives at the top level or in MULTI.
pub fn refuse(
    shared: &crate::Shared,
    client: &crate::ClientState,
    index: usize,
    args: resp::Args<'_>,
    denied: Denied,
    context: Context,
) -> crate::error::CmdError {
    let name = shared.table.get(index).meta.name;
    *client.info.last_cmd.write() = name;
    let (reason, at) = denied_reason(denied);
    let object = at.map_or(name.as_bytes(), |i| args.get(i));
    log_denial(shared, client, reason, context, object, None);
    denied_error(denied, name)
}

/// The refusal a denial turns into at the top level (Redis 7.0's texts).
pub fn denied_error(denied: Denied, command: &str) -> crate::error::CmdError {
    crate::error::CmdError::NoPerm(match denied {
        Denied::Command => format!("this user has no permissions to run the '{command}' command"),
        Denied::Key(_) => {
            "this user has no permissions to access one of the keys used as arguments".into()
        }
        Denied::Channel(_) => {
            "this user has no permissions to access one of the channels used as arguments".into()
        }
    })
}

/// A denial's log reason and the argument it names (none for a command).
pub fn denied_reason(denied: Denied) -> (Reason, Option<usize>) {
    match denied {
        Denied::Command => (Reason::Command, None),
        Denied::Key(i) => (Reason::Key, Some(i)),
        Denied::Channel(i) => (Reason::Channel, Some(i)),
    }
}
