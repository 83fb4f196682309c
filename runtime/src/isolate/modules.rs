//! Compiling and linking a script's ES modules inside one isolate:
//! `import` specifiers resolve relative to the importing module, among the
//! script's own modules only (no network, no file system).

use std::collections::HashMap;

use crate::error::{RuntimeError, ScriptErrorLocation};
use crate::script::ScriptVersion;

/// The modules of one script being linked, kept in the isolate slot while
/// V8 calls [`resolve_callback`].
#[derive(Default)]
struct ModuleMap {
    by_path: HashMap<String, v8::Global<v8::Module>>,
    path_of: HashMap<i32, String>,
}

/// Resolves `specifier` imported from `referrer` (both module paths).
pub fn resolve_specifier(referrer: &str, specifier: &str) -> String {
    if !(specifier.starts_with("./") || specifier.starts_with("../") || specifier.starts_with('/')) {
        return specifier.to_string();
    }
    let mut parts: Vec<&str> = if specifier.starts_with('/') {
        Vec::new()
    } else {
        let mut p: Vec<&str> = referrer.split('/').collect();
        p.pop();
        p
    };
    for seg in specifier.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// Turns the pending exception of `tc` into a script error with location.
pub fn script_error(
    tc: &mut v8::PinScope<'_, '_>,
    exception: Option<v8::Local<v8::Value>>,
    message: Option<v8::Local<v8::Message>>,
    fallback_file: &str,
) -> RuntimeError {
    let text = exception.map_or_else(|| "unknown error".to_string(), |e| e.to_rust_string_lossy(tc));
    let location = message.map(|m| ScriptErrorLocation {
        file: m
            .get_script_resource_name(tc)
            .map_or_else(|| fallback_file.to_string(), |n| n.to_rust_string_lossy(tc)),
        line: m.get_line_number(tc).unwrap_or(0),
        column: m.get_start_column() + 1,
    });
    RuntimeError::Script {
        message: text,
        location,
    }
}

fn origin<'s>(scope: &mut v8::PinScope<'s, '_>, name: &str, is_module: bool) -> v8::ScriptOrigin<'s> {
    let name = islet_bindings::v8_util::new_string(scope, name);
    v8::ScriptOrigin::new(scope, name.into(), 0, 0, false, 0, None, false, false, is_module, None)
}

/// Runs a classic (service-worker) script.
pub fn run_classic(scope: &mut v8::PinScope, script: &ScriptVersion) -> Result<(), RuntimeError> {
    let source = script.modules.get(&script.main).map_or("", String::as_str);
    v8::tc_scope!(let tc, scope);
    let code = v8::String::new(tc, source).ok_or_else(|| RuntimeError::V8("script too large".into()))?;
    let origin = origin(tc, &script.main, false);
    let ok = v8::Script::compile(tc, code, Some(&origin))
        .and_then(|s| s.run(tc))
        .is_some();
    if ok {
        Ok(())
    } else {
        let (e, m) = (tc.exception(), tc.message());
        Err(script_error(tc, e, m, &script.main))
    }
}

/// Compiles, links and evaluates the script's modules; returns the entry
/// module's namespace object.
pub fn run_modules<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    script: &ScriptVersion,
) -> Result<v8::Local<'s, v8::Object>, RuntimeError> {
    let mut map = ModuleMap::default();
    let main = compile_graph(scope, script, &script.main, &mut map)?;
    scope.set_slot(map);
    let result = {
        v8::tc_scope!(let tc, scope);
        let linked = main.instantiate_module(tc, resolve_callback);
        match linked {
            Some(true) => main.evaluate(tc).ok_or_else(|| {
                let (e, m) = (tc.exception(), tc.message());
                script_error(tc, e, m, &script.main)
            }),
            _ => {
                let (e, m) = (tc.exception(), tc.message());
                Err(script_error(tc, e, m, &script.main))
            }
        }
    };
    scope.remove_slot::<ModuleMap>();
    let promise = result?;
    scope.perform_microtask_checkpoint();
    if let Ok(promise) = v8::Local::<v8::Promise>::try_from(promise) {
        match promise.state() {
            v8::PromiseState::Rejected => {
                let e = promise.result(scope);
                let text = describe_exception(scope, e);
                return Err(RuntimeError::Script {
                    message: text,
                    location: None,
                });
            }
            v8::PromiseState::Pending => {
                return Err(RuntimeError::Script {
                    message:
                        "top-level await did not settle while the script loaded (I/O is not allowed at the top level)"
                            .into(),
                    location: None,
                });
            }
            v8::PromiseState::Fulfilled => {}
        }
    }
    let ns = main.get_module_namespace();
    v8::Local::<v8::Object>::try_from(ns).map_err(|_| RuntimeError::V8("module namespace is not an object".into()))
}

/// A printable form of an exception value: its stack if it has one.
pub fn describe_exception(scope: &mut v8::PinScope, e: v8::Local<v8::Value>) -> String {
    if let Ok(obj) = v8::Local::<v8::Object>::try_from(e) {
        let key = islet_bindings::v8_util::new_string(scope, "stack");
        if let Some(stack) = obj.get(scope, key.into()) {
            if stack.is_string() {
                return stack.to_rust_string_lossy(scope);
            }
        }
    }
    e.to_rust_string_lossy(scope)
}

fn compile_graph<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    script: &ScriptVersion,
    path: &str,
    map: &mut ModuleMap,
) -> Result<v8::Local<'s, v8::Module>, RuntimeError> {
    if let Some(existing) = map.by_path.get(path) {
        return Ok(v8::Local::new(scope, existing));
    }
    let source_text = script.modules.get(path).ok_or_else(|| RuntimeError::Script {
        message: format!(
            "module not found: {path:?} (the script has: {})",
            script.modules.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        location: None,
    })?;
    let module = {
        v8::tc_scope!(let tc, scope);
        let code = v8::String::new(tc, source_text).ok_or_else(|| RuntimeError::V8("module too large".into()))?;
        let origin = origin(tc, path, true);
        let mut source = v8::script_compiler::Source::new(code, Some(&origin));
        match v8::script_compiler::compile_module(tc, &mut source) {
            Some(m) => Ok(m),
            None => {
                let (e, m) = (tc.exception(), tc.message());
                Err(script_error(tc, e, m, path))
            }
        }
    }?;
    map.path_of.insert(module.get_identity_hash().get(), path.to_string());
    map.by_path.insert(path.to_string(), v8::Global::new(scope, module));
    let requests = module.get_module_requests();
    for i in 0..requests.length() {
        let Some(data) = requests.get(scope, i) else { continue };
        let Ok(request) = v8::Local::<v8::ModuleRequest>::try_from(data) else {
            continue;
        };
        let specifier = request.get_specifier().to_rust_string_lossy(scope);
        let target = resolve_specifier(path, &specifier);
        compile_graph(scope, script, &target, map).map_err(|e| match e {
            RuntimeError::Script {
                location: None,
                message,
            } if !script.modules.contains_key(&target) => RuntimeError::Script {
                message: format!("{path}: cannot resolve import {specifier:?}: {message}"),
                location: None,
            },
            other => other,
        })?;
    }
    Ok(module)
}

fn resolve_callback<'s>(
    context: v8::Local<'s, v8::Context>,
    specifier: v8::Local<'s, v8::String>,
    _import_attributes: v8::Local<'s, v8::FixedArray>,
    referrer: v8::Local<'s, v8::Module>,
) -> Option<v8::Local<'s, v8::Module>> {
    // SAFETY: V8 calls this during instantiate_module, inside a live scope
    // for `context`.
    v8::callback_scope!(unsafe scope, context);
    let specifier = specifier.to_rust_string_lossy(scope);
    let found = {
        let map = scope.get_slot::<ModuleMap>()?;
        let referrer_path = map.path_of.get(&referrer.get_identity_hash().get())?;
        let target = resolve_specifier(referrer_path, &specifier);
        map.by_path.get(&target).cloned()
    };
    found.map(|g| v8::Local::new(scope, g))
}

#[cfg(test)]
mod tests {
    use super::resolve_specifier;

    #[test]
    fn relative_specifiers_resolve_against_the_importer() {
        assert_eq!(resolve_specifier("index.js", "./lib/a.js"), "lib/a.js");
        assert_eq!(resolve_specifier("lib/a.js", "./b.js"), "lib/b.js");
        assert_eq!(resolve_specifier("lib/a.js", "../c.js"), "c.js");
        assert_eq!(resolve_specifier("lib/a.js", "/root.js"), "root.js");
        assert_eq!(resolve_specifier("lib/a.js", "hono"), "hono");
    }
}
