//! What this node serves: the deployed scripts and the route table, shared
//! by all worker threads. Readers take a lock-free snapshot (arc-swap); a
//! deploy builds a new map and swaps it in atomically.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustc_hash::FxHashMap as HashMap;

use crate::router::{Route, RouteTable};
use crate::script::{ScriptVersion, SharedScript};

/// Scripts and routes of this node.
#[derive(Default)]
pub struct Registry {
    /// By name; a fast hash (names come from the operator, not from requests).
    scripts: ArcSwap<HashMap<String, SharedScript>>,
    routes: ArcSwap<RouteTable>,
}

impl Registry {
    /// A registry serving `scripts` with `routes`.
    pub fn new(scripts: Vec<ScriptVersion>, routes: RouteTable) -> Registry {
        let map = scripts.into_iter().map(|s| (s.name.clone(), Arc::new(s))).collect();
        Registry {
            scripts: ArcSwap::from_pointee(map),
            routes: ArcSwap::from_pointee(routes),
        }
    }

    /// The script serving `host` + `path`, if a route matches and the script exists.
    pub fn route(&self, host: &str, path: &str) -> Option<SharedScript> {
        let routes = self.routes.load();
        let name = routes.find(host, path)?;
        self.scripts.load().get(name).cloned()
    }

    /// The current version of script `name`.
    pub fn script(&self, name: &str) -> Option<SharedScript> {
        self.scripts.load().get(name).cloned()
    }

    /// Publishes a new version of a script; new requests use it at once.
    pub fn put_script(&self, script: ScriptVersion) {
        let script = Arc::new(script);
        self.scripts.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.insert(script.name.clone(), script.clone());
            next
        });
    }

    /// Stops serving script `name`: new requests no longer find it, requests
    /// already running finish on the version they hold. Returns whether it
    /// was there.
    pub fn remove_script(&self, name: &str) -> bool {
        if !self.scripts.load().contains_key(name) {
            return false;
        }
        self.scripts.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.remove(name);
            next
        });
        true
    }

    /// Replaces the route table.
    pub fn set_routes(&self, routes: &[Route]) -> Result<(), crate::router::PatternError> {
        let table = RouteTable::new(routes)?;
        self.routes.store(Arc::new(table));
        Ok(())
    }

    /// Number of scripts served.
    pub fn script_count(&self) -> usize {
        self.scripts.load().len()
    }

    /// Names of all scripts.
    pub fn script_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.scripts.load().keys().cloned().collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_a_script_keeps_held_versions_alive() {
        let registry = Registry::new(vec![ScriptVersion::single("a", 1, "x".into())], RouteTable::default());
        let held = registry.script("a").unwrap();
        assert!(registry.remove_script("a"));
        assert!(!registry.remove_script("a"));
        assert!(registry.script("a").is_none());
        assert_eq!(held.version, 1);
        assert_eq!(registry.script_count(), 0);
    }
}
