//! Host side of TextEncoder and TextDecoder (`js/06_encoding.js`), using
//! encoding_rs for every WHATWG encoding. UTF-8 encoding goes straight from
//! the V8 string into the new Uint8Array's backing store.

use crate::error::BindingError;
use crate::host::{self, OpDecl};
use crate::op;
use crate::v8_util;

/// The encoding ops.
pub fn ops() -> Vec<OpDecl> {
    vec![
        op!(op_encoding_encode_utf8),
        op!(op_encoding_encode_into),
        op!(op_encoding_normalize_label),
        op!(op_encoding_decode),
        op!(op_encoding_decoder_new),
        op!(op_encoding_decoder_decode),
    ]
}

fn throw(scope: &mut v8::PinScope, err: BindingError) {
    v8_util::throw(scope, &err);
}

/// `TextEncoder.encode`: string -> Uint8Array (lone surrogates become U+FFFD).
fn op_encoding_encode_utf8(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let Some(s) = args.get(0).to_string(scope) else {
        return;
    };
    let len = s.utf8_length(scope);
    let mut buf = vec![0u8; len];
    let written = s.write_utf8_v2(scope, &mut buf, v8::WriteFlags::kReplaceInvalidUtf8, None);
    buf.truncate(written);
    if let Some(arr) = v8_util::new_uint8_array(scope, buf) {
        rv.set(arr.into());
    }
}

/// `TextEncoder.encodeInto`: returns `[read, written]`.
fn op_encoding_encode_into(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let Some(s) = args.get(0).to_string(scope) else {
        return;
    };
    let Ok(view) = v8::Local::<v8::Uint8Array>::try_from(args.get(1)) else {
        return throw(scope, BindingError::Type("destination must be a Uint8Array".into()));
    };
    let len = view.byte_length();
    let data = view.data();
    let (mut read, mut written) = (0usize, 0usize);
    if len > 0 && !data.is_null() {
        // SAFETY: the view's backing store holds `len` bytes at `data` and
        // stays alive for this call; no JS runs while we write into it.
        let dest = unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) };
        written = s.write_utf8_v2(scope, dest, v8::WriteFlags::kReplaceInvalidUtf8, Some(&mut read));
    }
    let pair = [
        v8::Number::new(scope, read as f64).into(),
        v8::Number::new(scope, written as f64).into(),
    ];
    rv.set(v8::Array::new_with_elements(scope, &pair).into());
}

/// Canonical lowercase encoding name for a label, or null when unknown
/// (the "replacement" encoding counts as unknown for TextDecoder).
fn op_encoding_normalize_label(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let label = v8_util::arg_string(scope, &args, 0).unwrap_or_default();
    match encoding_rs::Encoding::for_label(label.trim().as_bytes()) {
        Some(enc) if enc != encoding_rs::REPLACEMENT => {
            rv.set(v8_util::new_string(scope, &enc.name().to_ascii_lowercase()).into());
        }
        _ => rv.set_null(),
    }
}

fn encoding_for(label: &str) -> Result<&'static encoding_rs::Encoding, BindingError> {
    encoding_rs::Encoding::for_label(label.as_bytes())
        .ok_or_else(|| BindingError::Range(format!("The encoding label provided ('{label}') is invalid.")))
}

fn new_decoder(enc: &'static encoding_rs::Encoding, ignore_bom: bool) -> encoding_rs::Decoder {
    if ignore_bom {
        enc.new_decoder_without_bom_handling()
    } else {
        enc.new_decoder_with_bom_removal()
    }
}

/// Runs `decoder` over `input`, appending to a string. `last` flushes.
fn decode_with(
    decoder: &mut encoding_rs::Decoder,
    input: &[u8],
    last: bool,
    fatal: bool,
) -> Result<String, BindingError> {
    let cap = decoder
        .max_utf8_buffer_length(input.len())
        .ok_or_else(|| BindingError::Range("input too large to decode".into()))?;
    let mut out = String::with_capacity(cap);
    if fatal {
        let (result, _read) = decoder.decode_to_string_without_replacement(input, &mut out, last);
        if let encoding_rs::DecoderResult::Malformed(_, _) = result {
            return Err(BindingError::Type(format!(
                "The encoded data was not valid for encoding {}",
                decoder.encoding().name().to_ascii_lowercase()
            )));
        }
    } else {
        let _ = decoder.decode_to_string(input, &mut out, last);
    }
    Ok(out)
}

/// One-shot decode: `(label, bytes, fatal, ignoreBOM) -> string`.
fn op_encoding_decode(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let label = v8_util::arg_string(scope, &args, 0).unwrap_or_default();
    let fatal = args.get(2).is_true();
    let ignore_bom = args.get(3).is_true();
    let enc = match encoding_for(&label) {
        Ok(e) => e,
        Err(e) => return throw(scope, e),
    };
    let result = v8_util::with_bytes(args.get(1), |bytes| {
        // Fast path: valid UTF-8 goes to V8 as is.
        if enc == encoding_rs::UTF_8 {
            let body = if !ignore_bom && bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
                &bytes[3..]
            } else {
                bytes
            };
            if std::str::from_utf8(body).is_ok() {
                return Ok(None);
            }
        }
        let mut decoder = new_decoder(enc, ignore_bom);
        decode_with(&mut decoder, bytes, true, fatal).map(Some)
    });
    match result {
        None => throw(
            scope,
            BindingError::Type("input must be an ArrayBuffer or ArrayBufferView".into()),
        ),
        Some(Err(e)) => throw(scope, e),
        Some(Ok(Some(text))) => rv.set(v8_util::new_string(scope, &text).into()),
        Some(Ok(None)) => {
            let s = v8_util::with_bytes(args.get(1), |bytes| {
                let body = if !ignore_bom && bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
                    &bytes[3..]
                } else {
                    bytes
                };
                v8::String::new_from_utf8(scope, body, v8::NewStringType::Normal)
            })
            .flatten();
            match s {
                Some(s) => rv.set(s.into()),
                None => throw(scope, BindingError::Range("string too long".into())),
            }
        }
    }
}

/// A streaming decoder kept in the resource table.
struct StreamDecoder {
    decoder: encoding_rs::Decoder,
    fatal: bool,
}

/// `(label, fatal, ignoreBOM) -> rid` of a streaming decoder.
fn op_encoding_decoder_new(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let label = v8_util::arg_string(scope, &args, 0).unwrap_or_default();
    let fatal = args.get(1).is_true();
    let ignore_bom = args.get(2).is_true();
    let enc = match encoding_for(&label) {
        Ok(e) => e,
        Err(e) => return throw(scope, e),
    };
    let decoder = new_decoder(enc, ignore_bom);
    let rid = host::state(scope).resources.add(StreamDecoder { decoder, fatal });
    rv.set_uint32(rid);
}

/// `(rid, bytes, stream) -> string`; when `stream` is false the decoder is
/// flushed and closed.
fn op_encoding_decoder_decode(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let rid = match v8_util::arg_u32(&args, 0) {
        Ok(r) => r,
        Err(e) => return throw(scope, e),
    };
    let stream = args.get(2).is_true();
    let input = if args.get(1).is_undefined() {
        Vec::new()
    } else {
        match v8_util::arg_bytes(&args, 1) {
            Ok(b) => b,
            Err(e) => return throw(scope, e),
        }
    };
    let st = host::state(scope);
    let result = match st.resources.get_mut::<StreamDecoder>(rid) {
        Ok(d) => {
            let fatal = d.fatal;
            decode_with(&mut d.decoder, &input, !stream, fatal)
        }
        Err(e) => Err(e),
    };
    if !stream || result.is_err() {
        st.resources.close(rid);
    }
    match result {
        Ok(text) => rv.set(v8_util::new_string(scope, &text).into()),
        Err(e) => throw(scope, e),
    }
}

/// Bytes read as Latin-1, one character per byte (the Encoding standard's
/// isomorphic decode): how a JS one-byte string or a ByteString maps to text.
pub(crate) fn isomorphic_decode(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}
