//! Which arguments of a command are secrets that SLOWLOG and MONITOR must not show: they
//! appear as `(redacted)`, at the places Redis 7.0's commands call
//! `redactClientCommandArgument` (AUTH, HELLO's AUTH, MIGRATE's AUTH/AUTH2, ACL SETUSER,
//! CONFIG SET of a sensitive parameter).
use resp::Args;

/// The parameters whose CONFIG SET value is a secret (Redis's SENSITIVE_CONFIG).
const SENSITIVE_PARAMETERS: &[&str] = &["masteruser", "masterauth", "requirepass"];

/// Positions (in `args`, the command name at 0) of the arguments to hide.
pub fn positions(args: Args<'_>) -> Vec<usize> {
    let is =
        |i: usize, word: &str| i < args.len() && args.get(i).eq_ignore_ascii_case(word.as_bytes());
    let n = args.len();
    if is(0, "auth") {
        return (1..n.min(3)).collect();
    }
    if is(0, "hello") {
        return (2..n)
            .find(|&i| is(i, "auth"))
            .map(|i| (i + 1..(i + 3).min(n)).collect())
            .unwrap_or_default();
    }
    if is(0, "migrate") {
        let mut out = Vec::new();
        let mut j = 6;
        while j < n {
            if is(j, "auth") && j + 1 < n {
                out.push(j + 1);
                j += 1;
            } else if is(j, "auth2") && j + 2 < n {
                out.extend([j + 1, j + 2]);
                j += 2;
            } else if is(j, "keys") {
                break;
            }
            j += 1;
        }
        return out;
    }
    if is(0, "acl") && is(1, "setuser") && n >= 3 {
        return (2..n).collect();
    }
    if is(0, "config") && is(1, "set") {
        return (2..n)
            .step_by(2)
            .filter(|&i| i + 1 < n && SENSITIVE_PARAMETERS.iter().any(|p| is(i, p)))
            .map(|i| i + 1)
            .collect();
    }
    Vec::new()
}
