//! `routes`: how long the edge takes to find a request's route as the
//! table grows, from a few routes to one per tenant for many tenants.

use std::hint::black_box;
use std::time::Instant;

use islet_runtime::router::{Route, RouteTable};

/// A table for `tenants` tenants: each has its own host, a wildcard for
/// its subdomains and an API path, plus a catch-all at the end.
fn table(tenants: usize) -> RouteTable {
    let mut routes = Vec::with_capacity(tenants * 3 + 1);
    for t in 0..tenants {
        let script = format!("tenant{t}");
        for pattern in [
            format!("tenant{t}.example.com/*"),
            format!("tenant{t}.example.com/api/*"),
            format!("*.tenant{t}.example.dev/*"),
        ] {
            routes.push(Route {
                pattern,
                script: script.clone(),
            });
        }
    }
    routes.push(Route {
        pattern: "*/*".into(),
        script: "fallback".into(),
    });
    RouteTable::new(&routes).expect("valid routes")
}

pub fn run() {
    for tenants in [1, 100, 10_000] {
        let t = table(tenants);
        // Hosts spread over the table: early, late, a subdomain, and one
        // that only the catch-all takes.
        let last = tenants - 1;
        let lookups = [
            ("tenant0.example.com".to_string(), "/api/users"),
            (format!("tenant{last}.example.com"), "/index.html"),
            (format!("www.tenant{last}.example.dev"), "/"),
            ("unknown.example.org".to_string(), "/"),
        ];
        for (host, path) in &lookups {
            assert!(t.find(host, path).is_some(), "{host}{path} found no route");
        }
        let rounds = 200_000;
        let start = Instant::now();
        for _ in 0..rounds {
            for (host, path) in &lookups {
                black_box(t.find(black_box(host), black_box(path)));
            }
        }
        let per = start.elapsed().as_secs_f64() * 1e9 / (rounds * lookups.len()) as f64;
        println!(
            "route lookup, {:>6} routes ({tenants} tenants): {per:.0} ns",
            tenants * 3 + 1
        );
    }
}
