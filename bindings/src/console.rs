//! Host side of `console` (`js/04_console.js`). JavaScript formats the
//! arguments; Rust hands the line to the isolate's [`ScriptObserver`],
//! with the id of the request it was written for.
//!
//! [`ScriptObserver`]: crate::host::ScriptObserver

use crate::host::{self, OpDecl};
use crate::op;
use crate::v8_util;

/// Severity of a console call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// console.debug
    Debug,
    /// console.log
    Log,
    /// console.info
    Info,
    /// console.warn
    Warn,
    /// console.error
    Error,
}

impl Level {
    fn from_u32(n: u32) -> Level {
        match n {
            0 => Level::Debug,
            2 => Level::Info,
            3 => Level::Warn,
            4 => Level::Error,
            _ => Level::Log,
        }
    }

    /// Lowercase name, as in the tail stream.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Log => "log",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// The console ops.
pub fn ops() -> Vec<OpDecl> {
    vec![op!(op_console_write)]
}

fn op_console_write(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    let level = Level::from_u32(v8_util::arg_u32(&args, 0).unwrap_or(1));
    let Ok(message) = v8_util::arg_string(scope, &args, 1) else {
        return;
    };
    let st = host::state(scope);
    st.observer.console(st.current_request_id(), level, &message);
}
