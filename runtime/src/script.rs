//! A deployed script version: its modules, its format and its bindings,
//! and loading scripts from a folder (`<data-dir>/scripts`).
//! Not for compiling: that happens per isolate in `isolate/`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::error::RuntimeError;

/// How the script registers its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptFormat {
    /// `export default { fetch }`, with `import` between its modules.
    Module,
    /// `addEventListener("fetch", ...)` in a classic script.
    ServiceWorker,
}

/// One immutable version of a script. Isolates hold an `Arc` of the version
/// they were built from, so in-flight requests finish on it after a deploy.
/// Its `Debug` output names the vars but never shows their values, since
/// secrets are among them.
pub struct ScriptVersion {
    /// Script name (unique per node).
    pub name: String,
    /// Version id, increasing per deploy.
    pub version: u64,
    /// Module specifier (path) -> source; for a service worker, one entry.
    pub modules: BTreeMap<String, String>,
    /// Specifier of the entry module.
    pub main: String,
    /// Handler format.
    pub format: ScriptFormat,
    /// Plain-text variables exposed on `env`.
    pub vars: BTreeMap<String, String>,
    /// Limits set for this script (unset ones use the node's defaults).
    pub limits: crate::limits::LimitOverrides,
    /// KV bindings: binding name on `env` -> namespace, and the node's KV store.
    pub kv: islet_bindings::kv::KvBindings,
}

impl std::fmt::Debug for ScriptVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptVersion")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("modules", &self.modules.keys().collect::<Vec<_>>())
            .field("main", &self.main)
            .field("format", &self.format)
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .field("limits", &self.limits)
            .field("kv", &self.kv)
            .finish()
    }
}

/// Optional `<name>.json` beside a script file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptMetadata {
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(default)]
    main: Option<String>,
}

impl ScriptVersion {
    /// A single-file script; the format is detected from its source.
    pub fn single(name: &str, version: u64, source: String) -> ScriptVersion {
        let main = format!("{name}.js");
        let format = detect_format(&source);
        let mut modules = BTreeMap::new();
        modules.insert(main.clone(), source);
        ScriptVersion {
            name: name.to_string(),
            version,
            modules,
            main,
            format,
            vars: BTreeMap::new(),
            limits: Default::default(),
            kv: Default::default(),
        }
    }
}

impl ScriptVersion {
    /// The same version with its KV bindings served by `store`.
    pub fn with_kv_store(mut self, store: &Arc<islet_bindings::kv::KvStore>) -> ScriptVersion {
        self.kv.store = Some(store.clone());
        self
    }
}

/// Whether a source uses ES module syntax (`import`/`export` statements).
pub fn detect_format(source: &str) -> ScriptFormat {
    let is_module = source.lines().any(|line| {
        let l = line.trim_start();
        (l.starts_with("export ") || l.starts_with("export{") || l.starts_with("export*"))
            || (l.starts_with("import ") || l.starts_with("import{")) && !l.starts_with("import(")
    });
    if is_module {
        ScriptFormat::Module
    } else {
        ScriptFormat::ServiceWorker
    }
}

/// Loads every script in `dir`: `name.js` files (with an optional
/// `name.json` holding `vars`), and `name/` folders of modules whose entry
/// is `index.js`, `worker.js` or the `main` given in `name/islet.json`.
pub fn load_dir(dir: &Path) -> Result<Vec<ScriptVersion>, RuntimeError> {
    let mut scripts = Vec::new();
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(scripts),
        Err(e) => return Err(RuntimeError::io(dir, e)),
    };
    let mut paths: Vec<_> = read.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let Some(stem) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        if path.is_dir() {
            scripts.push(load_module_dir(&stem, &path)?);
        } else if path.extension().is_some_and(|e| e == "js" || e == "mjs") {
            let source = std::fs::read_to_string(&path).map_err(|e| RuntimeError::io(&path, e))?;
            let mut script = ScriptVersion::single(&stem, 1, source);
            let meta_path = path.with_extension("json");
            if meta_path.exists() {
                let meta = read_metadata(&meta_path)?;
                script.vars = meta.vars;
            }
            scripts.push(script);
        }
    }
    Ok(scripts)
}

fn read_metadata(path: &Path) -> Result<ScriptMetadata, RuntimeError> {
    let text = std::fs::read_to_string(path).map_err(|e| RuntimeError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| RuntimeError::Config(format!("{}: {e}", path.display())))
}

fn load_module_dir(name: &str, dir: &Path) -> Result<ScriptVersion, RuntimeError> {
    let meta_path = dir.join("islet.json");
    let meta = if meta_path.exists() {
        read_metadata(&meta_path)?
    } else {
        ScriptMetadata::default()
    };
    let mut modules = BTreeMap::new();
    collect_modules(dir, dir, &mut modules)?;
    let main = match meta.main {
        Some(m) => m,
        None => ["index.js", "worker.js", "index.mjs", "main.js"]
            .iter()
            .find(|m| modules.contains_key(**m))
            .map(|m| (*m).to_string())
            .ok_or_else(|| {
                RuntimeError::Config(format!(
                    "{}: no entry module; add index.js or set \"main\" in islet.json",
                    dir.display()
                ))
            })?,
    };
    let format = modules.get(&main).map_or(ScriptFormat::Module, |s| detect_format(s));
    Ok(ScriptVersion {
        name: name.to_string(),
        version: 1,
        modules,
        main,
        format,
        vars: meta.vars,
        limits: Default::default(),
        kv: Default::default(),
    })
}

fn collect_modules(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> Result<(), RuntimeError> {
    let read = std::fs::read_dir(dir).map_err(|e| RuntimeError::io(dir, e))?;
    for entry in read.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            collect_modules(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "js" || e == "mjs") {
            let rel = path
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            let source = std::fs::read_to_string(&path).map_err(|e| RuntimeError::io(&path, e))?;
            out.insert(rel, source);
        }
    }
    Ok(())
}

/// Shared handle to a script version.
pub type SharedScript = Arc<ScriptVersion>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_detection() {
        assert_eq!(detect_format("export default { fetch() {} }"), ScriptFormat::Module);
        assert_eq!(
            detect_format("import { x } from './x.js';\nfoo()"),
            ScriptFormat::Module
        );
        assert_eq!(
            detect_format("addEventListener('fetch', e => e.respondWith(new Response('x')))"),
            ScriptFormat::ServiceWorker
        );
        assert_eq!(
            detect_format("const m = import('./x.js');"),
            ScriptFormat::ServiceWorker
        );
    }
}
