//! Host side of `crypto.getRandomValues` and `crypto.randomUUID`
//! (`js/08_crypto.js`), from the operating system's CSPRNG.

use crate::error::BindingError;
use crate::host::OpDecl;
use crate::op;
use crate::v8_util;

/// The crypto ops.
pub fn ops() -> Vec<OpDecl> {
    vec![op!(op_crypto_get_random_values), op!(op_crypto_random_uuid)]
}

/// Fills an integer typed array in place (JS checks type and the 65536-byte quota).
fn op_crypto_get_random_values(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    let Ok(view) = v8::Local::<v8::ArrayBufferView>::try_from(args.get(0)) else {
        return v8_util::throw(scope, &BindingError::Type("expected an integer TypedArray".into()));
    };
    let len = view.byte_length();
    if len == 0 {
        return;
    }
    let data = view.data();
    if data.is_null() {
        return;
    }
    // SAFETY: `data` points at `len` bytes of the view's live backing store;
    // no JS runs during this call, so nothing else aliases it.
    let bytes = unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) };
    if getrandom::getrandom(bytes).is_err() {
        v8_util::throw(scope, &BindingError::Io("the system random source failed".into()));
    }
}

fn op_crypto_random_uuid(scope: &mut v8::PinScope, _args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let id = uuid::Uuid::new_v4();
    let mut buf = uuid::Uuid::encode_buffer();
    let text = id.hyphenated().encode_lower(&mut buf);
    rv.set(v8_util::new_string(scope, text).into());
}
