//! How an isolate is tied to the thread that runs it. Isolates are made on
//! one thread (the factory, `factory.rs`) and run on another (a worker), so
//! every isolate is a `v8::SharedIsolate`, and the thread that runs it holds
//! its `v8::Locker` from the moment it adopts it until it disposes of it.
//! Several isolates live on one worker thread; the one it used last stays
//! entered (`Entered`). Not for choosing isolates (`worker.rs`) nor for
//! entering JS with a budget (`Core::enter`).
//!
//! Why this is what V8 supports (sources of the `v8` crate, `v8/src`):
//!
//! - `v8-locker.h`: only one thread at a time may use an isolate, and
//!   "the v8::Locker and v8::Unlocker classes must be used to signal thread
//!   switches to V8".
//! - `execution/v8threads.cc`, `Locker::Initialize`: a thread taking the
//!   lock for the first time gets `ThreadManager::RestoreThread` ->
//!   `ThreadManager::InitThread`: `Isolate::InitializeThreadLocal` (its
//!   `ThreadLocalTop`), `StackGuard::InitThread` (the stack limit, from
//!   *this* thread's stack start: `StackGuard::ThreadLocal::Initialize` in
//!   `execution/stack-guard.cc`) and `Debug::InitThread`. A thread whose
//!   outermost `Locker` ends gets `ThreadManager::FreeThreadResources`
//!   (its handle-scope blocks, `ThreadLocalTop`, stack guard, regexp stack).
//!   So the maker's stack limit never applies on the worker, and a deep
//!   recursion gets its `RangeError` at the worker's real stack depth.
//! - `execution/isolate.cc`, `Isolate::Enter`: sets the heap's stack start
//!   for the entering thread (`Heap::SetStackStart`, which notes that "because
//!   of v8::Locker an isolate might be migrated between threads") and the
//!   isolate's thread id (checked by the main-thread safepoint).
//! - `Isolate::TerminateExecution` may be called from any thread without
//!   the lock (`v8-isolate.h`), so the watchdog works unchanged.
//!
//! The lock is taken once per isolate, not per request: the hot path only
//! enters and leaves isolates, as before.

use std::cell::Cell;
use std::ffi::c_void;

thread_local! {
    /// The V8 isolate this thread last entered and left entered. Switching
    /// happens only when another isolate is needed, which saves an
    /// enter/exit pair on every entry while one script is hot.
    static ENTERED: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
}

/// The address of the C++ isolate (stable, unlike the Rust handle, which
/// moves with its owner).
fn raw_ptr(isolate: &v8::Isolate) -> *mut c_void {
    // SAFETY: `UnsafeRawIsolatePtr` is a `repr(transparent)` wrapper of the
    // isolate's C++ pointer; reading it has no side effect.
    unsafe { std::mem::transmute::<v8::UnsafeRawIsolatePtr, *mut c_void>(isolate.as_raw_isolate_ptr()) }
}

/// Exits the isolate this thread left entered, if any.
pub(super) fn leave_entered() {
    ENTERED.with(|current| {
        let previous = current.replace(std::ptr::null_mut());
        if !previous.is_null() {
            // SAFETY: `previous` is a live isolate entered on this thread:
            // `LockedIsolate::drop` clears this slot before the isolate is
            // disposed.
            unsafe {
                let raw = std::mem::transmute::<*mut c_void, v8::UnsafeRawIsolatePtr>(previous);
                v8::Isolate::from_raw_isolate_ptr(raw).exit();
            }
        }
    });
}

/// Makes `isolate` the one entered on this thread.
pub(super) struct Entered;

impl Entered {
    pub(super) fn new(isolate: &LockedIsolate) -> Entered {
        let ptr = raw_ptr(isolate);
        if ENTERED.with(Cell::get) != ptr {
            leave_entered();
            // SAFETY: locked by this thread, which alone uses it.
            unsafe { isolate.enter() };
            ENTERED.with(|current| current.set(ptr));
        }
        Entered
    }
}

/// An isolate locked to the current thread for the rest of its life, and
/// disposed of on it. Dereferences to the isolate.
pub(super) struct LockedIsolate {
    // Field order: the lock is released before the last reference to the
    // isolate goes, which disposes of it.
    locker: v8::Locker<'static>,
    _shared: v8::SharedIsolate,
}

impl LockedIsolate {
    /// Takes `shared`'s lock on this thread and keeps it; the isolate is
    /// left entered.
    pub(super) fn adopt(shared: v8::SharedIsolate) -> LockedIsolate {
        // The crate's `Locker` wants no isolate entered on this thread; it
        // enters its own.
        leave_entered();
        let locker = shared.lock();
        // SAFETY: the lifetime only ties the guard to `shared`, which is kept
        // beside it and dropped after it (field order); the guard holds its
        // own reference to the isolate and no pointer to `shared`, so moving
        // `shared` is fine. `Locker` is `!Send`, and so is this struct: the
        // lock stays on this thread.
        let locker = unsafe { std::mem::transmute::<v8::Locker<'_>, v8::Locker<'static>>(locker) };
        ENTERED.with(|current| current.set(raw_ptr(&locker)));
        LockedIsolate {
            locker,
            _shared: shared,
        }
    }
}

impl std::ops::Deref for LockedIsolate {
    type Target = v8::Isolate;

    fn deref(&self) -> &v8::Isolate {
        &self.locker
    }
}

impl std::ops::DerefMut for LockedIsolate {
    fn deref_mut(&mut self) -> &mut v8::Isolate {
        &mut self.locker
    }
}

impl Drop for LockedIsolate {
    fn drop(&mut self) {
        // The `Locker`'s drop exits the isolate and checks that it is the
        // entered one: make it so. Afterwards no isolate is entered.
        let _ = Entered::new(self);
        ENTERED.with(|current| current.set(std::ptr::null_mut()));
    }
}
