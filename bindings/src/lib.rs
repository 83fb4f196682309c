//! Host side of islet's Web APIs and bindings.
//!
//! Every binding is a Rust module here (`op_<binding>_<verb>` functions)
//! beside a JavaScript file in `js/` that uses them. The host-call mechanism
//! itself (how an op is registered, how an async op's promise is resolved)
//! is in [`host`]; the runtime crate drives it from its event loop. This
//! crate never depends on the runtime: what a binding needs from it (the
//! request's response channel, the script's name) lives in [`host::HostState`],
//! which the runtime creates and installs in each isolate.

pub mod body;
pub mod console;
pub mod crypto;
pub mod encoding;
pub mod error;
pub mod fetch;
pub mod host;
pub mod http_types;
pub mod kv;
pub mod limits;
pub mod resources;
pub mod timers;
pub mod url;
pub mod v8_util;

pub use error::BindingError;
pub use host::{HostState, OpDecl};

/// Every op of every binding, in a fixed order. The order is part of the
/// startup snapshot: the build and the runtime must use the same list.
pub fn op_decls() -> Vec<OpDecl> {
    let mut ops = Vec::new();
    ops.extend(console::ops());
    ops.extend(timers::ops());
    ops.extend(encoding::ops());
    ops.extend(url::ops());
    ops.extend(crypto::ops());
    ops.extend(body::ops());
    ops.extend(kv::ops());
    ops.extend(fetch::ops());
    ops
}

/// External references for the snapshot: each op callback, and for a
/// fast-API overload its `CFunction` (V8 keeps a pointer to it), its
/// address and its type info.
pub fn external_references() -> Vec<v8::ExternalReference> {
    let mut refs = Vec::new();
    for op in op_decls() {
        refs.push(v8::ExternalReference { function: op.callback });
        if let Some(fast) = op.fast {
            let fast = &fast.0;
            refs.push(v8::ExternalReference {
                pointer: std::ptr::from_ref(fast).cast_mut().cast(),
            });
            refs.push(v8::ExternalReference {
                pointer: fast.address().cast_mut(),
            });
            refs.push(v8::ExternalReference {
                type_info: std::ptr::from_ref(fast.type_info()),
            });
        }
    }
    refs
}
