//! The records the script store keeps (JSON values in redb tables) and the
//! requests it takes. Not for the transactions themselves (`store/mod.rs`)
//! nor for the admin API's JSON views (`admin/`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::script::{ScriptFormat, ScriptVersion};

/// A script: which of its versions serves, and its history bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptRecord {
    /// Script name.
    pub name: String,
    /// The version that serves requests.
    pub current_version: u64,
    /// The highest version id given out; the next upload gets this + 1.
    pub latest_version: u64,
    /// Unix time, seconds, of the first upload.
    pub created_at: u64,
    /// Unix time, seconds, of the last upload or rollback.
    pub updated_at: u64,
}

/// How a stored version registers its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoredFormat {
    /// ES modules with `export default { fetch }`.
    Module,
    /// A classic script with `addEventListener("fetch", ...)`.
    ServiceWorker,
}

impl From<ScriptFormat> for StoredFormat {
    fn from(f: ScriptFormat) -> Self {
        match f {
            ScriptFormat::Module => StoredFormat::Module,
            ScriptFormat::ServiceWorker => StoredFormat::ServiceWorker,
        }
    }
}

impl From<StoredFormat> for ScriptFormat {
    fn from(f: StoredFormat) -> Self {
        match f {
            StoredFormat::Module => ScriptFormat::Module,
            StoredFormat::ServiceWorker => ScriptFormat::ServiceWorker,
        }
    }
}

/// What a version's `env` holds. Secrets are kept apart from vars so that
/// the admin API can show vars and hide secrets; the isolate sees both.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bindings {
    /// Plain-text variables.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Secret text: never returned by the API, never logged.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// KV bindings: binding name on `env` -> namespace.
    #[serde(default)]
    pub kv_namespaces: BTreeMap<String, String>,
}

// Hand-written so that secret values never reach a log line.
impl std::fmt::Debug for Bindings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bindings")
            .field("vars", &self.vars)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("kv_namespaces", &self.kv_namespaces)
            .finish()
    }
}

/// Per-script limits given at upload (defined with the other limit types).
pub use crate::limits::LimitOverrides as ScriptLimits;

/// One immutable version of a script as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// Version id, from 1, increasing per upload of the script.
    pub version: u64,
    /// Unix time, seconds, of the upload.
    pub created_at: u64,
    /// Entry module.
    pub main: String,
    /// Handler format.
    pub format: StoredFormat,
    /// Module path -> source.
    pub modules: BTreeMap<String, String>,
    /// What `env` holds.
    pub bindings: Bindings,
    /// Limits given at upload.
    #[serde(default)]
    pub limits: ScriptLimits,
}

impl VersionRecord {
    /// The version as the edge serves it. Secrets join the vars here, and
    /// only here, so that the script reads both on `env`.
    pub fn to_script_version(&self, name: &str) -> ScriptVersion {
        let mut vars = self.bindings.vars.clone();
        vars.extend(self.bindings.secrets.iter().map(|(k, v)| (k.clone(), v.clone())));
        ScriptVersion {
            name: name.to_string(),
            version: self.version,
            modules: self.modules.clone(),
            main: self.main.clone(),
            format: self.format.into(),
            vars,
            limits: self.limits.clone(),
            kv: islet_bindings::kv::KvBindings {
                namespaces: self.bindings.kv_namespaces.clone(),
                store: None,
            },
        }
    }

    /// Total size of the module sources, bytes.
    pub fn size(&self) -> usize {
        self.modules.values().map(String::len).sum()
    }
}

/// A route: requests matching `pattern` go to `script`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRecord {
    /// Route id (the `{id}` of `/v1/routes/{id}`).
    pub id: String,
    /// `host/path` pattern, e.g. `example.com/api/*`.
    pub pattern: String,
    /// Script name.
    pub script: String,
}

/// Changes to the bindings an upload asks for. `None` keeps what the
/// current version has; secrets are merged key by key (`None` removes one),
/// so a deploy need not repeat secrets it does not change.
#[derive(Default)]
pub struct BindingsUpdate {
    /// New vars, replacing the old ones.
    pub vars: Option<BTreeMap<String, String>>,
    /// Secrets to set (`Some`) or remove (`None`).
    pub secrets: BTreeMap<String, Option<String>>,
    /// New KV bindings, replacing the old ones.
    pub kv_namespaces: Option<BTreeMap<String, String>>,
}

/// An upload, checked and compiled, ready to be stored.
pub struct NewVersion {
    /// Module path -> source.
    pub modules: BTreeMap<String, String>,
    /// Entry module (a key of `modules`).
    pub main: String,
    /// Handler format.
    pub format: ScriptFormat,
    /// Binding changes.
    pub bindings: BindingsUpdate,
    /// New limits; `None` keeps the current version's.
    pub limits: Option<ScriptLimits>,
    /// The script's routes from now on; `None` leaves its routes alone.
    pub routes: Option<Vec<String>>,
}

/// The outcome of a stored upload.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// The script after the upload.
    pub script: ScriptRecord,
    /// The new version.
    pub version: VersionRecord,
    /// Whether the upload created the script.
    pub created: bool,
    /// Every route of the node after the upload.
    pub routes: Vec<RouteRecord>,
}

/// A script with all its stored versions, oldest first.
#[derive(Debug, Clone)]
pub struct ScriptDetails {
    /// The script.
    pub script: ScriptRecord,
    /// Its versions.
    pub versions: Vec<VersionRecord>,
}

impl ScriptDetails {
    /// The version that serves requests.
    pub fn current(&self) -> Option<&VersionRecord> {
        self.versions.iter().find(|v| v.version == self.script.current_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_reach_env_but_not_debug_output() {
        let mut bindings = Bindings::default();
        bindings.vars.insert("MODE".into(), "prod".into());
        bindings.secrets.insert("API_KEY".into(), "hunter2".into());
        let record = VersionRecord {
            version: 2,
            created_at: 0,
            main: "a.js".into(),
            format: StoredFormat::Module,
            modules: BTreeMap::from([("a.js".into(), "export default {}".into())]),
            bindings,
            limits: ScriptLimits::default(),
        };
        let script = record.to_script_version("a");
        assert_eq!(script.vars.get("API_KEY").map(String::as_str), Some("hunter2"));
        assert_eq!(script.vars.get("MODE").map(String::as_str), Some("prod"));
        let debug = format!("{record:?}");
        assert!(debug.contains("API_KEY"));
        assert!(!debug.contains("hunter2"));
    }
}
