//! islet's integration tests: one binary, real servers on loopback.

mod admin;
mod common;
mod core;
mod edge_proxy;
mod fetch;
mod kv;
mod limits;
mod netkit;
mod observe;
mod web_apis;
mod web_dom;
mod web_streams;
