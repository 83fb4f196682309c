//! The process log: `tracing` events to stderr, as text for people or as
//! JSON lines for log collectors, filtered by level (`ISLET_LOG`, else
//! `[log] level`). Targets: `islet::request` (one line per request),
//! `islet::console` (scripts' console output), `islet::admin`, and the
//! runtime's own modules.

use std::str::FromStr;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, fields at the top level.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format {other:?}: use text or json")),
        }
    }
}

/// Parses a request-log level: `off`, `error`, `warn`, `info`, `debug` or
/// `trace`.
pub fn parse_level(s: &str) -> Result<Option<tracing::Level>, String> {
    match s.to_ascii_lowercase().as_str() {
        "off" | "none" => Ok(None),
        other => tracing::Level::from_str(other)
            .map(Some)
            .map_err(|_| format!("unknown level {s:?}: use off, error, warn, info, debug or trace")),
    }
}

/// Installs the process-wide log. `filter` is an `EnvFilter` directive
/// (`info`, `islet::request=debug,info`...); `ISLET_LOG` overrides it.
/// Does nothing if a log is already installed (tests start many nodes).
pub fn init(filter: &str, format: LogFormat) -> Result<(), String> {
    let filter = match std::env::var("ISLET_LOG") {
        Ok(env) => EnvFilter::try_new(&env).map_err(|e| format!("ISLET_LOG={env:?}: {e}"))?,
        Err(_) => EnvFilter::try_new(filter).map_err(|e| format!("[log] level {filter:?}: {e}"))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_levels_parse() {
        assert_eq!(parse_level("off"), Ok(None));
        assert_eq!(parse_level("INFO"), Ok(Some(tracing::Level::INFO)));
        assert!(parse_level("loud").is_err());
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert!("xml".parse::<LogFormat>().is_err());
    }
}
