//! Redis 7.0's access control lists, without I/O: users with passwords and selectors
//! ([`User`], [`Selector`]), the rules that build them (`ACL SETUSER` text), the check a
//! command passes before it runs ([`User::check`]), and the description ACL LIST, ACL
//! GETUSER and the ACL file show ([`describe`]).
//!
//! The node keeps the users and the log; commands and their categories come from its
//! command table through a [`Catalog`].

pub mod catalog;
pub mod describe;
pub mod error;
pub mod file;
#[rustfmt::skip]
pub mod redis7;
pub mod selector;
pub mod user;

pub use catalog::{Catalog, ChannelArgs, CommandInfo, CATEGORIES};
pub use error::RuleError;
pub use selector::{Denied, Invocation, KeyPattern, Selector, KEY_ALL, KEY_READ, KEY_WRITE};
pub use user::{hash_password, merge_selector_args, Options, Sanitize, User};

/// Usernames, key and channel patterns may not contain spaces or NUL (`ACLStringHasSpaces`).
pub fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|&c| c == 0 || c.is_ascii_whitespace() || c == 0x0b)
}
