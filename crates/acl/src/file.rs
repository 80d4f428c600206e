//! The ACL file (`aclfile`): one `user <name> <rules...>` per line, loaded all or nothing
//! (`ACLLoadFromFile`) and written back from the users' descriptions (`ACLSaveToFile`).

use crate::catalog::Catalog;
use crate::describe::describe_user;
use crate::error::RuleError;
use crate::user::{merge_selector_args, Options, User};

/// Parses the whole file. Every problem is collected into one line, in Redis's words;
/// with any problem nothing is loaded. Without a `default` line the default user is the
/// stock one.
pub fn load(
    text: &[u8],
    filename: &str,
    catalog: &Catalog,
    options: Options,
) -> Result<Vec<User>, String> {
    let mut users: Vec<User> = Vec::new();
    let mut errors = String::new();
    for (i, line) in text.split(|&c| c == b'\n').enumerate() {
        let linenum = i + 1;
        let line = trim(line, b" \t\r\n");
        if line.is_empty() {
            continue;
        }
        let argv: Vec<&[u8]> = line.split(|&c| c == b' ').collect();
        if argv[0] != b"user" || argv.len() < 2 {
            errors.push_str(&format!(
                "{filename}:{linenum} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = argv[1];
        if crate::has_spaces(name) {
            errors.push_str(&format!(
                "'{filename}:{linenum}: username '{}' contains invalid characters. ",
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        if users.iter().any(|u| u.name == name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {linenum}. ",
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        let mut user = User::new(catalog, name, options);
        let rules = match merge_selector_args(&argv[2..]) {
            Ok(rules) => rules,
            Err(_) => {
                errors.push_str(&format!(
                    "{filename}:{linenum}: Unmatched parenthesis in selector definition."
                ));
                Vec::new()
            }
        };
        // An unknown command is named; other errors only once per line and without the rule,
        // which may hold a password (as Redis reports them).
        let mut reported = false;
        for rule in &rules {
            let rule = trim(rule, b"\t\r\n");
            match user.apply(catalog, rule, options) {
                Ok(()) => {}
                Err(e @ RuleError::UnknownCommand) => errors.push_str(&format!(
                    "{filename}:{linenum}: Error in applying operation '{}': {e}. ",
                    String::from_utf8_lossy(rule)
                )),
                Err(e) if !reported => {
                    errors.push_str(&format!("{filename}:{linenum}: {e}. "));
                    reported = true;
                }
                Err(_) => {}
            }
        }
        users.push(user);
    }
    if !errors.is_empty() {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        return Err(errors);
    }
    if !users.iter().any(|u| u.name == b"default") {
        users.push(User::new_default(catalog, options));
    }
    Ok(users)
}

/// The file's text for these users (sorted by name, as Redis's radix tree walks them).
pub fn save<'u>(users: impl IntoIterator<Item = &'u User>, catalog: &Catalog) -> Vec<u8> {
    let mut out = Vec::new();
    for user in users {
        out.extend_from_slice(b"user ");
        out.extend_from_slice(&user.name);
        out.push(b' ');
        out.extend_from_slice(&describe_user(catalog, user));
        out.push(b'\n');
    }
    out
}

fn trim<'a>(s: &'a [u8], set: &[u8]) -> &'a [u8] {
    let start = s.iter().position(|c| !set.contains(c)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|c| !set.contains(c))
        .map_or(start, |e| e + 1);
    &s[start..end]
}
