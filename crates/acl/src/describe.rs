//! Users written back as rules (ACL LIST, ACL GETUSER, ACL SAVE), in Redis 7.0's form:
//! the command rules are rebuilt from the permission bitmap (`ACLDescribeSelectorCommandRules`),
//! so they read `+@all -@dangerous`, not the rules as typed.

use crate::catalog::{Catalog, CATEGORIES};
use crate::selector::Selector;
use crate::user::{Sanitize, User};

/// The user's flags in Redis's order (`on`, `off`, `nopass`, `skip-sanitize-payload`,
/// `sanitize-payload`).
pub fn flags(user: &User) -> Vec<&'static str> {
    let mut out = vec![if user.enabled { "on" } else { "off" }];
    if user.nopass {
        out.push("nopass");
    }
    match user.sanitize {
        Sanitize::Skip => out.push("skip-sanitize-payload"),
        Sanitize::Sanitize => out.push("sanitize-payload"),
        Sanitize::Unset => {}
    }
    out
}

/// The whole user, as ACL LIST and the ACL file show it (without `user <name> `).
pub fn describe_user(catalog: &Catalog, user: &User) -> Vec<u8> {
    let mut out = Vec::new();
    for flag in flags(user) {
        out.extend_from_slice(flag.as_bytes());
        out.push(b' ');
    }
    for hash in &user.passwords {
        out.push(b'#');
        out.extend_from_slice(hash.as_bytes());
        out.push(b' ');
    }
    for selector in &user.selectors {
        let text = describe_selector(catalog, selector);
        if selector.root {
            out.extend_from_slice(&text);
        } else {
            out.extend_from_slice(b" (");
            out.extend_from_slice(&text);
            out.push(b')');
        }
    }
    out
}

/// Keys, channels, then command rules (`ACLDescribeSelector`).
pub fn describe_selector(catalog: &Catalog, selector: &Selector) -> Vec<u8> {
    let mut out = Vec::new();
    if selector.allkeys {
        out.extend_from_slice(b"~* ");
    } else {
        for pattern in &selector.keys {
            pattern.describe(&mut out);
            out.push(b' ');
        }
    }
    if selector.allchannels {
        out.extend_from_slice(b"&* ");
    } else {
        out.extend_from_slice(b"resetchannels ");
        for channel in &selector.channels {
            out.push(b'&');
            out.extend_from_slice(channel);
            out.push(b' ');
        }
    }
    out.extend_from_slice(describe_commands(catalog, selector).as_bytes());
    out
}

/// ACL GETUSER's `keys` field: the patterns separated by spaces, or `~*`.
pub fn describe_keys(selector: &Selector) -> Vec<u8> {
    if selector.allkeys {
        return b"~*".to_vec();
    }
    let mut out = Vec::new();
    for (i, pattern) in selector.keys.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        pattern.describe(&mut out);
    }
    out
}

/// ACL GETUSER's `channels` field: `&p` separated by spaces, or `&*`.
pub fn describe_channels(selector: &Selector) -> Vec<u8> {
    if selector.allchannels {
        return b"&*".to_vec();
    }
    let mut out = Vec::new();
    for (i, channel) in selector.channels.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.push(b'&');
        out.extend_from_slice(channel);
    }
    out
}

/// The command rules that rebuild the selector's bitmap: `+@all` or `-@all`, then the
/// categories that fit best, then single commands and first arguments for what remains.
pub fn describe_commands(catalog: &Catalog, selector: &Selector) -> String {
    let mut rules = String::new();
    let additive = !selector.future;
    // Rules are applied to `fake` as they are written, so each step knows what still
    // differs; `temp` loses each category once applied, so it is not counted twice.
    let mut fake = Selector::new(catalog, false, false);
    if additive {
        rules.push_str("-@all ");
    } else {
        rules.push_str("+@all ");
        fake.set_all(true);
    }
    let mut temp = selector.clone();
    let mut applied = [false; CATEGORIES.len()];
    loop {
        let mut best = None;
        let (mut min_diff, mut max_same) = (usize::MAX, 0);
        for (j, _) in CATEGORIES.iter().enumerate() {
            if applied[j] {
                continue;
            }
            let (on, off) = temp.count_category(catalog, 1 << j);
            let (diff, same) = if additive { (off, on) } else { (on, off) };
            if same > diff && (diff < min_diff || (diff == min_diff && same > max_same)) {
                best = Some(j);
                min_diff = diff;
                max_same = same;
            }
        }
        let Some(j) = best else { break };
        fake.change_category(catalog, 1 << j, additive);
        temp.change_category(catalog, 1 << j, !additive);
        rules.push(if additive { '+' } else { '-' });
        rules.push('@');
        rules.push_str(CATEGORIES[j]);
        rules.push(' ');
        applied[j] = true;
    }
    for id in catalog.walk() {
        let user_bit = selector.allows_command_bit(id);
        if user_bit != fake.allows_command_bit(id) {
            rules.push(if user_bit { '+' } else { '-' });
            rules.push_str(&catalog.get(id).name);
            rules.push(' ');
            fake.change(catalog, id, user_bit);
        }
        if !user_bit {
            for arg in selector.firstargs(id) {
                rules.push('+');
                rules.push_str(&catalog.get(id).name);
                rules.push('|');
                rules.push_str(&String::from_utf8_lossy(arg));
                rules.push(' ');
            }
        }
    }
    rules.pop();
    debug_assert!(
        fake.same_bits(selector),
        "described rules rebuild the bitmap"
    );
    rules
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::catalog::CommandInfo;
    use crate::user::Options;

    /// A small table with containers, shared categories and a command in none.
    fn catalog() -> Catalog {
        let c = |name: &str, cats: &[&str]| CommandInfo::new(name, cats, false);
        Catalog::new(vec![
            c("get", &["@read", "@string", "@fast"]),
            c("set", &["@write", "@string", "@slow"]),
            c("del", &["@write", "@keyspace", "@slow"]),
            c("hget", &["@read", "@hash", "@fast"]),
            c("hset", &["@write", "@hash", "@fast"]),
            c("config", &["@slow"]),
            c("config|get", &["@admin", "@slow", "@dangerous"]),
            c("config|set", &["@admin", "@slow", "@dangerous"]),
            c("flushall", &["@keyspace", "@write", "@slow", "@dangerous"]),
            c("select", &["@fast", "@connection"]),
            c("ping", &["@fast", "@connection"]),
            c("lonely", &[]),
        ])
    }

    fn rule() -> impl Strategy<Value = String> {
        let names = [
            "get",
            "set",
            "del",
            "hget",
            "hset",
            "config",
            "config|get",
            "config|set",
            "flushall",
            "select",
            "ping",
            "lonely",
        ];
        prop_oneof![
            (any::<bool>(), 0..names.len()).prop_map(move |(allow, i)| format!(
                "{}{}",
                if allow { '+' } else { '-' },
                names[i]
            )),
            (any::<bool>(), 0..CATEGORIES.len()).prop_map(|(allow, i)| format!(
                "{}@{}",
                if allow { '+' } else { '-' },
                CATEGORIES[i]
            )),
            Just("+@all".to_string()),
            Just("-@all".to_string()),
            Just("+select|0".to_string()),
            Just("+get|x".to_string()),
        ]
    }

    proptest! {
        /// What ACL GETUSER shows, applied to a new user, gives that user the same
        /// permissions (and the same description).
        #[test]
        fn described_rules_rebuild_the_same_permissions(rules in proptest::collection::vec(rule(), 0..12)) {
            let catalog = catalog();
            let options = Options::default();
            let mut user = User::new(&catalog, b"u", options);
            for r in &rules {
                user.apply(&catalog, r.as_bytes(), options).unwrap();
            }
            let described = describe_commands(&catalog, user.root());
            let mut copy = User::new(&catalog, b"c", options);
            for r in described.split(' ') {
                copy.apply(&catalog, r.as_bytes(), options).unwrap();
            }
            prop_assert!(copy.root().same_bits(user.root()), "{rules:?} -> {described}");
            prop_assert_eq!(describe_commands(&catalog, copy.root()), described);
        }
    }

    #[test]
    fn default_user_and_selectors_describe_as_redis() {
        let catalog = catalog();
        let options = Options::default();
        let user = User::new_default(&catalog, options);
        assert_eq!(describe_user(&catalog, &user), b"on nopass ~* &* +@all");
        let mut u = User::new(&catalog, b"u", options);
        for r in ["on", ">pw", "%R~r:*", "&ch", "+@hash", "-hset", "(~x +get)"] {
            u.apply(&catalog, r.as_bytes(), options).unwrap();
        }
        assert_eq!(
            String::from_utf8(describe_user(&catalog, &u)).unwrap(),
            format!(
                "on #{} %R~r:* resetchannels &ch -@all +hget (~x resetchannels -@all +get)",
                crate::hash_password(b"pw")
            )
        );
    }
}
