//! Builds the startup snapshot: evaluates every file of `js/` in order in a
//! fresh context, with the ops installed, and serializes the heap.
//!
//! Compiled twice: into the build script (which writes the snapshot to
//! `OUT_DIR`) and into the runtime (for the external references and the
//! wrapper, which both sides must agree on). Not for loading snapshots:
//! that is `isolate.rs`.
//!
//! The runtime's source text is not copied into the snapshot. Each file is
//! compiled from an external string whose resource (a `v8::OneByteConst`)
//! is listed among the external references, so the snapshot records only
//! its index; an isolate made from the snapshot points its scripts at the
//! same text, which the runtime binary embeds once (`platform.rs`). Each
//! isolate is spared deserialising, and holding, some 280 KB of source.

/// Index of the context embedder-data slot that holds the `internals` object.
pub const INTERNALS_SLOT: i32 = 0;

/// Text placed before each runtime file, on its first line so that line
/// numbers in stack traces match the file.
pub const WRAPPER_HEAD: &str = "(function (primordials, ops, internals) { \"use strict\"; ";
/// Text placed after each runtime file.
pub const WRAPPER_TAIL: &str = "\n})";

/// One file of `js/`: its name and its text, already wrapped in
/// [`WRAPPER_HEAD`] and [`WRAPPER_TAIL`].
pub type RuntimeSource = (&'static str, &'static v8::OneByteConst);

/// The external references of the ops, then one per runtime source: the
/// build script and the runtime must list them in the same order.
pub fn external_references(sources: &[RuntimeSource]) -> Vec<v8::ExternalReference> {
    let mut refs = islet_bindings::external_references();
    refs.extend(sources.iter().map(|(_, text)| v8::ExternalReference {
        pointer: std::ptr::from_ref::<v8::OneByteConst>(text).cast_mut().cast(),
    }));
    refs
}

/// Evaluates `files` in order and returns the snapshot blob, or a message
/// naming the file, line and error that stopped it.
#[allow(dead_code)]
pub fn build_snapshot(files: &[RuntimeSource]) -> Result<Vec<u8>, String> {
    let refs = external_references(files);
    let mut creator = v8::Isolate::snapshot_creator(Some(refs.into()), None);
    let failure;
    {
        v8::scope!(let scope, &mut creator);
        let context = v8::Context::new(scope, Default::default());
        let scope = &mut v8::ContextScope::new(scope, context);
        let ops = v8::Object::new(scope);
        islet_bindings::host::install_ops(scope, ops, &islet_bindings::op_decls());
        let primordials = v8::Object::new(scope);
        let internals = v8::Object::new(scope);
        // Ops reach their state through the isolate slot; the warm-up below
        // runs some of them. The slot is not part of the snapshot.
        scope.set_slot(islet_bindings::HostState::new(
            std::rc::Rc::from("snapshot"),
            std::rc::Rc::new(islet_bindings::host::Unobserved),
        ));
        let args = [primordials.into(), ops.into(), internals.into()];
        failure = offer_primordial_names(scope, internals, files)
            .and_then(|()| {
                files
                    .iter()
                    .try_for_each(|(name, source)| run_file(scope, name, source, &args))
            })
            .and_then(|()| warm_up(scope, internals))
            .err();
        scope.remove_slot::<islet_bindings::HostState>();
        context.set_embedder_data(INTERNALS_SLOT, internals.into());
        // The slot annex holds a weak handle; none may outlive the snapshot.
        context.clear_all_slots();
        scope.set_default_context(context);
    }
    if let Some(e) = failure {
        // A snapshot creator may not be dropped without making a blob, and
        // a blob cannot be made from a half-run context: leak it, the build
        // is failing anyway.
        std::mem::forget(creator);
        return Err(e);
    }
    creator
        .create_blob(v8::FunctionCodeHandling::Keep)
        .map(|blob| blob.to_vec())
        .ok_or_else(|| "V8 could not create the snapshot blob".to_string())
}

/// Calls `internals.warmUp()` so the request path is compiled into the snapshot.
fn warm_up(scope: &mut v8::PinScope, internals: v8::Local<v8::Object>) -> Result<(), String> {
    v8::tc_scope!(let tc, scope);
    let key = v8::String::new(tc, "warmUp").ok_or("warmUp")?;
    let Some(f) = internals
        .get(tc, key.into())
        .and_then(|f| v8::Local::<v8::Function>::try_from(f).ok())
    else {
        return Ok(());
    };
    let undefined = v8::undefined(tc).into();
    if f.call(tc, undefined, &[]).is_none() {
        let text = tc.exception().map(|e| e.to_rust_string_lossy(tc)).unwrap_or_default();
        return Err(format!("internals.warmUp failed: {text}"));
    }
    tc.perform_microtask_checkpoint();
    Ok(())
}

/// Sets `internals.primordialNames` to the words of every runtime file, as
/// a `{ word: true }` object: `00_primordials.js` copies only the builtin
/// methods some file names, so the snapshot does not carry (nor every
/// context deserialise) a bound copy of each. A file reads a primordial by
/// its whole name (`primordials.X`, destructured, or a string holding the
/// name), so its words cover what it can read.
fn offer_primordial_names(
    scope: &mut v8::PinScope,
    internals: v8::Local<v8::Object>,
    files: &[RuntimeSource],
) -> Result<(), String> {
    let names = v8::Object::new(scope);
    let yes = v8::Boolean::new(scope, true);
    for word in words_of(files.iter().map(|(_, text)| text.as_str())) {
        let key = v8::String::new(scope, word).ok_or("primordial name")?;
        names.set(scope, key.into(), yes.into()).ok_or("primordial name")?;
    }
    let key = v8::String::new(scope, "primordialNames").ok_or("primordialNames")?;
    internals
        .set(scope, key.into(), names.into())
        .ok_or("primordialNames")?;
    Ok(())
}

/// Every identifier-like word in `texts`.
fn words_of<'t>(texts: impl Iterator<Item = &'t str>) -> std::collections::HashSet<&'t str> {
    let mut words = std::collections::HashSet::new();
    for text in texts {
        words.extend(
            text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
                .filter(|w| !w.is_empty()),
        );
    }
    words
}

fn run_file(
    scope: &mut v8::PinScope,
    name: &str,
    source: &'static v8::OneByteConst,
    args: &[v8::Local<v8::Value>],
) -> Result<(), String> {
    v8::tc_scope!(let tc, scope);
    let code = v8::String::new_from_onebyte_const(tc, source).ok_or_else(|| format!("{name}: source too large"))?;
    let resource = v8::String::new(tc, &format!("islet:{name}")).ok_or("name")?;
    let origin = v8::ScriptOrigin::new(tc, resource.into(), 0, 0, false, 0, None, false, false, false, None);
    let result = v8::Script::compile(tc, code, Some(&origin))
        .and_then(|script| script.run(tc))
        .and_then(|f| v8::Local::<v8::Function>::try_from(f).ok())
        .and_then(|f| {
            let undefined = v8::undefined(tc).into();
            f.call(tc, undefined, args)
        });
    if result.is_some() {
        return Ok(());
    }
    let detail = match (tc.exception(), tc.message()) {
        (Some(exception), Some(message)) => {
            let line = message.get_line_number(tc).unwrap_or(0);
            let text = exception.to_rust_string_lossy(tc);
            let stack = tc.stack_trace().map(|s| s.to_rust_string_lossy(tc)).unwrap_or_default();
            format!("line {line}: {text}\n{stack}")
        }
        _ => "unknown error".to_string(),
    };
    Err(format!("js/{name}: {detail}"))
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::sync::Arc;

    use crate::isolate::{IsolateOptions, JsIsolate};
    use crate::script::ScriptVersion;

    /// Loads `source` into a fresh isolate; the load's error, if any.
    fn load(source: &str) -> Option<String> {
        let script = Arc::new(ScriptVersion::single("test", 1, source.into()));
        crate::platform::block_on_local("test", async move {
            JsIsolate::new(
                script,
                Rc::new(islet_bindings::host::Unobserved),
                IsolateOptions::default(),
            )
            .err()
            .map(|e| e.to_string())
        })
        .expect("runtime")
    }

    #[test]
    fn runtime_functions_keep_their_source_text_and_line_numbers() {
        // The text is an external string the snapshot only points at: a
        // wrong reference would show here as other text or other lines.
        const SCRIPT: &str = r#"
const text = Response.toString();
if (!text.startsWith("class Response")) throw new Error("source: " + text.slice(0, 60));
let stack = "";
try { new Response(null, { status: 1000 }); } catch (e) { stack = String(e.stack); }
const at = /islet:16_response\.js:(\d+)/.exec(stack);
throw new Error("line " + (at ? at[1] : "missing in " + stack));
"#;
        let thrown = include_str!("../../js/16_response.js")
            .lines()
            .position(|l| l.contains("is outside the range [200, 599]"))
            .expect("the status check in js/16_response.js")
            + 1;
        let failure = load(SCRIPT).expect("the script throws its finding");
        assert!(failure.contains(&format!("line {thrown}")), "{failure}");
    }

    #[test]
    fn the_primordials_a_runtime_file_reads_by_a_built_name_are_kept() {
        // structuredClone reads the RegExp flag getters by name at load
        // time; without them a clone loses its flags.
        const SCRIPT: &str = r#"
const copy = structuredClone(/ab+c/giu);
if (copy.flags !== "giu") throw new Error("flags " + copy.flags);
export default { fetch() { return new Response("ok"); } };
"#;
        assert_eq!(load(SCRIPT), None);
    }
}
