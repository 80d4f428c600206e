//! The proxy's users (`--user`), with Redis 7's ACL rules: a client authenticates as one of
//! them (AUTH, HELLO AUTH) and every command it sends is checked before it reaches a backend
//! — commands and categories, key patterns (`~`, `%R~`, `%W~`), selectors — with Redis's
//! NOPERM replies. The `default` user is Redis's: `on nopass ~* &* +@all`, with `requirepass`
//! as its password; a `default` line replaces its rules.
//!
//! The proxy has no command table of its own: rules are checked against Redis 7's
//! ([`acl::Catalog::redis7`]), and a command's keys are where the proxy routes by
//! ([`crate::commands`]), each needing what the command's key specs need (read, write). A
//! command whose keys the proxy cannot place is refused to a user restricted to some keys.

use acl::{Catalog, Denied, Invocation, Options, User};
use resp::Args;

pub struct Users {
    catalog: Catalog,
    /// What each command's keys need ([`acl::KEY_READ`], [`acl::KEY_WRITE`]), by catalog id
    /// (looked up once here, not per command checked).
    key_needs: Vec<u8>,
    /// `default` first.
    users: Vec<User>,
}

/// A user, by its position in [`Users`].
pub type UserId = usize;

/// The default user.
pub const DEFAULT: UserId = 0;

impl Users {
    /// The default user (password `requirepass`, if any) and the users of `lines`
    /// (`name rules...`, as redis.conf's `user` directive and `--user` on a node).
    pub fn new(requirepass: Option<&str>, lines: &[String]) -> Result<Users, String> {
        let catalog = Catalog::redis7();
        let options = Options::default();
        let mut default = User::new_default(&catalog, options);
        if let Some(p) = requirepass.filter(|p| !p.is_empty()) {
            let rule = format!(">{p}");
            default
                .apply_all(&catalog, [&b"resetpass"[..], rule.as_bytes()], options)
                .map_err(|(_, e)| e.to_string())?;
        }
        let mut users = vec![default];
        for line in lines {
            let text = match line.strip_prefix("default ") {
                Some(rules) => format!("user default reset {rules}"),
                None => format!("user {line}"),
            };
            for user in acl::file::load(text.as_bytes(), "--user", &catalog, options)? {
                let named = line.split_whitespace().next().unwrap_or("").as_bytes();
                if user.name != named {
                    continue; // the stock default the loader adds
                }
                match users.iter_mut().find(|u| u.name == user.name) {
                    Some(existing) => *existing = user,
                    None => users.push(user),
                }
            }
        }
        Ok(Users::with(catalog, users))
    }

    /// Nobody can authenticate (the default user is off): what a pool whose users could not
    /// be built gets.
    pub fn locked() -> Users {
        let catalog = Catalog::redis7();
        let default = User::new(&catalog, b"default", Options::default());
        Users::with(catalog, vec![default])
    }

    fn with(catalog: Catalog, users: Vec<User>) -> Users {
        let mut key_needs = vec![acl::KEY_ALL; catalog.len()];
        for (name, .., need) in acl::redis7::COMMANDS {
            if let Some(id) = catalog.lookup(name.as_bytes()) {
                key_needs[id] = *need;
            }
        }
        Users {
            catalog,
            key_needs,
            users,
        }
    }

    /// Whether a new connection is the default user already (Redis: the default user is
    /// on and `nopass`).
    pub fn open(&self) -> bool {
        let d = &self.users[DEFAULT];
        d.enabled && d.nopass
    }

    /// Whether any user but an unrestricted default exists (checks are needed at all).
    pub fn restricted(&self) -> bool {
        self.users.len() > 1 || !self.users[DEFAULT].unrestricted()
    }

    /// The user `name` opens with `password` (`None`: WRONGPASS).
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<UserId> {
        let id = self.users.iter().position(|u| u.name == name)?;
        self.users[id].accepts(password).then_some(id)
    }

    pub fn name(&self, id: UserId) -> String {
        String::from_utf8_lossy(&self.users[id].name).into_owned()
    }

    /// Whether user `id` may run `args`; the refusal is Redis's text. A command Redis does
    /// not know passes (the proxy answers it as unknown).
    pub fn check(&self, id: UserId, args: Args<'_>) -> Result<(), String> {
        let user = &self.users[id];
        if user.unrestricted() {
            return Ok(());
        }
        let Some(command) = self.command_id(args) else {
            return Ok(());
        };
        let argv: Vec<&[u8]> = args.iter().collect();
        let need = variable_need(&self.catalog.get(command).name, &argv)
            .unwrap_or(self.key_needs[command]);
        let mut keys = || match key_positions(&argv) {
            Some(positions) => positions.into_iter().map(|p| (p, need)).collect(),
            // Keys the proxy cannot place: checked as if argument 1 were one, so only a
            // user with every key passes.
            None => vec![(1.min(argv.len().saturating_sub(1)), acl::KEY_ALL)],
        };
        let mut inv = Invocation {
            id: command,
            args,
            keys: &mut keys,
        };
        user.check(&self.catalog, &mut inv).map_err(|denied| {
            let name = &self.catalog.get(command).name;
            match denied {
                Denied::Command => format!(
                    "NOPERM this user has no permissions to run the '{name}' command"
                ),
                Denied::Key(_) => {
                    "NOPERM this user has no permissions to access one of the keys used as arguments".into()
                }
                Denied::Channel(_) => {
                    "NOPERM this user has no permissions to access one of the channels used as arguments".into()
                }
            }
        })
    }

    /// The catalog id of the command (`container|sub` for a subcommand Redis knows).
    fn command_id(&self, args: Args<'_>) -> Option<usize> {
        let id = self.catalog.lookup(args.get(0))?;
        if self.catalog.get(id).subcommands.is_empty() || args.len() < 2 {
            return Some(id);
        }
        let mut full = args.get(0).to_vec();
        full.push(b'|');
        full.extend_from_slice(args.get(1));
        Some(self.catalog.lookup(&full).unwrap_or(id))
    }
}

/// What the key of a command whose key specs say `variable_flags` needs for these
/// arguments, as Redis's getkeys procedures resolve it: SET reads only with GET;
/// BITFIELD writes unless every operation is a GET.
fn variable_need(name: &str, argv: &[&[u8]]) -> Option<u8> {
    let word = |a: &&[u8], w: &str| a.eq_ignore_ascii_case(w.as_bytes());
    match name {
        "set" if argv.iter().skip(3).any(|a| word(a, "get")) => Some(acl::KEY_ALL),
        "set" => Some(acl::KEY_WRITE),
        "bitfield" => {
            let mut i = 2;
            let mut writes = false;
            while i < argv.len() {
                let op = argv[i];
                if word(&op, "get") {
                    i += 3;
                } else if word(&op, "overflow") {
                    i += 2;
                } else {
                    writes = true;
                    break;
                }
            }
            Some(if writes { acl::KEY_ALL } else { acl::KEY_READ })
        }
        _ => None,
    }
}

/// Where the keys of `argv` are, as the proxy routes them (`None`: it cannot tell).
fn key_positions(argv: &[&[u8]]) -> Option<Vec<usize>> {
    use crate::commands::Route;
    let name = String::from_utf8_lossy(argv.first()?).to_ascii_lowercase();
    let n = argv.len();
    match crate::commands::route(&name)? {
        Route::Key => Some(if n > 1 { vec![1] } else { Vec::new() }),
        Route::MGet | Route::SumKeys => Some((1..n).collect()),
        Route::MSet => Some((1..n).step_by(2).collect()),
        Route::SameBackend(spec) => crate::commands::same_backend_keys(spec, argv),
        Route::Broadcast(_) | Route::Scan | Route::Local | Route::Refused(_) => Some(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(users: &Users, id: UserId, argv: &[&[u8]]) -> Result<(), String> {
        let owned: resp::request::OwnedArgs = argv.iter().copied().collect();
        users.check(id, owned.as_args())
    }

    #[test]
    fn rules_commands_and_keys_are_checked_with_redis_replies() {
        let users = Users::new(
            Some("adminpw"),
            &[
                "app on >apppw ~app:* +@read +@write -@dangerous".into(),
                "reader on >r %R~* +@read".into(),
            ],
        )
        .unwrap();
        assert!(!users.open());
        assert_eq!(users.authenticate(b"default", b"adminpw"), Some(DEFAULT));
        assert_eq!(users.authenticate(b"default", b"nope"), None);
        let app = users.authenticate(b"app", b"apppw").unwrap();
        let reader = users.authenticate(b"reader", b"r").unwrap();
        assert_eq!(users.name(app), "app");
        assert!(check(&users, app, &[b"SET", b"app:1", b"v"]).is_ok());
        assert!(check(&users, app, &[b"MGET", b"app:1", b"app:2"]).is_ok());
        assert_eq!(
            check(&users, app, &[b"GET", b"other"]).unwrap_err(),
            "NOPERM this user has no permissions to access one of the keys used as arguments"
        );
        assert_eq!(
            check(&users, app, &[b"MSET", b"app:1", b"v", b"x", b"v"]).unwrap_err(),
            "NOPERM this user has no permissions to access one of the keys used as arguments"
        );
        assert_eq!(
            check(&users, app, &[b"FLUSHALL"]).unwrap_err(),
            "NOPERM this user has no permissions to run the 'flushall' command"
        );
        // %R~*: reads anywhere, no writes (SET's key needs write; INCR's both).
        assert!(check(&users, reader, &[b"GET", b"any"]).is_ok());
        assert!(check(&users, reader, &[b"SET", b"any", b"v"]).is_err());
        // %W~: SET writes only, unless it also GETs; BITFIELD with only GETs reads.
        let writer = Users::new(None, &["w on nopass %W~* %R~r:* +@all".into()]).unwrap();
        let w = writer.authenticate(b"w", b"").unwrap();
        assert!(check(&writer, w, &[b"SET", b"k", b"v"]).is_ok());
        assert!(check(&writer, w, &[b"SET", b"k", b"v", b"GET"]).is_err());
        assert!(check(&writer, w, &[b"BITFIELD", b"k", b"GET", b"u8", b"0"]).is_err());
        assert!(check(&writer, w, &[b"BITFIELD", b"r:k", b"GET", b"u8", b"0"]).is_ok());
        assert!(check(&writer, w, &[b"BITFIELD", b"k", b"SET", b"u8", b"0", b"1"]).is_err());
        // A subcommand is named as Redis names it.
        assert_eq!(
            check(&users, reader, &[b"CONFIG", b"GET", b"x"]).unwrap_err(),
            "NOPERM this user has no permissions to run the 'config|get' command"
        );
        // Unknown commands pass to the proxy's own "unknown command".
        assert!(check(&users, app, &[b"NOSUCH"]).is_ok());
    }

    #[test]
    fn a_default_line_replaces_the_default_user_and_bad_rules_are_refused() {
        let users = Users::new(None, &["default on nopass ~cache:* +get".into()]).unwrap();
        assert!(users.open() && users.restricted());
        assert!(check(&users, DEFAULT, &[b"GET", b"cache:1"]).is_ok());
        assert!(check(&users, DEFAULT, &[b"SET", b"cache:1", b"v"]).is_err());
        assert!(!Users::new(None, &[]).unwrap().restricted());
        let bad = Users::new(None, &["app on +nosuchcommand".into()]);
        assert!(
            bad.is_err_and(|e| e.contains("nosuchcommand")),
            "unknown command named"
        );
    }
}
