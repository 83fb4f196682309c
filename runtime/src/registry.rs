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
    state: ArcSwap<State>,
}

/// One published version of what the node serves.
#[derive(Default, Clone)]
struct State {
    /// By name; a fast hash (names come from the operator, not from requests).
    scripts: HashMap<String, SharedScript>,
    routes: Arc<RouteTable>,
    /// The script of each route of `routes` (same order), resolved when the
    /// state is published so a request needs no lookup by name.
    resolved: Vec<Option<SharedScript>>,
}

impl State {
    fn new(scripts: HashMap<String, SharedScript>, routes: Arc<RouteTable>) -> State {
        let resolved = routes.scripts().map(|name| scripts.get(name).cloned()).collect();
        State {
            scripts,
            routes,
            resolved,
        }
    }
}

impl Registry {
    /// A registry serving `scripts` with `routes`.
    pub fn new(scripts: Vec<ScriptVersion>, routes: RouteTable) -> Registry {
        let map = scripts.into_iter().map(|s| (s.name.clone(), Arc::new(s))).collect();
        Registry {
            state: ArcSwap::from_pointee(State::new(map, Arc::new(routes))),
        }
    }

    /// The script serving `host` + `path`, if a route matches and the script exists.
    pub fn route(&self, host: &str, path: &str) -> Option<SharedScript> {
        let state = self.state.load();
        let i = state.routes.find_index(host, path)?;
        state.resolved.get(i)?.clone()
    }

    /// The current version of script `name`.
    pub fn script(&self, name: &str) -> Option<SharedScript> {
        self.state.load().scripts.get(name).cloned()
    }

    /// Publishes a new version of a script; new requests use it at once.
    pub fn put_script(&self, script: ScriptVersion) {
        let script = Arc::new(script);
        self.state.rcu(|current| {
            let mut scripts = current.scripts.clone();
            scripts.insert(script.name.clone(), script.clone());
            State::new(scripts, current.routes.clone())
        });
    }

    /// Stops serving script `name`: new requests no longer find it, requests
    /// already running finish on the version they hold. Returns whether it
    /// was there.
    pub fn remove_script(&self, name: &str) -> bool {
        if !self.state.load().scripts.contains_key(name) {
            return false;
        }
        self.state.rcu(|current| {
            let mut scripts = current.scripts.clone();
            scripts.remove(name);
            State::new(scripts, current.routes.clone())
        });
        true
    }

    /// Replaces the route table.
    pub fn set_routes(&self, routes: &[Route]) -> Result<(), crate::router::PatternError> {
        let table = Arc::new(RouteTable::new(routes)?);
        self.state
            .rcu(|current| State::new(current.scripts.clone(), table.clone()));
        Ok(())
    }

    /// Number of scripts served.
    pub fn script_count(&self) -> usize {
        self.state.load().scripts.len()
    }

    /// Names of all scripts.
    pub fn script_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.state.load().scripts.keys().cloned().collect();
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
