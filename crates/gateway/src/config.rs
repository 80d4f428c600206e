//! Route rules (`--config gateway.toml`): per path prefix, the TTL where responses say
//! none, bypass, stale windows, and the request headers that are part of the cache key.
//!
//! ```toml
//! [[route]]
//! prefix = "/api/me"
//! key_headers = ["Authorization"]   # each user gets their own entry
//! ttl = 30
//!
//! [[route]]
//! prefix = "/api/admin"
//! bypass = true
//! ```

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub prefix: String,
    /// Seconds a response without `max-age`/`s-maxage` stays fresh (else the default TTL).
    pub ttl: Option<u64>,
    /// Never cache under this prefix.
    #[serde(default)]
    pub bypass: bool,
    /// Request headers whose values are part of the key. `Authorization` here lets
    /// per-user responses be cached, each under its own key (requests with credentials
    /// are otherwise passed through uncached).
    #[serde(default)]
    pub key_headers: Vec<String>,
    pub stale_while_revalidate: Option<u64>,
    pub stale_if_error: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Routes {
    #[serde(default, rename = "route")]
    pub routes: Vec<Route>,
}

impl Routes {
    pub fn parse(text: &str) -> Result<Routes, String> {
        let mut r: Routes = toml::from_str(text).map_err(|e| e.to_string())?;
        for route in &mut r.routes {
            if !route.prefix.starts_with('/') {
                return Err(format!("route prefix '{}' must start with /", route.prefix));
            }
            for h in &mut route.key_headers {
                *h = h.to_ascii_lowercase();
            }
        }
        // Longest prefix first: the most specific rule wins.
        r.routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Ok(r)
    }

    /// The rule for `path` (the longest matching prefix), if any.
    pub fn for_path(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| path.starts_with(&r.prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_bad_files_are_refused() {
        let r = Routes::parse(
            "[[route]]\nprefix = \"/api\"\nttl = 10\n[[route]]\nprefix = \"/api/me\"\nkey_headers = [\"Authorization\"]\n",
        )
        .unwrap();
        assert_eq!(
            r.for_path("/api/me/x").unwrap().key_headers,
            vec!["authorization"]
        );
        assert_eq!(r.for_path("/api/users").unwrap().ttl, Some(10));
        assert!(r.for_path("/other").is_none());
        assert!(Routes::parse("[[route]]\nprefix = \"api\"\n").is_err());
        assert!(Routes::parse("[[route]]\nprefix = \"/a\"\nunknown = 1\n").is_err());
    }
}
