//! Builds the startup snapshot: evaluates every file of `js/` in order in a
//! fresh context, with the ops installed, and serializes the heap.
//!
//! Compiled twice: into the build script (which writes the snapshot to
//! `OUT_DIR`) and into the runtime (for the external references and the
//! wrapper, which both sides must agree on). Not for loading snapshots:
//! that is `isolate.rs`.

/// Index of the context embedder-data slot that holds the `internals` object.
pub const INTERNALS_SLOT: i32 = 0;

/// Text placed before each runtime file, on its first line so that line
/// numbers in stack traces match the file.
pub const WRAPPER_HEAD: &str = "(function (primordials, ops, internals) { \"use strict\"; ";
/// Text placed after each runtime file.
pub const WRAPPER_TAIL: &str = "\n})";

/// Evaluates `files` (name, source) in order and returns the snapshot blob,
/// or a message naming the file, line and error that stopped it.
#[allow(dead_code)]
pub fn build_snapshot(files: &[(String, String)]) -> Result<Vec<u8>, String> {
    let refs = islet_bindings::external_references();
    let mut creator = v8::Isolate::snapshot_creator(Some(refs.into()), None);
    let mut failure = None;
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
        for (name, source) in files {
            if let Err(e) = run_file(scope, name, source, &[primordials.into(), ops.into(), internals.into()]) {
                failure = Some(e);
                break;
            }
        }
        if failure.is_none() {
            failure = warm_up(scope, internals).err();
        }
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

fn run_file(scope: &mut v8::PinScope, name: &str, source: &str, args: &[v8::Local<v8::Value>]) -> Result<(), String> {
    v8::tc_scope!(let tc, scope);
    let wrapped = format!("{WRAPPER_HEAD}{source}{WRAPPER_TAIL}");
    let code = v8::String::new(tc, &wrapped).ok_or_else(|| format!("{name}: source too large"))?;
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
