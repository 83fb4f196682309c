//! The durable script store of a single node: scripts, their versions,
//! bindings and routes in one embedded redb database
//! (`<data-dir>/islet.redb`). Every change is one write transaction that is
//! committed with immediate durability (fsync) before the caller answers,
//! so an acknowledged deploy survives `kill -9` and power loss, and a crash
//! mid-transaction leaves the previous state intact.
//!
//! Not for serving: the edge reads the registry, which the admin API
//! refreshes from the store's answers after each commit.

mod model;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};

pub use model::{
    Bindings, BindingsUpdate, Deployed, NewVersion, RouteRecord, ScriptDetails, ScriptLimits, ScriptRecord,
    StoredFormat, VersionRecord,
};

use crate::error::RuntimeError;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "islet.redb";

const SCRIPTS: TableDefinition<&str, &[u8]> = TableDefinition::new("scripts");
const VERSIONS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("versions");
const ROUTES: TableDefinition<&str, &[u8]> = TableDefinition::new("routes");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

const SCHEMA_KEY: &str = "schema";
const SCHEMA_VERSION: &str = "1";

/// The embedded store. Cheap to share behind an `Arc`; redb serialises
/// writers and lets readers run beside them. The embedded KV backend keeps
/// its tables in the same database ([`Store::database`]).
pub struct Store {
    db: Arc<Database>,
    path: PathBuf,
}

fn db_error<E: Into<redb::Error>>(e: E) -> RuntimeError {
    RuntimeError::Store(e.into().to_string())
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, RuntimeError> {
    serde_json::to_vec(value).map_err(|e| RuntimeError::Store(format!("cannot encode a record: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, RuntimeError> {
    serde_json::from_slice(bytes).map_err(|e| RuntimeError::Store(format!("corrupt {what} record: {e}")))
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The form of a pattern used to find two routes for the same requests.
fn pattern_key(pattern: &str) -> String {
    let p = pattern.trim();
    let p = p
        .strip_prefix("https://")
        .or_else(|| p.strip_prefix("http://"))
        .unwrap_or(p);
    match p.find('/') {
        Some(i) => format!("{}{}", p[..i].to_ascii_lowercase(), &p[i..]),
        None => format!("{}/*", p.to_ascii_lowercase()),
    }
}

/// The id of a route that an upload's metadata declares: stable for the
/// same script and pattern, so redeploying keeps ids.
pub fn route_id_for(script: &str, pattern: &str) -> String {
    // FNV-1a: short, stable across versions of Rust (unlike DefaultHasher).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in pattern_key(pattern).bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{script}-{hash:016x}")
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, RuntimeError> {
        std::fs::create_dir_all(dir).map_err(|e| RuntimeError::io(dir, e))?;
        let path = dir.join(DB_FILE);
        let db = Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => RuntimeError::Store(format!(
                "{} is in use by another islet process: stop it or use another --data-dir",
                path.display()
            )),
            other => RuntimeError::Store(format!("{}: {other}", path.display())),
        })?;
        let store = Store { db: Arc::new(db), path };
        store.write(|txn| {
            txn.open_table(SCRIPTS).map_err(db_error)?;
            txn.open_table(VERSIONS).map_err(db_error)?;
            txn.open_table(ROUTES).map_err(db_error)?;
            let mut meta = txn.open_table(META).map_err(db_error)?;
            let schema = meta.get(SCHEMA_KEY).map_err(db_error)?.map(|v| v.value().to_string());
            match schema.as_deref() {
                None => {
                    meta.insert(SCHEMA_KEY, SCHEMA_VERSION).map_err(db_error)?;
                }
                Some(SCHEMA_VERSION) => {}
                Some(other) => {
                    return Err(RuntimeError::Store(format!(
                        "the store has schema {other}, this islet knows {SCHEMA_VERSION}: run a newer islet"
                    )))
                }
            }
            Ok(())
        })?;
        Ok(store)
    }

    /// The database, for the embedded KV backend's tables (`kv_*`), which
    /// live beside the script tables and are never touched by this module.
    pub fn database(&self) -> Arc<Database> {
        self.db.clone()
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one write transaction and commits it durably; on error
    /// nothing of what `f` did is kept.
    fn write<T>(&self, f: impl FnOnce(&WriteTransaction) -> Result<T, RuntimeError>) -> Result<T, RuntimeError> {
        let txn = self.db.begin_write().map_err(db_error)?;
        match f(&txn) {
            Ok(value) => {
                txn.commit().map_err(db_error)?;
                Ok(value)
            }
            Err(e) => {
                if let Err(abort) = txn.abort() {
                    tracing::warn!("aborting a store transaction failed: {abort}");
                }
                Err(e)
            }
        }
    }

    /// Stores a new version of script `name` (creating the script if
    /// needed), makes it current, and applies the upload's routes.
    pub fn deploy(&self, name: &str, new: NewVersion) -> Result<Deployed, RuntimeError> {
        self.write(|txn| deploy_in(txn, name, new))
    }

    /// Makes `to`, or else the newest version older than the current one,
    /// the current version. Returns the script, the version now current,
    /// and the version that was current before.
    pub fn rollback(&self, name: &str, to: Option<u64>) -> Result<(ScriptRecord, VersionRecord, u64), RuntimeError> {
        self.write(|txn| {
            let mut scripts = txn.open_table(SCRIPTS).map_err(db_error)?;
            let mut script = read_script(&scripts, name)?.ok_or_else(|| no_script(name))?;
            let versions = txn.open_table(VERSIONS).map_err(db_error)?;
            let from = script.current_version;
            let target = match to {
                Some(v) => versions
                    .get((name, v))
                    .map_err(db_error)?
                    .map(|g| decode::<VersionRecord>(g.value(), "version"))
                    .transpose()?
                    .ok_or_else(|| RuntimeError::NotFound(format!("script {name:?} has no version {v}")))?,
                None => {
                    let mut older = versions.range((name, 0)..(name, from)).map_err(db_error)?;
                    match older.next_back() {
                        Some(entry) => {
                            let (_, value) = entry.map_err(db_error)?;
                            decode::<VersionRecord>(value.value(), "version")?
                        }
                        None => {
                            return Err(RuntimeError::Conflict(format!(
                                "script {name:?} has no version before {from} to roll back to"
                            )))
                        }
                    }
                }
            };
            script.current_version = target.version;
            script.updated_at = now();
            scripts.insert(name, encode(&script)?.as_slice()).map_err(db_error)?;
            Ok((script, target, from))
        })
    }

    /// Removes script `name`, all its versions and its routes. Returns the
    /// removed routes and the routes left.
    pub fn delete_script(&self, name: &str) -> Result<(Vec<RouteRecord>, Vec<RouteRecord>), RuntimeError> {
        self.write(|txn| {
            let mut scripts = txn.open_table(SCRIPTS).map_err(db_error)?;
            if scripts.remove(name).map_err(db_error)?.is_none() {
                return Err(no_script(name));
            }
            let mut versions = txn.open_table(VERSIONS).map_err(db_error)?;
            let ids: Vec<u64> = versions
                .range((name, 0)..=(name, u64::MAX))
                .map_err(db_error)?
                .map(|entry| entry.map(|(k, _)| k.value().1))
                .collect::<Result<_, _>>()
                .map_err(db_error)?;
            for v in ids {
                versions.remove((name, v)).map_err(db_error)?;
            }
            let mut routes = txn.open_table(ROUTES).map_err(db_error)?;
            let all = read_routes(&routes)?;
            let (removed, kept): (Vec<_>, Vec<_>) = all.into_iter().partition(|r| r.script == name);
            for r in &removed {
                routes.remove(r.id.as_str()).map_err(db_error)?;
            }
            Ok((removed, kept))
        })
    }

    /// Creates or replaces route `route.id`. Returns whether it was created
    /// and every route after the change.
    pub fn put_route(&self, route: &RouteRecord) -> Result<(bool, Vec<RouteRecord>), RuntimeError> {
        self.write(|txn| {
            let scripts = txn.open_table(SCRIPTS).map_err(db_error)?;
            if read_script(&scripts, &route.script)?.is_none() {
                return Err(RuntimeError::NotFound(format!(
                    "no script named {:?}: upload it first (PUT /v1/scripts/{}), then route to it",
                    route.script, route.script
                )));
            }
            let mut routes = txn.open_table(ROUTES).map_err(db_error)?;
            let mut all = read_routes(&routes)?;
            check_pattern_free(&all, &route.pattern, |r| r.id == route.id)?;
            let created = !all.iter().any(|r| r.id == route.id);
            routes
                .insert(route.id.as_str(), encode(route)?.as_slice())
                .map_err(db_error)?;
            all.retain(|r| r.id != route.id);
            all.push(route.clone());
            all.sort_by(|a, b| a.id.cmp(&b.id));
            Ok((created, all))
        })
    }

    /// Removes route `id`. Returns the removed route and the routes left.
    pub fn delete_route(&self, id: &str) -> Result<(RouteRecord, Vec<RouteRecord>), RuntimeError> {
        self.write(|txn| {
            let mut routes = txn.open_table(ROUTES).map_err(db_error)?;
            let removed = match routes.remove(id).map_err(db_error)? {
                Some(v) => decode::<RouteRecord>(v.value(), "route")?,
                None => return Err(RuntimeError::NotFound(format!("no route with id {id:?}"))),
            };
            let left = read_routes(&routes)?;
            Ok((removed, left))
        })
    }

    /// Imports scripts and routes from the old folder layout, once: returns
    /// false without changing anything when an import already happened.
    pub fn import_once(
        &self,
        scripts: Vec<(String, NewVersion)>,
        routes: &[(String, String)],
    ) -> Result<bool, RuntimeError> {
        const IMPORTED: &str = "folder_import";
        self.write(|txn| {
            {
                let meta = txn.open_table(META).map_err(db_error)?;
                if meta.get(IMPORTED).map_err(db_error)?.is_some() {
                    return Ok(false);
                }
            }
            for (name, new) in scripts {
                deploy_in(txn, &name, new)?;
            }
            for (i, (pattern, script)) in routes.iter().enumerate() {
                let route = RouteRecord {
                    id: format!("imported-{}", i + 1),
                    pattern: pattern.clone(),
                    script: script.clone(),
                };
                let mut table = txn.open_table(ROUTES).map_err(db_error)?;
                table
                    .insert(route.id.as_str(), encode(&route)?.as_slice())
                    .map_err(db_error)?;
            }
            let mut meta = txn.open_table(META).map_err(db_error)?;
            meta.insert(IMPORTED, "done").map_err(db_error)?;
            Ok(true)
        })
    }

    /// Every script, by name.
    pub fn scripts(&self) -> Result<Vec<ScriptRecord>, RuntimeError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let table = txn.open_table(SCRIPTS).map_err(db_error)?;
        let mut out = Vec::with_capacity(table.len().map_err(db_error)? as usize);
        for entry in table.iter().map_err(db_error)? {
            let (_, v) = entry.map_err(db_error)?;
            out.push(decode(v.value(), "script")?);
        }
        Ok(out)
    }

    /// Script `name` with all its versions, if it exists.
    pub fn script(&self, name: &str) -> Result<Option<ScriptDetails>, RuntimeError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let scripts = txn.open_table(SCRIPTS).map_err(db_error)?;
        let Some(script) = read_script(&scripts, name)? else {
            return Ok(None);
        };
        let table = txn.open_table(VERSIONS).map_err(db_error)?;
        let mut versions = Vec::new();
        for entry in table.range((name, 0)..=(name, u64::MAX)).map_err(db_error)? {
            let (_, v) = entry.map_err(db_error)?;
            versions.push(decode(v.value(), "version")?);
        }
        Ok(Some(ScriptDetails { script, versions }))
    }

    /// Every script with its current version: what the edge should serve.
    pub fn current_versions(&self) -> Result<Vec<(ScriptRecord, VersionRecord)>, RuntimeError> {
        // One read transaction: a consistent snapshot of scripts and versions.
        let txn = self.db.begin_read().map_err(db_error)?;
        let scripts = txn.open_table(SCRIPTS).map_err(db_error)?;
        let versions = txn.open_table(VERSIONS).map_err(db_error)?;
        let mut out = Vec::new();
        for entry in scripts.iter().map_err(db_error)? {
            let (_, value) = entry.map_err(db_error)?;
            let script: ScriptRecord = decode(value.value(), "script")?;
            let version = versions
                .get((script.name.as_str(), script.current_version))
                .map_err(db_error)?
                .ok_or_else(|| {
                    RuntimeError::Store(format!(
                        "script {:?} names version {} as current, but it is missing",
                        script.name, script.current_version
                    ))
                })?;
            let version = decode(version.value(), "version")?;
            out.push((script, version));
        }
        Ok(out)
    }

    /// Every route, by id.
    pub fn routes(&self) -> Result<Vec<RouteRecord>, RuntimeError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let table = txn.open_table(ROUTES).map_err(db_error)?;
        read_routes(&table)
    }
}

fn no_script(name: &str) -> RuntimeError {
    RuntimeError::NotFound(format!("no script named {name:?}"))
}

fn read_script(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &str,
) -> Result<Option<ScriptRecord>, RuntimeError> {
    table
        .get(name)
        .map_err(db_error)?
        .map(|g| decode(g.value(), "script"))
        .transpose()
}

fn read_routes(table: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<Vec<RouteRecord>, RuntimeError> {
    let mut out = Vec::new();
    for entry in table.iter().map_err(db_error)? {
        let (_, v) = entry.map_err(db_error)?;
        out.push(decode(v.value(), "route")?);
    }
    Ok(out)
}

/// Fails when a route other than the ones `is_self` accepts already serves
/// `pattern`: two routes for the same requests would make one of them dead.
fn check_pattern_free(
    routes: &[RouteRecord],
    pattern: &str,
    is_self: impl Fn(&RouteRecord) -> bool,
) -> Result<(), RuntimeError> {
    let key = pattern_key(pattern);
    match routes.iter().find(|r| !is_self(r) && pattern_key(&r.pattern) == key) {
        Some(other) => Err(RuntimeError::Conflict(format!(
            "pattern {pattern:?} already routes to script {:?} (route {:?}): delete that route first",
            other.script, other.id
        ))),
        None => Ok(()),
    }
}

fn merge_bindings(previous: Option<&Bindings>, update: BindingsUpdate) -> Result<Bindings, RuntimeError> {
    let previous = previous.cloned().unwrap_or_default();
    let mut secrets = previous.secrets;
    for (k, v) in update.secrets {
        match v {
            Some(v) => secrets.insert(k, v),
            None => secrets.remove(&k),
        };
    }
    let bindings = Bindings {
        vars: update.vars.unwrap_or(previous.vars),
        secrets,
        kv_namespaces: update.kv_namespaces.unwrap_or(previous.kv_namespaces),
    };
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let named = bindings
        .vars
        .keys()
        .map(|k| (k, "a var"))
        .chain(bindings.secrets.keys().map(|k| (k, "a secret")))
        .chain(bindings.kv_namespaces.keys().map(|k| (k, "a KV namespace")));
    for (name, kind) in named {
        if let Some(other) = seen.insert(name, kind) {
            return Err(RuntimeError::bad_request(format!(
                "env.{name} would be both {other} and {kind}: rename one (secrets are kept from earlier deploys; \
                 remove one with \"secrets\": {{\"{name}\": null}})"
            )));
        }
    }
    Ok(bindings)
}

fn deploy_in(txn: &WriteTransaction, name: &str, new: NewVersion) -> Result<Deployed, RuntimeError> {
    let mut scripts = txn.open_table(SCRIPTS).map_err(db_error)?;
    let mut versions = txn.open_table(VERSIONS).map_err(db_error)?;
    let existing = read_script(&scripts, name)?;
    let previous: Option<VersionRecord> = match &existing {
        Some(s) => versions
            .get((name, s.current_version))
            .map_err(db_error)?
            .map(|g| decode(g.value(), "version"))
            .transpose()?,
        None => None,
    };
    let bindings = merge_bindings(previous.as_ref().map(|v| &v.bindings), new.bindings)?;
    let limits = new
        .limits
        .unwrap_or_else(|| previous.as_ref().map(|v| v.limits.clone()).unwrap_or_default());
    let at = now();
    let number = existing.as_ref().map_or(1, |s| s.latest_version + 1);
    let version = VersionRecord {
        version: number,
        created_at: at,
        main: new.main,
        format: new.format.into(),
        modules: new.modules,
        bindings,
        limits,
    };
    let script = ScriptRecord {
        name: name.to_string(),
        current_version: number,
        latest_version: number,
        created_at: existing.as_ref().map_or(at, |s| s.created_at),
        updated_at: at,
    };
    versions
        .insert((name, number), encode(&version)?.as_slice())
        .map_err(db_error)?;
    scripts.insert(name, encode(&script)?.as_slice()).map_err(db_error)?;

    let mut routes = txn.open_table(ROUTES).map_err(db_error)?;
    let mut all = read_routes(&routes)?;
    if let Some(patterns) = new.routes {
        let mut wanted: Vec<RouteRecord> = Vec::new();
        for pattern in patterns {
            let key = pattern_key(&pattern);
            if wanted.iter().any(|r| pattern_key(&r.pattern) == key) {
                continue;
            }
            check_pattern_free(&all, &pattern, |r| r.script == name)?;
            wanted.push(RouteRecord {
                id: route_id_for(name, &pattern),
                pattern: pattern.trim().to_string(),
                script: name.to_string(),
            });
        }
        for old in all.iter().filter(|r| r.script == name) {
            routes.remove(old.id.as_str()).map_err(db_error)?;
        }
        all.retain(|r| r.script != name);
        for route in wanted {
            if let Some(other) = all.iter().find(|r| r.id == route.id) {
                return Err(RuntimeError::Conflict(format!(
                    "route id {:?} is taken by script {:?}: delete that route first",
                    route.id, other.script
                )));
            }
            routes
                .insert(route.id.as_str(), encode(&route)?.as_slice())
                .map_err(db_error)?;
            all.push(route);
        }
        all.sort_by(|a, b| a.id.cmp(&b.id));
    }
    Ok(Deployed {
        script,
        version,
        created: existing.is_none(),
        routes: all,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::ScriptFormat;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
            let dir = std::env::temp_dir().join(format!("islet-store-{tag}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn upload(source: &str) -> NewVersion {
        NewVersion {
            modules: BTreeMap::from([("w.js".to_string(), source.to_string())]),
            main: "w.js".into(),
            format: ScriptFormat::Module,
            bindings: BindingsUpdate::default(),
            limits: None,
            routes: None,
        }
    }

    #[test]
    fn versions_rollback_and_reopen() {
        let dir = TempDir::new("versions");
        {
            let store = Store::open(&dir.0).unwrap();
            assert!(store.deploy("a", upload("v1")).unwrap().created);
            let second = store.deploy("a", upload("v2")).unwrap();
            assert!(!second.created);
            assert_eq!(second.version.version, 2);
            let (script, now_current, from) = store.rollback("a", None).unwrap();
            assert_eq!((script.current_version, now_current.version, from), (1, 1, 2));
            assert!(matches!(store.rollback("a", None), Err(RuntimeError::Conflict(_))));
            assert_eq!(store.deploy("a", upload("v3")).unwrap().version.version, 3);
        }
        let store = Store::open(&dir.0).unwrap();
        let details = store.script("a").unwrap().unwrap();
        assert_eq!(
            details.versions.iter().map(|v| v.version).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(details.current().unwrap().modules["w.js"], "v3");
    }

    #[test]
    fn secrets_merge_and_collisions_change_nothing() {
        let dir = TempDir::new("secrets");
        let store = Store::open(&dir.0).unwrap();
        let mut first = upload("v1");
        first.bindings.secrets.insert("TOKEN".into(), Some("s1".into()));
        first.bindings.vars = Some(BTreeMap::from([("MODE".into(), "a".into())]));
        store.deploy("a", first).unwrap();
        let second = store.deploy("a", upload("v2")).unwrap();
        assert_eq!(second.version.bindings.secrets["TOKEN"], "s1");
        assert_eq!(second.version.bindings.vars["MODE"], "a");
        let mut clash = upload("v3");
        clash.bindings.vars = Some(BTreeMap::from([("TOKEN".into(), "x".into())]));
        assert!(matches!(store.deploy("a", clash), Err(RuntimeError::BadRequest { .. })));
        assert_eq!(store.script("a").unwrap().unwrap().script.latest_version, 2);
    }

    #[test]
    fn routes_follow_uploads_and_patterns_are_unique() {
        let dir = TempDir::new("routes");
        let store = Store::open(&dir.0).unwrap();
        let mut a = upload("a");
        a.routes = Some(vec!["example.com/*".into(), "Example.com/*".into()]);
        let deployed = store.deploy("a", a).unwrap();
        assert_eq!(deployed.routes.len(), 1);
        let mut b = upload("b");
        b.routes = Some(vec!["http://EXAMPLE.com/*".into()]);
        assert!(matches!(store.deploy("b", b), Err(RuntimeError::Conflict(_))));
        assert!(store.script("b").unwrap().is_none(), "a failed upload stores nothing");
        let route = RouteRecord {
            id: "r1".into(),
            pattern: "other.org/*".into(),
            script: "missing".into(),
        };
        assert!(matches!(store.put_route(&route), Err(RuntimeError::NotFound(_))));
        let route = RouteRecord {
            script: "a".into(),
            ..route
        };
        assert!(store.put_route(&route).unwrap().0);
        let (removed, left) = store.delete_script("a").unwrap();
        assert_eq!(removed.len(), 2);
        assert!(left.is_empty());
        assert!(store.routes().unwrap().is_empty());
    }
}
