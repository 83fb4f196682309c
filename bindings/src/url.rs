//! Host side of URL and URLSearchParams (`js/07_url.js`): WHATWG URL
//! parsing and the setters come from the `ada-url` crate (Rust bindings to
//! Ada, the URL Standard parser Node uses), form encoding from
//! `form_urlencoded`. The URL object's state lives in JS; nothing is kept here.

use ada_url::Url;

use crate::host::OpDecl;
use crate::op;
use crate::v8_util;

/// The URL ops.
pub fn ops() -> Vec<OpDecl> {
    vec![
        op!(op_url_parse),
        op!(op_url_set),
        op!(op_url_search_params_parse),
        op!(op_url_search_params_serialize),
    ]
}

/// Order of the components returned to JavaScript.
fn components(url: &Url) -> [&str; 10] {
    [
        url.href(),
        url.protocol(),
        url.username(),
        url.password(),
        url.host(),
        url.hostname(),
        url.port(),
        url.pathname(),
        url.search(),
        url.hash(),
    ]
}

fn set_components(scope: &mut v8::PinScope, rv: &mut v8::ReturnValue, url: &Url) {
    let origin = url.origin();
    let mut values: Vec<v8::Local<v8::Value>> = Vec::with_capacity(11);
    for p in components(url) {
        values.push(v8_util::new_string(scope, p).into());
    }
    values.push(v8_util::new_string(scope, &origin).into());
    rv.set(v8::Array::new_with_elements(scope, &values).into());
}

/// `(input, base?) -> [href, protocol, username, password, host, hostname,
/// port, pathname, search, hash, origin]`, or null when parsing fails.
fn op_url_parse(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let Ok(input) = v8_util::arg_string(scope, &args, 0) else {
        return rv.set_null();
    };
    let parsed = if args.get(1).is_undefined() {
        Url::parse(input.as_str(), None)
    } else {
        let Ok(base) = v8_util::arg_string(scope, &args, 1) else {
            return rv.set_null();
        };
        Url::parse(input.as_str(), Some(&base))
    };
    match parsed {
        Ok(url) => set_components(scope, &mut rv, &url),
        Err(_) => rv.set_null(),
    }
}

/// Applies setter `which` (numbered as in [`op_url_set`]); false only when
/// the href setter fails or `which` is unknown. Ada leaves the URL as it was
/// when another setter gets a bad value, which is what the standard asks, so
/// those results are not errors.
fn apply_setter(url: &mut Url, which: u32, value: &str) -> bool {
    let v = Some(value);
    let _ignored = match which {
        0 => return url.set_href(value).is_ok(),
        1 => url.set_protocol(value),
        2 => url.set_username(v),
        3 => url.set_password(v),
        4 => url.set_host(v),
        5 => url.set_hostname(v),
        6 => url.set_port(v),
        7 => url.set_pathname(v),
        8 => {
            url.set_search(v);
            Ok(())
        }
        9 => {
            url.set_hash(v);
            Ok(())
        }
        _ => return false,
    };
    true
}

/// `(href, setter, value) -> components` after applying a setter: 0 href,
/// 1 protocol, 2 username, 3 password, 4 host, 5 hostname, 6 port,
/// 7 pathname, 8 search, 9 hash. Returns null when `href` is invalid or the
/// href setter fails (JS throws TypeError then); other setters ignore bad input
/// as the standard says.
fn op_url_set(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let (Ok(href), Ok(which), Ok(value)) = (
        v8_util::arg_string(scope, &args, 0),
        v8_util::arg_u32(&args, 1),
        v8_util::arg_string(scope, &args, 2),
    ) else {
        return rv.set_null();
    };
    let Ok(mut url) = Url::parse(href.as_str(), None) else {
        return rv.set_null();
    };
    if apply_setter(&mut url, which, &value) {
        set_components(scope, &mut rv, &url);
    } else {
        rv.set_null();
    }
}

/// `application/x-www-form-urlencoded` text -> flat `[name, value, ...]`.
fn op_url_search_params_parse(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let Ok(input) = v8_util::arg_string(scope, &args, 0) else {
        return;
    };
    let mut values: Vec<v8::Local<v8::Value>> = Vec::new();
    for (k, v) in form_urlencoded::parse(input.as_bytes()) {
        values.push(v8_util::new_string(scope, &k).into());
        values.push(v8_util::new_string(scope, &v).into());
    }
    rv.set(v8::Array::new_with_elements(scope, &values).into());
}

/// Flat `[name, value, ...]` -> `application/x-www-form-urlencoded` text.
fn op_url_search_params_serialize(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue,
) {
    let Ok(list) = v8::Local::<v8::Array>::try_from(args.get(0)) else {
        return;
    };
    let mut ser = form_urlencoded::Serializer::new(String::new());
    let len = list.length();
    let mut i = 0;
    while i + 1 < len {
        let k = list.get_index(scope, i).and_then(|v| v.to_string(scope));
        let v = list.get_index(scope, i + 1).and_then(|v| v.to_string(scope));
        if let (Some(k), Some(v)) = (k, v) {
            let k = k.to_rust_string_lossy(scope);
            let v = v.to_rust_string_lossy(scope);
            ser.append_pair(&k, &v);
        }
        i += 2;
    }
    rv.set(v8_util::new_string(scope, &ser.finish()).into());
}
