//! Observability: where script console output and request logs go.
//! (Prometheus metrics will live here too, so that nothing else spells a
//! metric name.)

use islet_bindings::console::Level;
use islet_bindings::host::ConsoleSink;

/// Sends `console.*` from scripts to the tracing log, tagged with the script.
pub struct ConsoleToLog;

impl ConsoleSink for ConsoleToLog {
    fn write(&self, script: &str, level: Level, message: &str) {
        match level {
            Level::Error => tracing::error!(target: "islet::console", script, "{message}"),
            Level::Warn => tracing::warn!(target: "islet::console", script, "{message}"),
            Level::Debug => tracing::debug!(target: "islet::console", script, "{message}"),
            Level::Log | Level::Info => tracing::info!(target: "islet::console", script, "{message}"),
        }
    }
}
