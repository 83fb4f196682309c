//! The JSON the admin API returns for scripts, versions and routes (see
//! `docs/admin-api.md`). Secrets appear by name only, never by value.

use serde_json::{json, Value};

use crate::store::{RouteRecord, ScriptDetails, ScriptRecord, VersionRecord};

/// A route.
pub fn route(r: &RouteRecord) -> Value {
    json!({ "id": r.id, "pattern": r.pattern, "script": r.script })
}

/// Routes of `script` among `routes`.
pub fn routes_of(script: &str, routes: &[RouteRecord]) -> Value {
    Value::Array(routes.iter().filter(|r| r.script == script).map(route).collect())
}

/// One version: modules, bindings (secret names only), limits.
pub fn version(v: &VersionRecord, current: bool) -> Value {
    json!({
        "version": v.version,
        "current": current,
        "created_at": v.created_at,
        "main": v.main,
        "format": v.format,
        "modules": v.modules.keys().collect::<Vec<_>>(),
        "size": v.size(),
        "bindings": {
            "vars": v.bindings.vars,
            "secrets": v.bindings.secrets.keys().collect::<Vec<_>>(),
            "kv_namespaces": v.bindings.kv_namespaces,
        },
        "limits": v.limits,
    })
}

/// A script in the list.
pub fn script_summary(s: &ScriptRecord, routes: &[RouteRecord]) -> Value {
    json!({
        "name": s.name,
        "current_version": s.current_version,
        "latest_version": s.latest_version,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "routes": routes_of(&s.name, routes),
    })
}

/// A script with its current version's details and every version.
pub fn script_details(d: &ScriptDetails, routes: &[RouteRecord]) -> Value {
    let mut body = script_summary(&d.script, routes);
    body["current"] = d.current().map_or(Value::Null, |v| version(v, true));
    body["versions"] = Value::Array(
        d.versions
            .iter()
            .map(|v| version(v, v.version == d.script.current_version))
            .collect(),
    );
    body
}
