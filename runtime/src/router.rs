//! Route table: maps a request's host and path to a script name, with
//! Workers-style patterns such as `example.com/api/*`, `*.example.com/*` or
//! `*/*`. The table is immutable; a deploy swaps in a new one (arc-swap), so
//! lookups on the hot path take no lock.

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
}

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
        Ok(RouteTable { routes: compiled })
    }

    /// The script for `host` (without port) and `path`, if any route matches.
    pub fn find(&self, host: &str, path: &str) -> Option<&str> {
        self.find_index(host, path).map(|i| self.routes[i].script.as_str())
    }

    /// Like [`RouteTable::find`], as the position of the route in
    /// [`RouteTable::scripts`].
    pub fn find_index(&self, host: &str, path: &str) -> Option<usize> {
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
