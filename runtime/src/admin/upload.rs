//! Turning an upload (a JavaScript body, or multipart with modules and a
//! `metadata` part) into a checked [`NewVersion`], and compiling it in a
//! throwaway isolate before anything is stored.
//! Not for storing it (`store`) nor for publishing it (`api.rs`).

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use islet_bindings::host::Unobserved;
use serde::Deserialize;

use crate::error::{RuntimeError, ScriptErrorLocation};
use crate::isolate::{IsolateOptions, JsIsolate};
use crate::router::{Route, RouteTable};
use crate::script::{detect_format, ScriptFormat, ScriptVersion};
use crate::store::{BindingsUpdate, NewVersion, ScriptLimits};

/// The `metadata` part of a multipart upload.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    /// Entry module; the first module part when absent.
    #[serde(default, alias = "main_module")]
    main: Option<String>,
    #[serde(default)]
    bindings: Option<MetadataBindings>,
    #[serde(default)]
    limits: Option<ScriptLimits>,
    #[serde(default)]
    routes: Option<Vec<RouteSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetadataBindings {
    #[serde(default)]
    vars: Option<BTreeMap<String, String>>,
    #[serde(default)]
    secrets: Option<BTreeMap<String, Option<String>>>,
    #[serde(default)]
    kv_namespaces: Option<BTreeMap<String, String>>,
}

/// A route in metadata: `"example.com/*"` or `{"pattern": "example.com/*"}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RouteSpec {
    Pattern(String),
    Object {
        /// The pattern.
        pattern: String,
    },
}

impl RouteSpec {
    fn into_pattern(self) -> String {
        match self {
            RouteSpec::Pattern(p) | RouteSpec::Object { pattern: p } => p,
        }
    }
}

/// Whether `name` can name a script: 1 to 63 ASCII letters, digits, `-`
/// and `_`, starting with a letter or digit.
pub fn valid_script_name(name: &str) -> bool {
    valid_id(name, 63, false)
}

/// Whether `id` can name a route: like a script name, up to 128 characters,
/// dots allowed.
pub fn valid_route_id(id: &str) -> bool {
    valid_id(id, 128, true)
}

fn valid_id(s: &str, max: usize, dots: bool) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && s.len() <= max
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (dots && b == b'.'))
}

/// Parses an upload body by its content type.
pub async fn parse(name: &str, content_type: Option<&str>, body: Bytes) -> Result<NewVersion, RuntimeError> {
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match essence.as_str() {
        "multipart/form-data" => parse_multipart(content_type.unwrap_or_default(), body).await,
        // `application/x-www-form-urlencoded` is what `curl --data-binary`
        // sends when no type is given: take it as the script it is.
        ""
        | "application/javascript"
        | "application/javascript+module"
        | "text/javascript"
        | "application/ecmascript"
        | "text/plain"
        | "application/octet-stream"
        | "application/x-www-form-urlencoded" => parse_single(name, body),
        other => Err(RuntimeError::UnsupportedMediaType(format!(
            "content type {other:?} is not an upload: send the script as application/javascript, \
             or multipart/form-data with modules and a metadata part"
        ))),
    }
}

fn utf8(path: &str, bytes: Bytes) -> Result<String, RuntimeError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| RuntimeError::bad_request(format!("module {path:?} is not UTF-8 text")))
}

fn parse_single(name: &str, body: Bytes) -> Result<NewVersion, RuntimeError> {
    let main = format!("{name}.js");
    let source = utf8(&main, body)?;
    if source.trim().is_empty() {
        return Err(RuntimeError::bad_request("the script is empty"));
    }
    let format = detect_format(&source);
    Ok(NewVersion {
        modules: BTreeMap::from([(main.clone(), source)]),
        main,
        format,
        bindings: BindingsUpdate::default(),
        limits: None,
        routes: None,
    })
}

fn multipart_error(e: multer::Error) -> RuntimeError {
    RuntimeError::bad_request(format!("malformed multipart body: {e}"))
}

/// Checks a module path: relative, `/`-separated, no `..`, a `.js` or
/// `.mjs` name.
fn check_module_path(path: &str, content_type: Option<&str>) -> Result<(), RuntimeError> {
    if path.ends_with(".wasm") || content_type == Some("application/wasm") {
        return Err(RuntimeError::bad_request(format!(
            "module {path:?}: WebAssembly modules are not supported yet; compile the bytes in JavaScript \
             (WebAssembly.instantiate) instead"
        )));
    }
    let clean = !path.is_empty()
        && path.len() <= 256
        && !path.starts_with('/')
        && !path.contains('\\')
        && path.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    if !clean {
        return Err(RuntimeError::bad_request(format!(
            "module name {path:?} must be a relative path like \"lib/util.js\" without \"..\""
        )));
    }
    if !(path.ends_with(".js") || path.ends_with(".mjs")) {
        return Err(RuntimeError::bad_request(format!(
            "module {path:?}: only JavaScript modules (.js, .mjs) are supported"
        )));
    }
    Ok(())
}

async fn parse_multipart(content_type: &str, body: Bytes) -> Result<NewVersion, RuntimeError> {
    let boundary = multer::parse_boundary(content_type).map_err(multipart_error)?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut modules = BTreeMap::new();
    let mut first_module = None;
    let mut metadata: Option<Metadata> = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let field_name = field.name().map(str::to_string);
        let path = field.file_name().map(str::to_string).or_else(|| field_name.clone());
        let content_type = field.content_type().map(|m| m.essence_str().to_string());
        let data = field.bytes().await.map_err(multipart_error)?;
        if field_name.as_deref() == Some("metadata") {
            if metadata.is_some() {
                return Err(RuntimeError::bad_request("more than one metadata part"));
            }
            let parsed = serde_json::from_slice(&data).map_err(|e| {
                RuntimeError::bad_request(format!(
                    "malformed metadata JSON: {e} (expected {{\"main\", \"bindings\": {{\"vars\", \"secrets\", \
                     \"kv_namespaces\"}}, \"limits\", \"routes\"}})"
                ))
            })?;
            metadata = Some(parsed);
            continue;
        }
        let Some(path) = path else {
            return Err(RuntimeError::bad_request("a multipart part has no name"));
        };
        check_module_path(&path, content_type.as_deref())?;
        let source = utf8(&path, data)?;
        if modules.insert(path.clone(), source).is_some() {
            return Err(RuntimeError::bad_request(format!("module {path:?} is uploaded twice")));
        }
        first_module.get_or_insert(path);
    }
    let metadata = metadata.unwrap_or(Metadata {
        main: None,
        bindings: None,
        limits: None,
        routes: None,
    });
    let main = match metadata.main.or(first_module) {
        Some(m) => m,
        None => return Err(RuntimeError::bad_request("the upload has no module")),
    };
    let Some(main_source) = modules.get(&main) else {
        let names: Vec<&str> = modules.keys().map(String::as_str).collect();
        return Err(RuntimeError::bad_request(format!(
            "main module {main:?} is not among the uploaded modules ({})",
            names.join(", ")
        )));
    };
    let format = if modules.len() > 1 {
        ScriptFormat::Module
    } else {
        detect_format(main_source)
    };
    let bindings = match metadata.bindings {
        Some(b) => BindingsUpdate {
            vars: b.vars,
            secrets: b.secrets.unwrap_or_default(),
            kv_namespaces: b.kv_namespaces,
        },
        None => BindingsUpdate::default(),
    };
    check_binding_names(&bindings)?;
    Ok(NewVersion {
        modules,
        main,
        format,
        bindings,
        limits: metadata.limits,
        routes: metadata
            .routes
            .map(|r| r.into_iter().map(RouteSpec::into_pattern).collect()),
    })
}

fn check_binding_names(bindings: &BindingsUpdate) -> Result<(), RuntimeError> {
    let names = bindings
        .vars
        .iter()
        .flat_map(|m| m.keys())
        .chain(bindings.secrets.keys())
        .chain(bindings.kv_namespaces.iter().flat_map(|m| m.keys()));
    for name in names {
        if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
            return Err(RuntimeError::bad_request(format!(
                "binding name {name:?} must be 1 to 128 characters without control characters"
            )));
        }
    }
    for ns in bindings.kv_namespaces.iter().flat_map(|m| m.values()) {
        if ns.is_empty() || ns.len() > 256 {
            return Err(RuntimeError::bad_request(format!(
                "KV namespace {ns:?} must be 1 to 256 characters"
            )));
        }
    }
    Ok(())
}

/// Rejects route patterns the router would not accept.
pub fn check_patterns(script: &str, patterns: &[String]) -> Result<(), RuntimeError> {
    let routes: Vec<Route> = patterns
        .iter()
        .map(|p| Route {
            pattern: p.clone(),
            script: script.to_string(),
        })
        .collect();
    RouteTable::new(&routes).map(|_| ()).map_err(|e| {
        RuntimeError::bad_request(format!(
            "{e}; patterns look like example.com/api/*, *.example.com/*, */*"
        ))
    })
}

/// Loads the upload into a fresh isolate, as a cold start would, and
/// reports a compile or top-level error as a 400 with its location.
/// Runs on the admin thread; the isolate is dropped at once.
pub fn compile_check(name: &str, new: &NewVersion, options: IsolateOptions) -> Result<(), RuntimeError> {
    let script = Arc::new(ScriptVersion {
        name: name.to_string(),
        version: 0,
        modules: new.modules.clone(),
        main: new.main.clone(),
        format: new.format,
        vars: BTreeMap::new(),
        limits: new.limits.clone().unwrap_or_default(),
        kv: Default::default(),
    });
    match JsIsolate::new(script, Rc::new(Unobserved), options) {
        Ok(isolate) => {
            drop(isolate);
            Ok(())
        }
        Err(RuntimeError::Script { message, location }) => {
            let location = location.or_else(|| location_in_stack(&message, &new.modules));
            Err(RuntimeError::BadRequest { message, location })
        }
        Err(other) => Err(other),
    }
}

/// The first stack frame of `stack` that is in one of the script's
/// modules: an error thrown while a module body runs comes with its stack
/// but without a V8 message location.
fn location_in_stack(stack: &str, modules: &BTreeMap<String, String>) -> Option<ScriptErrorLocation> {
    stack.lines().skip(1).find_map(|line| {
        let frame = line.trim().strip_prefix("at ")?;
        let frame = match (frame.rfind('('), frame.ends_with(')')) {
            (Some(open), true) => &frame[open + 1..frame.len() - 1],
            _ => frame,
        };
        let mut parts = frame.rsplitn(3, ':');
        let column = parts.next()?.parse().ok()?;
        let line = parts.next()?.parse().ok()?;
        let file = parts.next()?;
        modules.contains_key(file).then(|| ScriptErrorLocation {
            file: file.to_string(),
            line,
            column,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert!(valid_script_name("hello-world_2"));
        assert!(!valid_script_name("-x"));
        assert!(!valid_script_name("a/b"));
        assert!(!valid_script_name(&"a".repeat(64)));
        assert!(valid_route_id("api.v1"));
        assert!(check_module_path("lib/util.js", None).is_ok());
        assert!(check_module_path("../x.js", None).is_err());
        assert!(check_module_path("/x.js", None).is_err());
        assert!(check_module_path("x.wasm", None).is_err());
        assert!(check_module_path("x.txt", None).is_err());
    }

    #[test]
    fn locations_come_from_the_stack_when_v8_gives_none() {
        let modules = BTreeMap::from([("app.js".to_string(), String::new())]);
        let stack = "Error: boom\n    at inner (app.js:7:11)\n    at app.js:2:7";
        let loc = location_in_stack(stack, &modules).unwrap();
        assert_eq!((loc.file.as_str(), loc.line, loc.column), ("app.js", 7, 11));
        assert!(location_in_stack("Error: boom\n    at other.js:1:1", &modules).is_none());
    }
}
