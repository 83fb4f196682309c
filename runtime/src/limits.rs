//! Limit values: the node's defaults (from config) and a script's
//! overrides (from its upload metadata), resolved into the budgets one
//! request of that script gets. Enforcement lives where each limit bites:
//! CPU in `isolate::watchdog`, heap in the isolate's near-heap-limit
//! callback, wall time in the edge, subrequests in `islet_bindings::limits`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Resolved budgets for one script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// CPU time per request (JS running on its behalf).
    pub cpu: Duration,
    /// Wall time per request, until the response head.
    pub wall: Duration,
    /// V8 heap per isolate, bytes.
    pub heap_bytes: usize,
    /// Outbound `fetch()` calls per request.
    pub subrequests: u32,
    /// CPU time the script's top level may take when it loads.
    pub startup_cpu: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu: Duration::from_millis(50),
            wall: Duration::from_secs(30),
            heap_bytes: 128 << 20,
            subrequests: 50,
            startup_cpu: Duration::from_millis(400),
        }
    }
}

/// Per-script limits given at upload; unset ones use the node's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// CPU time per request, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
    /// Wall time per request, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_ms: Option<u64>,
    /// V8 heap per isolate, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_mb: Option<u64>,
    /// Subrequests (`fetch`) per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subrequests: Option<u64>,
}

impl Limits {
    /// These defaults with a script's overrides applied.
    pub fn with_overrides(&self, o: &LimitOverrides) -> Limits {
        Limits {
            cpu: o.cpu_ms.map_or(self.cpu, Duration::from_millis),
            wall: o.wall_ms.map_or(self.wall, Duration::from_millis),
            heap_bytes: o
                .heap_mb
                .and_then(|mb| usize::try_from(mb).ok())
                .map_or(self.heap_bytes, |mb| mb.saturating_mul(1 << 20)),
            subrequests: o
                .subrequests
                .map_or(self.subrequests, |n| u32::try_from(n).unwrap_or(u32::MAX)),
            startup_cpu: self.startup_cpu,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_set() {
        let o = LimitOverrides {
            cpu_ms: Some(10),
            heap_mb: Some(64),
            ..Default::default()
        };
        let l = Limits::default().with_overrides(&o);
        assert_eq!(l.cpu, Duration::from_millis(10));
        assert_eq!(l.heap_bytes, 64 << 20);
        assert_eq!(l.wall, Duration::from_secs(30));
        assert_eq!(l.subrequests, 50);
    }
}
