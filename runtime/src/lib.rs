//! islet: a multi-tenant edge runtime for Workers-style JavaScript.
//!
//! Layers, top to bottom: CLI (`main.rs`, [`deploy`], [`serve`]) ->
//! [`server`] (edge listener, worker threads) and [`admin`] (admin API on
//! its own thread) -> [`worker`] (per-thread isolate cache) -> [`isolate`]
//! (snapshot, script loading, event loop, host calls) -> `islet_bindings`.
//! [`router`], [`registry`], [`script`], [`store`], [`observe`] and
//! [`error`] are leaves. See `docs/architecture.md`.

pub mod admin;
pub mod config;
pub mod deploy;
pub mod error;
pub mod isolate;
#[cfg(test)]
mod js_strip;
pub mod limits;
pub mod observe;
pub mod platform;
pub mod registry;
pub mod router;
pub mod script;
pub mod serve;
pub mod server;
pub mod snapshot_builder;
pub mod store;
pub mod worker;

pub use error::RuntimeError;
