//! islet's integration tests: one binary, real servers on loopback.

mod admin;
mod common;
mod core;
mod web_apis;
mod web_dom;
mod web_streams;
