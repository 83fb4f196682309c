//! Small conversions between V8 values and Rust values used by the ops.
//! Not for policy: nothing here knows about requests or bindings.

use crate::error::{BindingError, JsErrorClass};

/// Throws `err` as a JavaScript exception of its class in `scope`.
pub fn throw(scope: &mut v8::PinScope, err: &BindingError) {
    let exception = to_exception(scope, err);
    scope.throw_exception(exception);
}

/// Builds the JavaScript exception object for `err`.
pub fn to_exception<'s>(scope: &mut v8::PinScope<'s, '_>, err: &BindingError) -> v8::Local<'s, v8::Value> {
    let message = new_string(scope, &err.to_string());
    match err.js_class() {
        JsErrorClass::Error => v8::Exception::error(scope, message),
        JsErrorClass::TypeError => v8::Exception::type_error(scope, message),
        JsErrorClass::RangeError => v8::Exception::range_error(scope, message),
    }
}

/// A V8 string from Rust text; falls back to the empty string for text
/// longer than V8's string limit (callers check sizes before that matters).
pub fn new_string<'s>(scope: &v8::PinScope<'s, '_>, text: &str) -> v8::Local<'s, v8::String> {
    v8::String::new(scope, text).unwrap_or_else(|| v8::String::empty(scope))
}

/// Reads argument `i` as a Rust string (ToString semantics).
pub fn arg_string(
    scope: &mut v8::PinScope,
    args: &v8::FunctionCallbackArguments,
    i: i32,
) -> Result<String, BindingError> {
    let value = args.get(i);
    let s = value
        .to_string(scope)
        .ok_or_else(|| BindingError::Type(format!("argument {i} is not convertible to a string")))?;
    Ok(s.to_rust_string_lossy(scope))
}

/// Reads argument `i` as an unsigned 32-bit integer.
pub fn arg_u32(args: &v8::FunctionCallbackArguments, i: i32) -> Result<u32, BindingError> {
    let value = args.get(i);
    if let Ok(n) = v8::Local::<v8::Number>::try_from(value) {
        let n = n.value();
        if n >= 0.0 && n <= f64::from(u32::MAX) {
            // Truncation is intended: callers pass integral ids and sizes.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(n as u32)
        } else {
            Err(BindingError::Range(format!("argument {i} is out of range")))
        }
    } else {
        Err(BindingError::Type(format!("argument {i} must be a number")))
    }
}

/// Reads argument `i` as a float.
pub fn arg_f64(args: &v8::FunctionCallbackArguments, i: i32) -> Result<f64, BindingError> {
    v8::Local::<v8::Number>::try_from(args.get(i))
        .map(|n| n.value())
        .map_err(|_| BindingError::Type(format!("argument {i} must be a number")))
}

/// Copies the bytes of an ArrayBufferView or ArrayBuffer argument.
pub fn arg_bytes(args: &v8::FunctionCallbackArguments, i: i32) -> Result<Vec<u8>, BindingError> {
    let value = args.get(i);
    if let Ok(view) = v8::Local::<v8::ArrayBufferView>::try_from(value) {
        let mut out = vec![0u8; view.byte_length()];
        view.copy_contents(&mut out);
        return Ok(out);
    }
    if let Ok(buffer) = v8::Local::<v8::ArrayBuffer>::try_from(value) {
        let len = buffer.byte_length();
        let mut out = vec![0u8; len];
        if let Some(data) = buffer.data() {
            // SAFETY: `data` points to `len` initialised bytes owned by the
            // ArrayBuffer, which stays alive for this call.
            let src = unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), len) };
            out.copy_from_slice(src);
        }
        return Ok(out);
    }
    Err(BindingError::Type(format!(
        "argument {i} must be an ArrayBuffer or ArrayBufferView"
    )))
}

/// A new Uint8Array that owns `data` without copying it.
pub fn new_uint8_array<'s>(scope: &mut v8::PinScope<'s, '_>, data: Vec<u8>) -> Option<v8::Local<'s, v8::Uint8Array>> {
    let len = data.len();
    let store = v8::ArrayBuffer::new_backing_store_from_vec(data).make_shared();
    let buffer = v8::ArrayBuffer::with_backing_store(scope, &store);
    v8::Uint8Array::new(scope, buffer, 0, len)
}

/// Calls `f` with the bytes of an ArrayBufferView or ArrayBuffer value,
/// without copying. Returns None when `value` is neither.
pub fn with_bytes<R>(value: v8::Local<v8::Value>, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    if let Ok(view) = v8::Local::<v8::ArrayBufferView>::try_from(value) {
        let len = view.byte_length();
        let data = view.data();
        if len == 0 || data.is_null() {
            return Some(f(&[]));
        }
        // SAFETY: `data` points at `len` initialised bytes of the view's
        // backing store, alive for this call; no JS runs while `f` borrows it.
        let slice = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) };
        return Some(f(slice));
    }
    if let Ok(buffer) = v8::Local::<v8::ArrayBuffer>::try_from(value) {
        let len = buffer.byte_length();
        return Some(match buffer.data() {
            // SAFETY: as above, for the buffer's own backing store.
            Some(data) if len > 0 => f(unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), len) }),
            _ => f(&[]),
        });
    }
    None
}
