//! The per-request limits every binding asks before it acts: the one place
//! that knows budgets (think workerd's limit enforcer). A binding calls,
//! for example, [`start_subrequest`] and propagates its error; it never
//! keeps counters or constants of its own.
//!
//! Which request an op belongs to: the runtime sets
//! [`HostState::current_request`](crate::host::HostState) whenever it
//! enters JavaScript on behalf of a request (the handler call, the delivery
//! of an async op that request started, a timer it set).

use crate::error::BindingError;
use crate::host;

/// Budgets for one request, set per script (defaults from config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Outbound `fetch()` calls allowed per request.
    pub subrequests: u32,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits { subrequests: 50 }
    }
}

/// What a request has used so far (kept in its [`crate::http_types::RequestSlot`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct RequestUsage {
    /// Subrequests started.
    pub subrequests: u32,
    /// CPU time its JavaScript has run, nanoseconds.
    pub cpu_ns: u64,
    /// A subrequest was refused because the budget was spent.
    pub subrequests_refused: bool,
}

/// A request's usage, shared by its slot (which JS updates) and the edge
/// (which reports it in metrics and logs when the request ends).
pub type SharedUsage = std::rc::Rc<std::cell::Cell<RequestUsage>>;

/// Counts one subrequest against the current request's budget. Fails when
/// the budget is spent, or when no request is running (I/O at the top
/// level of a script, or after its request ended, is not allowed).
pub fn start_subrequest(scope: &mut v8::PinScope) -> Result<(), BindingError> {
    let st = host::state(scope);
    let max = st.limits.subrequests;
    let id = st.current_request;
    let slot = st.requests.get_mut(id).ok_or_else(|| {
        BindingError::Type(
            "I/O is only allowed while a request is being handled: call fetch() from a handler, not at the top level of the script"
                .into(),
        )
    })?;
    let mut usage = slot.usage.get();
    if usage.subrequests >= max {
        usage.subrequests_refused = true;
        slot.usage.set(usage);
        return Err(BindingError::Limit(format!(
            "Too many subrequests: this request already made {max}, the limit of the script. Batch them, or raise limits.subrequests."
        )));
    }
    usage.subrequests += 1;
    slot.usage.set(usage);
    Ok(())
}
