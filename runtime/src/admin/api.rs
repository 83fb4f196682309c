//! The admin API's endpoints: authentication, dispatch by method and path,
//! and one handler per endpoint. Each change is committed to the store
//! first and published to the registry second, with no await in between,
//! so the edge serves exactly what is durable, in commit order.
//! Not for HTTP plumbing (`http.rs`) nor for parsing uploads (`upload.rs`).

use std::rc::Rc;
use std::sync::Arc;

use http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;

use super::auth::AdminToken;
use super::http::{error_response, full, json_response, parse_json, read_body, AdminResponse};
use super::{upload, views};
use crate::error::RuntimeError;
use crate::isolate::IsolateOptions;
use crate::observe::{Observability, TailStream};
use crate::registry::Registry;
use crate::router::Route;
use crate::store::{RouteRecord, Store};
use islet_bindings::kv::KvStore;

/// What every admin handler works with. Lives on the admin thread.
pub struct AdminState {
    /// The durable store.
    pub store: Arc<Store>,
    /// What the edge serves.
    pub registry: Arc<Registry>,
    /// The KV store (`/v1/kv/...`), also handed to every script version.
    pub kv: Arc<KvStore>,
    /// Metrics (`/metrics`) and the scripts' live tails.
    pub observe: Arc<Observability>,
    /// The bearer token requests must carry.
    pub token: AdminToken,
    /// Largest accepted request body, bytes.
    pub max_upload_bytes: u64,
    /// Settings of the isolate an upload is compiled in.
    pub isolate: IsolateOptions,
}

/// Answers one admin request.
pub async fn handle(state: Rc<AdminState>, req: Request<Incoming>) -> AdminResponse {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = match dispatch(&state, req).await {
        Ok(res) => res,
        Err(e) => error_response(&e),
    };
    tracing::info!(target: "islet::admin", %method, %path, status = response.status().as_u16(), "admin request");
    response
}

async fn dispatch(state: &AdminState, req: Request<Incoming>) -> Result<AdminResponse, RuntimeError> {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if segments == ["healthz"] {
        return match *req.method() {
            Method::GET | Method::HEAD => Ok(json_response(StatusCode::OK, &json!({ "status": "ok" }))),
            _ => Err(method_not_allowed("GET")),
        };
    }
    if !state.token.accepts(req.headers().get(header::AUTHORIZATION)) {
        return Err(RuntimeError::Unauthorized);
    }
    if let Some(rest) = path.strip_prefix("/v1/kv/") {
        return super::kv::dispatch(&state.kv, rest, req).await;
    }
    let method = req.method().clone();
    match (segments.as_slice(), method) {
        (["v1", "scripts"], Method::GET) => list_scripts(state),
        (["v1", "scripts"], _) => Err(method_not_allowed("GET")),
        (["v1", "scripts", name], Method::PUT) => {
            let name = checked_name(name)?;
            upload_script(state, &name, req).await
        }
        (["v1", "scripts", name], Method::GET) => get_script(state, &checked_name(name)?),
        (["v1", "scripts", name], Method::DELETE) => delete_script(state, &checked_name(name)?),
        (["v1", "scripts", _], _) => Err(method_not_allowed("GET, PUT, DELETE")),
        (["v1", "scripts", name, "rollback"], Method::POST) => {
            let name = checked_name(name)?;
            rollback(state, &name, req).await
        }
        (["v1", "scripts", _, "rollback"], _) => Err(method_not_allowed("POST")),
        (["v1", "scripts", name, "tail"], Method::GET) => tail(state, &checked_name(name)?),
        (["v1", "scripts", _, "tail"], _) => Err(method_not_allowed("GET")),
        (["v1", "routes"], Method::GET) => list_routes(state),
        (["v1", "routes"], _) => Err(method_not_allowed("GET")),
        (["v1", "routes", id], Method::PUT) => {
            let id = checked_route_id(id)?;
            put_route(state, &id, req).await
        }
        (["v1", "routes", id], Method::GET) => get_route(state, &checked_route_id(id)?),
        (["v1", "routes", id], Method::DELETE) => delete_route(state, &checked_route_id(id)?),
        (["v1", "routes", _], _) => Err(method_not_allowed("GET, PUT, DELETE")),
        (["v1", "kv", ..], _) => Err(RuntimeError::NotFound(
            "KV endpoints are /v1/kv/{namespace}/values/{key} and /v1/kv/{namespace}/keys".into(),
        )),
        (["metrics"], Method::GET) => Ok(metrics(state)),
        (["metrics"], _) => Err(method_not_allowed("GET")),
        _ => Err(RuntimeError::NotFound(format!(
            "no endpoint {path}: see docs/admin-api.md (/v1/scripts, /v1/routes, /healthz)"
        ))),
    }
}

fn method_not_allowed(allowed: &'static str) -> RuntimeError {
    RuntimeError::MethodNotAllowed { allowed }
}

/// `GET /metrics`: the Prometheus text format.
fn metrics(state: &AdminState) -> AdminResponse {
    let text = state.observe.metrics.render(state.registry.script_count());
    let mut res = AdminResponse::new(full(text));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

/// `GET /v1/scripts/{name}/tail`: the script's console output and request
/// outcomes from now on, as NDJSON, until the client goes or the script
/// is deleted.
fn tail(state: &AdminState, name: &str) -> Result<AdminResponse, RuntimeError> {
    if state.registry.script(name).is_none() {
        return Err(RuntimeError::NotFound(format!("no script {name}")));
    }
    let series = state.observe.metrics.series(name);
    tracing::info!(target: "islet::admin", script = name, "tail started");
    let mut res = AdminResponse::new(TailStream::subscribe(series).boxed_unsync());
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    Ok(res)
}

fn checked_name(name: &str) -> Result<String, RuntimeError> {
    if upload::valid_script_name(name) {
        Ok(name.to_string())
    } else {
        Err(RuntimeError::bad_request(format!(
            "invalid script name {name:?}: use 1 to 63 letters, digits, '-' or '_', starting with a letter or digit"
        )))
    }
}

fn checked_route_id(id: &str) -> Result<String, RuntimeError> {
    if upload::valid_route_id(id) {
        Ok(id.to_string())
    } else {
        Err(RuntimeError::bad_request(format!(
            "invalid route id {id:?}: use 1 to 128 letters, digits, '.', '-' or '_'"
        )))
    }
}

fn content_length(req: &Request<Incoming>) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Publishes the route table to the edge.
fn publish_routes(state: &AdminState, routes: &[RouteRecord]) {
    let routes: Vec<Route> = routes
        .iter()
        .map(|r| Route {
            pattern: r.pattern.clone(),
            script: r.script.clone(),
        })
        .collect();
    if let Err(e) = state.registry.set_routes(&routes) {
        // Patterns are checked before they are stored, so this means a
        // store written by something else; keep serving the old table.
        tracing::error!(target: "islet::admin", "stored routes do not compile: {e}");
    }
}

async fn upload_script(state: &AdminState, name: &str, req: Request<Incoming>) -> Result<AdminResponse, RuntimeError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let length = content_length(&req);
    let body = read_body(req.into_body(), length, state.max_upload_bytes).await?;
    let new = upload::parse(name, content_type.as_deref(), body).await?;
    if let Some(patterns) = &new.routes {
        upload::check_patterns(name, patterns)?;
    }
    upload::compile_check(name, &new, state.isolate)?;
    let routes_changed = new.routes.is_some();
    let deployed = state.store.deploy(name, new)?;
    // Durable now: publish. New requests get this version from here on.
    state
        .registry
        .put_script(deployed.version.to_script_version(name).with_kv_store(&state.kv));
    if routes_changed {
        publish_routes(state, &deployed.routes);
    }
    tracing::info!(
        target: "islet::admin",
        script = name,
        version = deployed.version.version,
        modules = deployed.version.modules.len(),
        vars = deployed.version.bindings.vars.len(),
        secrets = deployed.version.bindings.secrets.len(),
        kv = deployed.version.bindings.kv_namespaces.len(),
        "deployed"
    );
    let status = if deployed.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut body = views::version(&deployed.version, true);
    body["name"] = json!(name);
    body["created"] = json!(deployed.created);
    body["routes"] = views::routes_of(name, &deployed.routes);
    Ok(json_response(status, &body))
}

fn list_scripts(state: &AdminState) -> Result<AdminResponse, RuntimeError> {
    let routes = state.store.routes()?;
    let scripts: Vec<_> = state
        .store
        .scripts()?
        .iter()
        .map(|s| views::script_summary(s, &routes))
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "scripts": scripts })))
}

fn get_script(state: &AdminState, name: &str) -> Result<AdminResponse, RuntimeError> {
    let details = state
        .store
        .script(name)?
        .ok_or_else(|| RuntimeError::NotFound(format!("no script named {name:?}")))?;
    let routes = state.store.routes()?;
    Ok(json_response(StatusCode::OK, &views::script_details(&details, &routes)))
}

fn delete_script(state: &AdminState, name: &str) -> Result<AdminResponse, RuntimeError> {
    let (removed, left) = state.store.delete_script(name)?;
    // Routes first, so that no route points at a missing script.
    publish_routes(state, &left);
    state.registry.remove_script(name);
    state.observe.metrics.forget_script(name);
    tracing::info!(target: "islet::admin", script = name, routes = removed.len(), "deleted");
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "deleted": name,
            "routes_removed": removed.iter().map(views::route).collect::<Vec<_>>(),
        }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    #[serde(default)]
    version: Option<u64>,
}

async fn rollback(state: &AdminState, name: &str, req: Request<Incoming>) -> Result<AdminResponse, RuntimeError> {
    let length = content_length(&req);
    let body = read_body(req.into_body(), length, state.max_upload_bytes).await?;
    let wanted: RollbackBody = if body.iter().all(u8::is_ascii_whitespace) {
        RollbackBody::default()
    } else {
        parse_json(&body, "{\"version\": N} or an empty body")?
    };
    let (script, version, from) = state.store.rollback(name, wanted.version)?;
    state
        .registry
        .put_script(version.to_script_version(name).with_kv_store(&state.kv));
    tracing::info!(target: "islet::admin", script = name, from, to = version.version, "rolled back");
    let mut body = views::version(&version, true);
    body["name"] = json!(script.name);
    body["rolled_back_from"] = json!(from);
    Ok(json_response(StatusCode::OK, &body))
}

fn list_routes(state: &AdminState) -> Result<AdminResponse, RuntimeError> {
    let routes: Vec<_> = state.store.routes()?.iter().map(views::route).collect();
    Ok(json_response(StatusCode::OK, &json!({ "routes": routes })))
}

fn get_route(state: &AdminState, id: &str) -> Result<AdminResponse, RuntimeError> {
    let routes = state.store.routes()?;
    let route = routes
        .iter()
        .find(|r| r.id == id)
        .ok_or_else(|| RuntimeError::NotFound(format!("no route with id {id:?}")))?;
    Ok(json_response(StatusCode::OK, &views::route(route)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteBody {
    pattern: String,
    script: String,
    #[serde(default)]
    id: Option<String>,
}

async fn put_route(state: &AdminState, id: &str, req: Request<Incoming>) -> Result<AdminResponse, RuntimeError> {
    let length = content_length(&req);
    let body = read_body(req.into_body(), length, state.max_upload_bytes).await?;
    let body: RouteBody = parse_json(&body, "{\"pattern\": \"example.com/*\", \"script\": \"name\"}")?;
    if body.id.as_deref().is_some_and(|b| b != id) {
        return Err(RuntimeError::bad_request(format!(
            "the body's id {:?} differs from the path's {id:?}",
            body.id.unwrap_or_default()
        )));
    }
    let script = checked_name(&body.script)?;
    upload::check_patterns(&script, std::slice::from_ref(&body.pattern))?;
    let route = RouteRecord {
        id: id.to_string(),
        pattern: body.pattern.trim().to_string(),
        script,
    };
    let (created, all) = state.store.put_route(&route)?;
    publish_routes(state, &all);
    tracing::info!(target: "islet::admin", id, pattern = %route.pattern, script = %route.script, "route set");
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json_response(status, &views::route(&route)))
}

fn delete_route(state: &AdminState, id: &str) -> Result<AdminResponse, RuntimeError> {
    let (removed, left) = state.store.delete_route(id)?;
    publish_routes(state, &left);
    tracing::info!(target: "islet::admin", id, "route deleted");
    Ok(json_response(
        StatusCode::OK,
        &json!({ "deleted": views::route(&removed) }),
    ))
}
