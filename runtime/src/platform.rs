//! Process-wide V8 set-up: the platform (once), the startup snapshot blob
//! and the external-reference table every isolate is created with.

use std::borrow::Cow;
use std::sync::{Once, OnceLock};

/// The startup snapshot built by `build.rs` from `js/`.
pub static SNAPSHOT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/snapshot.bin"));

include!(concat!(env!("OUT_DIR"), "/runtime_sources.rs"));

static INIT: Once = Once::new();

/// Initialises V8 once per process. Safe to call from any thread, any number
/// of times. `ISLET_V8_FLAGS`, when set, passes V8 flags for diagnosis
/// (for example `--perf-basic-prof` to name JIT code in `perf` profiles).
pub fn init_v8() {
    INIT.call_once(|| {
        if let Ok(flags) = std::env::var("ISLET_V8_FLAGS") {
            v8::V8::set_flags_from_string(&flags);
        }
        let platform = v8::new_default_platform(0, false).make_shared();
        v8::V8::initialize_platform(platform);
        v8::V8::initialize();
    });
}

struct ExternalRefs(Vec<v8::ExternalReference>);

// SAFETY: the table holds only addresses of `extern "C"` functions and of
// immutable statics (the runtime's sources, `OneByteConst` is `Sync`); it
// is built once, never mutated, and V8 only reads it.
unsafe impl Sync for ExternalRefs {}
// SAFETY: as above; the addresses are valid on every thread.
unsafe impl Send for ExternalRefs {}

static REFS: OnceLock<ExternalRefs> = OnceLock::new();

/// External references matching the ones the snapshot was built with.
pub fn external_references() -> Cow<'static, [v8::ExternalReference]> {
    let refs = REFS.get_or_init(|| {
        let mut v = crate::snapshot_builder::external_references(RUNTIME_SOURCES);
        v.push(v8::ExternalReference {
            pointer: std::ptr::null_mut(),
        });
        ExternalRefs(v)
    });
    Cow::Borrowed(&refs.0)
}

/// Runs `f` to completion on a current-thread tokio runtime with a
/// `LocalSet`, as every thread that runs JavaScript does (host calls spawn
/// local tasks). `what` names the thread in the error logged when the
/// runtime cannot start; `None` then.
pub fn block_on_local<F: std::future::Future>(what: &str, f: F) -> Option<F::Output> {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the {what} runtime: {e}");
            return None;
        }
    };
    Some(tokio::task::LocalSet::new().block_on(&runtime, f))
}
