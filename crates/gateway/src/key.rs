//! Cache keys. A response is stored under `gw:<METHOD> <path?query>` plus, for the route's
//! key headers, a digest of each value (credentials never appear in a key). A response that
//! varies (`Vary`) leaves a marker there naming the headers, and is stored under the key
//! plus a digest of those headers' values in this request.

use sha2::{Digest, Sha256};

/// Every key the gateway writes starts with this.
pub const PREFIX: &str = "gw:";

fn digest(value: &[u8]) -> String {
    let d = Sha256::digest(value);
    d[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// The key for a request (GET and HEAD share GET's).
pub fn primary(path_and_query: &str, key_headers: &[(String, Option<Vec<u8>>)]) -> String {
    let mut key = format!("{PREFIX}GET {path_and_query}");
    for (name, value) in key_headers {
        key.push('|');
        key.push_str(name);
        key.push('=');
        match value {
            Some(v) => key.push_str(&digest(v)),
            None => key.push('-'),
        }
    }
    key
}

/// The key of the variant this request selects, for a response that varies by `names`.
pub fn variant(primary: &str, values: &[(String, Option<Vec<u8>>)]) -> String {
    let mut joined = Vec::new();
    for (name, value) in values {
        joined.extend_from_slice(name.as_bytes());
        joined.push(0);
        if let Some(v) = value {
            joined.extend_from_slice(v);
        }
        joined.push(0);
    }
    format!("{primary}#{}", digest(&joined))
}

/// The glob that matches the keys of URLs matching `url_pattern` (a glob on
/// `path?query`), with their variants and key headers.
pub fn clear_glob(url_pattern: &str) -> String {
    format!("{PREFIX}GET {url_pattern}*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_users_and_variants_without_showing_credentials() {
        let a = primary(
            "/me",
            &[("authorization".into(), Some(b"Bearer alice".to_vec()))],
        );
        let b = primary(
            "/me",
            &[("authorization".into(), Some(b"Bearer bob".to_vec()))],
        );
        assert_ne!(a, b);
        assert!(!a.contains("alice"));
        assert!(a.starts_with("gw:GET /me|authorization="));
        let fr = variant(&a, &[("accept-language".into(), Some(b"fr".to_vec()))]);
        let en = variant(&a, &[("accept-language".into(), Some(b"en".to_vec()))]);
        let none = variant(&a, &[("accept-language".into(), None)]);
        assert!(fr != en && en != none);
        assert_eq!(primary("/x?a=1", &[]), "gw:GET /x?a=1");
    }
}
