//! Route table: maps a request's host and path to a script name, with
//! Workers-style patterns such as `example.com/api/*`, `*.example.com/*` or
//! `*/*`. The table is immutable; a deploy swaps in a new one (arc-swap), so
//! lookups on the hot path take no lock. Routes are indexed by host, so a
//! lookup looks only at the routes of the request's host and its parent
//! domains, however many tenants the table holds.

use serde::{Deserialize, Serialize};

/// One route as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Pattern: `host/path`, where host may be `*` or start with `*.`, and
    /// path may end with `*` (prefix match); otherwise it must match exactly.
    pub pattern: String,
    /// Script that serves matching requests.
    pub script: String,
}

#[derive(Debug, Clone)]
enum HostMatch {
    Any,
    Exact(String),
    Suffix(String),
}

#[derive(Debug, Clone)]
struct CompiledRoute {
    host: HostMatch,
    path: String,
    prefix: bool,
    script: String,
}

/// Routes compiled for matching, most specific first.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<CompiledRoute>,
    /// Positions in `routes` (in order) of the routes of each exact host.
    exact: HostIndex,
    /// Positions of the `*.domain` routes, by `domain`.
    suffix: HostIndex,
    /// Positions of the `*` routes.
    any: Vec<usize>,
}

type HostIndex = rustc_hash::FxHashMap<Box<str>, Vec<usize>>;

/// Longest host name a lookup lower-cases on the stack (DNS allows 253).
const MAX_HOST: usize = 256;

/// Why a route pattern was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid route pattern {pattern:?}: {reason}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl RouteTable {
    /// Compiles `routes`; more specific patterns win regardless of order.
    pub fn new(routes: &[Route]) -> Result<RouteTable, PatternError> {
        let mut compiled = routes.iter().map(compile).collect::<Result<Vec<_>, _>>()?;
        // Exact hosts before wildcard hosts, then longer paths first, exact
        // paths before prefixes of the same length.
        compiled.sort_by(|a, b| {
            host_rank(&b.host)
                .cmp(&host_rank(&a.host))
                .then(b.path.len().cmp(&a.path.len()))
                .then(a.prefix.cmp(&b.prefix))
        });
        let mut table = RouteTable {
            routes: compiled,
            ..RouteTable::default()
        };
        for (i, route) in table.routes.iter().enumerate() {
            match &route.host {
                HostMatch::Any => table.any.push(i),
                HostMatch::Exact(h) => table.exact.entry(h.as_str().into()).or_default().push(i),
                HostMatch::Suffix(s) => table.suffix.entry(s[1..].into()).or_default().push(i),
            }
        }
        Ok(table)
    }

    /// The script for `host` (without port) and `path`, if any route matches.
    pub fn find(&self, host: &str, path: &str) -> Option<&str> {
        self.find_index(host, path).map(|i| self.routes[i].script.as_str())
    }

    /// Like [`RouteTable::find`], as the position of the route in
    /// [`RouteTable::scripts`].
    pub fn find_index(&self, host: &str, path: &str) -> Option<usize> {
        let mut buf = [0u8; MAX_HOST];
        let host = match lower_ascii(host, &mut buf) {
            Some(h) => h,
            // Longer than any DNS name: no index, the rules one by one.
            None => return self.scan(host, path),
        };
        let first_match = |positions: Option<&Vec<usize>>| {
            positions?
                .iter()
                .copied()
                .find(|&i| path_matches(&self.routes[i], path))
        };
        if let Some(i) = first_match(self.exact.get(host)) {
            return Some(i);
        }
        // `*.example.com` covers example.com and every name under it; the
        // longest domain wins, as in the table's order.
        let mut domain = host;
        while !self.suffix.is_empty() {
            if let Some(i) = first_match(self.suffix.get(domain)) {
                return Some(i);
            }
            // A byte search: `split_once('.')` goes through the UTF-8 char
            // searcher, a visible cost on every request.
            match domain.bytes().position(|b| b == b'.') {
                Some(dot) => domain = &domain[dot + 1..],
                None => break,
            }
        }
        first_match(Some(&self.any))
    }

    /// The first route in order that matches: what the index answers.
    fn scan(&self, host: &str, path: &str) -> Option<usize> {
        self.routes
            .iter()
            .position(|r| host_matches(&r.host, host) && path_matches(r, path))
    }

    /// The script name of each route, in matching order.
    pub fn scripts(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|r| r.script.as_str())
    }

    /// Whether the table has no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

fn host_rank(h: &HostMatch) -> (u8, usize) {
    match h {
        HostMatch::Exact(s) => (2, s.len()),
        HostMatch::Suffix(s) => (1, s.len()),
        HostMatch::Any => (0, 0),
    }
}

fn compile(route: &Route) -> Result<CompiledRoute, PatternError> {
    let err = |reason| PatternError {
        pattern: route.pattern.clone(),
        reason,
    };
    let pattern = route
        .pattern
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    if route.script.is_empty() {
        return Err(err("the route names no script"));
    }
    let (host, path) = match pattern.find('/') {
        Some(i) => (&pattern[..i], &pattern[i..]),
        None => (pattern, "/*"),
    };
    if host.is_empty() {
        return Err(err("the host part is empty (use * for any host)"));
    }
    let host = if host == "*" {
        HostMatch::Any
    } else if let Some(rest) = host.strip_prefix("*.") {
        HostMatch::Suffix(format!(".{}", rest.to_ascii_lowercase()))
    } else if host.contains('*') {
        return Err(err("a host wildcard must be `*` or a `*.` prefix"));
    } else {
        HostMatch::Exact(host.to_ascii_lowercase())
    };
    let (path, prefix) = match path.strip_suffix('*') {
        Some(p) => (p, true),
        None => (path, false),
    };
    if path.contains('*') {
        return Err(err("a path wildcard is allowed only at the end"));
    }
    Ok(CompiledRoute {
        host,
        path: path.to_string(),
        prefix,
        script: route.script.clone(),
    })
}

/// `host` in ASCII lower case (as the index holds hosts), copied into `buf`
/// only when it has upper-case letters; `None` when it is too long for it.
fn lower_ascii<'a>(host: &'a str, buf: &'a mut [u8; MAX_HOST]) -> Option<&'a str> {
    if !host.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some(host);
    }
    let out = buf.get_mut(..host.len())?;
    out.copy_from_slice(host.as_bytes());
    out.make_ascii_lowercase();
    // Lower-casing ASCII letters keeps UTF-8 valid.
    std::str::from_utf8(out).ok()
}

fn host_matches(m: &HostMatch, host: &str) -> bool {
    match m {
        HostMatch::Any => true,
        HostMatch::Exact(h) => h.eq_ignore_ascii_case(host),
        HostMatch::Suffix(s) => {
            host.len() > s.len() && host[host.len() - s.len()..].eq_ignore_ascii_case(s)
                || host.eq_ignore_ascii_case(&s[1..])
        }
    }
}

fn path_matches(r: &CompiledRoute, path: &str) -> bool {
    if r.prefix {
        path.starts_with(&r.path)
    } else {
        path == r.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &[(&str, &str)]) -> RouteTable {
        let routes: Vec<Route> = routes
            .iter()
            .map(|(p, s)| Route {
                pattern: p.to_string(),
                script: s.to_string(),
            })
            .collect();
        RouteTable::new(&routes).unwrap()
    }

    #[test]
    fn most_specific_route_wins() {
        let t = table(&[
            ("*/*", "catchall"),
            ("example.com/*", "site"),
            ("example.com/api/*", "api"),
            ("*.example.com/*", "subs"),
            ("example.com/exact", "exact"),
        ]);
        assert_eq!(t.find("example.com", "/api/users"), Some("api"));
        assert_eq!(t.find("EXAMPLE.com", "/index.html"), Some("site"));
        assert_eq!(t.find("a.example.com", "/x"), Some("subs"));
        assert_eq!(t.find("example.com", "/exact"), Some("exact"));
        assert_eq!(t.find("example.com", "/exactly"), Some("site"));
        assert_eq!(t.find("other.org", "/"), Some("catchall"));
    }

    #[test]
    fn the_host_index_finds_what_the_rules_in_order_find() {
        let patterns = [
            "*/*",
            "*/api/*",
            "*/exact",
            "example.com/*",
            "example.com/api/*",
            "example.com/api",
            "*.example.com/*",
            "*.example.com/api/*",
            "*.a.example.com/*",
            "b.a.example.com/x*",
            "*.com/*",
            "Other.ORG/*",
            "*.other.org/deep/path/*",
        ];
        let hosts = [
            "example.com",
            "EXAMPLE.COM",
            "a.example.com",
            "b.a.example.com",
            "c.b.a.example.com",
            "x.com",
            "com",
            "other.org",
            "sub.other.org",
            "evil-example.com",
            "example.com.evil",
            "",
            "localhost",
            "naïve.example.com",
        ];
        let paths = ["/", "/api", "/api/", "/api/x", "/exact", "/x", "/xy", "/deep/path/z"];
        // Every subset of the patterns given by a bit mask, so each route
        // is also tried without the ones that would shadow it.
        for mask in (0u32..1 << patterns.len()).step_by(37) {
            let chosen: Vec<(&str, &str)> = patterns
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, p)| (*p, *p))
                .collect();
            let t = table(&chosen);
            for host in hosts {
                for path in paths {
                    assert_eq!(
                        t.find_index(host, path),
                        t.scan(host, path),
                        "{host}{path} with {chosen:?}"
                    );
                }
            }
        }
        let long_host = "a".repeat(300) + ".example.com";
        let t = table(&[("*.example.com/*", "subs")]);
        assert_eq!(t.find(&long_host, "/"), Some("subs"));
    }

    #[test]
    fn unmatched_requests_find_nothing() {
        let t = table(&[("example.com/api/*", "api")]);
        assert_eq!(t.find("example.com", "/"), None);
        assert_eq!(t.find("evil-example.com", "/api/x"), None);
    }

    #[test]
    fn bad_patterns_are_rejected_with_a_reason() {
        let bad = Route {
            pattern: "ex*ample.com/*".into(),
            script: "s".into(),
        };
        let e = RouteTable::new(&[bad]).unwrap_err();
        assert!(e.to_string().contains("host wildcard"));
        let bad = Route {
            pattern: "example.com/a*/b".into(),
            script: "s".into(),
        };
        assert!(RouteTable::new(&[bad]).is_err());
    }
}
