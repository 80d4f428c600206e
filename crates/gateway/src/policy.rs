//! HTTP caching rules (RFC 9111, for a shared cache): what a request may be answered from,
//! what a response may be stored as, and for how long. Pure.

/// `Cache-Control` directives the gateway acts on.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Directives {
    pub no_store: bool,
    pub no_cache: bool,
    pub private: bool,
    pub max_age: Option<u64>,
    pub s_maxage: Option<u64>,
    pub stale_while_revalidate: Option<u64>,
    pub stale_if_error: Option<u64>,
}

/// Parses every `Cache-Control` value given (directives are case-insensitive; unknown
/// ones are ignored; a malformed number ignores that directive).
pub fn cache_control<'a>(values: impl Iterator<Item = &'a str>) -> Directives {
    let mut d = Directives::default();
    for value in values {
        for part in value.split(',') {
            let part = part.trim();
            let (name, arg) = match part.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                None => (part, None),
            };
            let secs = || arg.and_then(|a| a.parse::<u64>().ok());
            match name.to_ascii_lowercase().as_str() {
                "no-store" => d.no_store = true,
                "no-cache" => d.no_cache = true,
                "private" => d.private = true,
                "max-age" => d.max_age = secs().or(d.max_age),
                "s-maxage" => d.s_maxage = secs().or(d.s_maxage),
                "stale-while-revalidate" => {
                    d.stale_while_revalidate = secs().or(d.stale_while_revalidate)
                }
                "stale-if-error" => d.stale_if_error = secs().or(d.stale_if_error),
                _ => {}
            }
        }
    }
    d
}

/// How to serve a GET or HEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestMode {
    /// From the cache when fresh, else from the upstream (stored if it may be).
    Lookup,
    /// From the upstream, and the cache updated with it (request `no-cache`): BYPASS.
    Refresh,
    /// From the upstream, nothing stored (request `no-store`, a bypass route, credentials
    /// the route does not key on): BYPASS.
    Pass,
}

pub fn request_mode(
    request: &Directives,
    pragma_no_cache: bool,
    bypass_route: bool,
    unkeyed_credentials: bool,
) -> RequestMode {
    if bypass_route || request.no_store || unkeyed_credentials {
        RequestMode::Pass
    } else if request.no_cache || pragma_no_cache || request.max_age == Some(0) {
        RequestMode::Refresh
    } else {
        RequestMode::Lookup
    }
}

/// How long a response stays fresh, and the stale windows after it (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    pub ttl_ms: u64,
    pub stale_while_revalidate_ms: u64,
    pub stale_if_error_ms: u64,
}

/// Statuses a shared cache may store without explicit freshness (RFC 9110 15.1's
/// "heuristically cacheable"), which are also the ones stored here with one.
pub fn cacheable_status(status: u16) -> bool {
    matches!(
        status,
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// Defaults that apply where the response says nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Defaults {
    /// Seconds (`CACHE_DEFAULT_TTL`, or the route's `ttl`).
    pub ttl: u64,
    pub stale_while_revalidate: u64,
    pub stale_if_error: u64,
}

/// Whether and for how long a response may be stored. Not stored: uncacheable status,
/// `no-store`, `private`, `no-cache` (it would need revalidation on every use), a
/// `Set-Cookie` (one user's session must not be served to another), a zero lifetime.
pub fn freshness(
    status: u16,
    response: &Directives,
    sets_cookie: bool,
    defaults: Defaults,
) -> Option<Freshness> {
    if !cacheable_status(status)
        || response.no_store
        || response.private
        || response.no_cache
        || sets_cookie
    {
        return None;
    }
    let ttl = response
        .s_maxage
        .or(response.max_age)
        .unwrap_or(defaults.ttl);
    if ttl == 0 {
        return None;
    }
    Some(Freshness {
        ttl_ms: ttl.saturating_mul(1000),
        stale_while_revalidate_ms: response
            .stale_while_revalidate
            .unwrap_or(defaults.stale_while_revalidate)
            .saturating_mul(1000),
        stale_if_error_ms: response
            .stale_if_error
            .unwrap_or(defaults.stale_if_error)
            .saturating_mul(1000),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_parse_case_insensitively() {
        let d = cache_control(
            [
                "public, Max-Age=60",
                "s-maxage=\"120\", stale-while-revalidate=30, bogus",
            ]
            .into_iter(),
        );
        assert_eq!(d.max_age, Some(60));
        assert_eq!(d.s_maxage, Some(120));
        assert_eq!(d.stale_while_revalidate, Some(30));
        assert!(!d.no_store);
        let d = cache_control(["no-store, max-age=abc"].into_iter());
        assert!(d.no_store && d.max_age.is_none());
    }

    #[test]
    fn what_is_stored_and_for_how_long() {
        let defaults = Defaults {
            ttl: 300,
            ..Defaults::default()
        };
        let none = Directives::default();
        assert_eq!(
            freshness(200, &none, false, defaults).unwrap().ttl_ms,
            300_000
        );
        let cc = cache_control(["max-age=10, s-maxage=20, stale-if-error=5"].into_iter());
        let f = freshness(200, &cc, false, defaults).unwrap();
        assert_eq!((f.ttl_ms, f.stale_if_error_ms), (20_000, 5_000));
        for never in ["no-store", "private", "no-cache", "max-age=0"] {
            assert!(
                freshness(200, &cache_control([never].into_iter()), false, defaults).is_none(),
                "{never}"
            );
        }
        assert!(
            freshness(200, &none, true, defaults).is_none(),
            "Set-Cookie"
        );
        assert!(freshness(500, &none, false, defaults).is_none());
        assert!(freshness(302, &none, false, defaults).is_none());
        assert!(freshness(404, &none, false, defaults).is_some());
        assert!(
            freshness(200, &none, false, Defaults::default()).is_none(),
            "no TTL at all"
        );
    }

    #[test]
    fn request_modes() {
        let none = Directives::default();
        assert_eq!(
            request_mode(&none, false, false, false),
            RequestMode::Lookup
        );
        assert_eq!(
            request_mode(
                &cache_control(["no-cache"].into_iter()),
                false,
                false,
                false
            ),
            RequestMode::Refresh
        );
        assert_eq!(
            request_mode(&none, true, false, false),
            RequestMode::Refresh
        );
        assert_eq!(
            request_mode(
                &cache_control(["no-store"].into_iter()),
                false,
                false,
                false
            ),
            RequestMode::Pass
        );
        assert_eq!(request_mode(&none, false, true, false), RequestMode::Pass);
        assert_eq!(request_mode(&none, false, false, true), RequestMode::Pass);
    }
}
