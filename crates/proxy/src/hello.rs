//! Connection commands the proxy answers itself in both modes (pools and cluster): HELLO (the
//! arguments parsed as Redis 7 parses them, and the server map the reply carries), CLIENT's
//! subcommands, and AUTH's password check.

use resp::Frame;

/// What a HELLO asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct Hello<'a> {
    /// The protocol to switch to (the current one when none is given).
    pub protocol: u8,
    /// `AUTH username password`.
    pub credentials: Option<(&'a [u8], &'a [u8])>,
    /// `SETNAME clientname`.
    pub name: Option<&'a [u8]>,
}

/// Parses `HELLO [protover [AUTH username password] [SETNAME clientname]]`; the error is
/// Redis's text (without the leading `-`).
pub fn parse<'a>(argv: &[&'a [u8]], current: u8) -> Result<Hello<'a>, String> {
    let mut hello = Hello {
        protocol: current,
        credentials: None,
        name: None,
    };
    let mut j = 1;
    if let Some(v) = argv.get(1) {
        match std::str::from_utf8(v)
            .ok()
            .and_then(|v| v.parse::<i64>().ok())
        {
            None => return Err("ERR Protocol version is not an integer or out of range".into()),
            Some(v @ 2..=3) => hello.protocol = v as u8,
            Some(_) => return Err("NOPROTO unsupported protocol version".into()),
        }
        j = 2;
    }
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if argv[j].eq_ignore_ascii_case(b"auth") && more >= 2 {
            hello.credentials = Some((argv[j + 1], argv[j + 2]));
            j += 3;
        } else if argv[j].eq_ignore_ascii_case(b"setname") && more >= 1 {
            if argv[j + 1].iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
                return Err(
                    "ERR Client names cannot contain spaces, newlines or special characters."
                        .into(),
                );
            }
            hello.name = Some(argv[j + 1]);
            j += 2;
        } else {
            return Err(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(argv[j])
            ));
        }
    }
    Ok(hello)
}

/// Redis's error for a HELLO on a connection not authenticated yet.
pub const NOAUTH: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";

/// The reply: the proxy's identity as a map.
pub fn reply(protocol: u8, client_id: u64) -> Frame {
    let field = |k: &str| Frame::Bulk(k.as_bytes().to_vec());
    Frame::Map(vec![
        (field("server"), field("shardcache-proxy")),
        (field("version"), field(env!("CARGO_PKG_VERSION"))),
        (field("proto"), Frame::Integer(i64::from(protocol))),
        (field("id"), Frame::Integer(client_id as i64)),
        (field("mode"), field("proxy")),
        (field("role"), field("master")),
        (field("modules"), Frame::Array(vec![])),
    ])
}

/// Redis's reply to credentials that do not match.
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// HELLO on a connection (both proxy modes) whose user is `user` (`None`: not
/// authenticated), named `name`, speaking `protocol`: authenticates with the given
/// credentials, then names the connection and switches its protocol. Answers the reply, or
/// Redis's error text (nothing changed but a successful AUTH part).
pub fn hello(
    users: &crate::users::Users,
    argv: &[&[u8]],
    client_id: u64,
    user: &mut Option<crate::users::UserId>,
    name: &mut Option<Vec<u8>>,
    protocol: &mut u8,
) -> Result<Frame, String> {
    let hello = parse(argv, *protocol)?;
    if let Some((username, password)) = hello.credentials {
        match users.authenticate(username, password) {
            Some(id) => *user = Some(id),
            None => {
                auth_failed(client_id);
                return Err(WRONGPASS.into());
            }
        }
    }
    if user.is_none() {
        return Err(NOAUTH.into());
    }
    if let Some(n) = hello.name {
        *name = Some(n.to_vec());
    }
    *protocol = hello.protocol;
    Ok(reply(hello.protocol, client_id))
}

fn auth_failed(client_id: u64) {
    tracing::warn!(client = client_id, "proxy client authentication failed");
}

/// AUTH [username] password: the user it opens, or Redis's error reply text (a failure is
/// logged). The check is the user's ([`crate::users::Users::authenticate`]: hashed,
/// compared in constant time).
pub fn auth(
    users: &crate::users::Users,
    argv: &[&[u8]],
    client_id: u64,
) -> Result<crate::users::UserId, String> {
    if !(2..=3).contains(&argv.len()) {
        return Err("ERR wrong number of arguments for 'auth' command".into());
    }
    if argv.len() == 2 && users.open() {
        return Err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?".into());
    }
    let user: &[u8] = if argv.len() == 3 { argv[1] } else { b"default" };
    users
        .authenticate(user, argv[argv.len() - 1])
        .ok_or_else(|| {
            auth_failed(client_id);
            WRONGPASS.to_string()
        })
}

/// ACL WHOAMI for a client authenticated as `user` (`None`: not yet); the rest of ACL is
/// refused with the reason (the proxy's users are given with `--user`).
pub fn acl(
    users: &crate::users::Users,
    user: Option<crate::users::UserId>,
    argv: &[&[u8]],
) -> Frame {
    let sub = argv
        .get(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .unwrap_or_default();
    match (sub.as_str(), argv.len(), user) {
        ("whoami", 2, Some(id)) => Frame::Bulk(users.name(id).into_bytes()),
        ("whoami", _, _) | ("", _, _) => Frame::Error(format!(
            "ERR wrong number of arguments for 'acl{}' command",
            if sub.is_empty() {
                String::new()
            } else {
                format!("|{sub}")
            }
        )),
        _ => Frame::Error(format!(
            "ERR ACL {} is not supported by the proxy: its users are given with --user",
            sub.to_ascii_uppercase()
        )),
    }
}

/// CLIENT SETNAME / GETNAME / SETINFO / ID, for a client named `name` with id `id`; any
/// other subcommand is refused with the reason.
pub fn client(argv: &[&[u8]], name: &mut Option<Vec<u8>>, id: u64) -> Frame {
    let sub = argv
        .get(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .unwrap_or_default();
    match (sub.as_str(), argv.len()) {
        ("setname", 3) => {
            *name = Some(argv[2].to_vec());
            Frame::Simple("OK".into())
        }
        ("setinfo", 4) => Frame::Simple("OK".into()),
        ("getname", 2) => name.clone().map_or(Frame::Null, Frame::Bulk),
        ("id", 2) => Frame::Integer(id as i64),
        _ => Frame::Error(format!(
            "ERR CLIENT {} is not supported by the proxy",
            sub.to_ascii_uppercase()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse_as_redis_parses_them() {
        let h = parse(&[b"HELLO", b"3", b"AUTH", b"u", b"p", b"SETNAME", b"x"], 2).unwrap();
        assert_eq!(h.protocol, 3);
        assert_eq!(h.credentials, Some((&b"u"[..], &b"p"[..])));
        assert_eq!(h.name, Some(&b"x"[..]));
        assert_eq!(parse(&[b"HELLO"], 2).unwrap().protocol, 2);
        assert!(parse(&[b"HELLO", b"4"], 2)
            .unwrap_err()
            .starts_with("NOPROTO"));
        assert!(parse(&[b"HELLO", b"x"], 2)
            .unwrap_err()
            .contains("not an integer"));
        assert!(parse(&[b"HELLO", b"3", b"AUTH", b"u"], 2)
            .unwrap_err()
            .contains("Syntax"));
        assert!(parse(&[b"HELLO", b"3", b"SETNAME", b"a b"], 2)
            .unwrap_err()
            .contains("names"));
    }

    #[test]
    fn client_subcommands() {
        let mut name = None;
        assert_eq!(client(&[b"CLIENT", b"GETNAME"], &mut name, 7), Frame::Null);
        assert_eq!(
            client(&[b"CLIENT", b"SETNAME", b"x"], &mut name, 7),
            Frame::Simple("OK".into())
        );
        assert_eq!(
            client(&[b"client", b"getname"], &mut name, 7),
            Frame::Bulk(b"x".to_vec())
        );
        assert_eq!(client(&[b"CLIENT", b"ID"], &mut name, 7), Frame::Integer(7));
        assert!(
            matches!(client(&[b"CLIENT", b"KILL"], &mut name, 7), Frame::Error(e) if e.contains("KILL"))
        );
    }

    #[test]
    fn auth_and_acl_answer_as_redis() {
        use crate::users::Users;
        let auth_for_test = |users: &Users, argv: &[&[u8]]| auth(users, argv, 1);
        let open = Users::new(None, &["app on >pw ~* +@all".into()]).unwrap();
        assert!(auth_for_test(&open, &[b"AUTH", b"x"])
            .unwrap_err()
            .starts_with("ERR AUTH <password> called without any password configured"));
        let app = auth_for_test(&open, &[b"AUTH", b"app", b"pw"]).unwrap();
        assert_eq!(
            auth_for_test(&open, &[b"AUTH", b"app", b"no"]).unwrap_err(),
            WRONGPASS
        );
        assert_eq!(
            auth_for_test(&open, &[b"AUTH", b"nobody", b"pw"]).unwrap_err(),
            WRONGPASS
        );
        assert!(auth_for_test(&open, &[b"AUTH"])
            .unwrap_err()
            .contains("wrong number of arguments"));
        let locked = Users::new(Some("s3"), &[]).unwrap();
        assert_eq!(
            auth_for_test(&locked, &[b"AUTH", b"s3"]),
            Ok(crate::users::DEFAULT)
        );
        assert_eq!(
            acl(&open, Some(app), &[b"ACL", b"WHOAMI"]),
            Frame::Bulk(b"app".to_vec())
        );
        assert!(
            matches!(acl(&open, Some(app), &[b"ACL", b"SETUSER", b"x"]), Frame::Error(e) if e.contains("--user"))
        );
    }
}
