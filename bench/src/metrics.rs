//! `islet-bench metrics`: what recording a request's metrics costs on a
//! worker thread, alone and with a second thread recording for the same
//! script at the same time (islet's per-thread shards), beside the usual
//! approach of looking up labelled prometheus metrics per request; and
//! what a scrape of `/metrics` costs with many scripts.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use islet_runtime::observe::{Metrics, Outcome, RequestId, RequestRecord};

/// Runs the benchmark; `--records N` per thread (default 2,000,000).
pub fn run(args: &[String]) {
    let records = args
        .iter()
        .position(|a| a == "--records")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000usize);
    println!("recording one request (RequestRecord made and dropped: 3 counters, 2 histograms, 2 clock reads)");
    for threads in [1, 2] {
        let metrics = Arc::new(Metrics::new());
        let per = in_threads(threads, |index| {
            let stats = Rc::new(metrics.script_stats("hello", index));
            let started = Instant::now();
            for i in 0..records {
                let mut record = RequestRecord::new(stats.clone(), None, Instant::now(), RequestId(i as u64));
                record.set_outcome(200, Outcome::Ok, None);
            }
            started.elapsed() / records as u32
        });
        println!("  islet, {threads} thread(s), same script:            {}", ns(&per));
    }
    for threads in [1, 2] {
        let registry = prometheus::Registry::new();
        let requests =
            prometheus::IntCounterVec::new(prometheus::Opts::new("requests_total", "r"), &["script", "status"])
                .expect("metric");
        let duration =
            prometheus::HistogramVec::new(prometheus::HistogramOpts::new("duration_seconds", "d"), &["script"])
                .expect("metric");
        let cpu = prometheus::HistogramVec::new(prometheus::HistogramOpts::new("cpu_seconds", "c"), &["script"])
            .expect("metric");
        registry.register(Box::new(requests.clone())).expect("register");
        registry.register(Box::new(duration.clone())).expect("register");
        registry.register(Box::new(cpu.clone())).expect("register");
        let per = in_threads(threads, |_| {
            let started = Instant::now();
            for _ in 0..records {
                let arrived = Instant::now();
                requests.with_label_values(&["hello", "2xx"]).inc();
                duration
                    .with_label_values(&["hello"])
                    .observe(arrived.elapsed().as_secs_f64());
                cpu.with_label_values(&["hello"]).observe(0.00003);
            }
            started.elapsed() / records as u32
        });
        println!(
            "  prometheus vecs looked up per request, {threads} thread(s): {}",
            ns(&per)
        );
    }

    let metrics = Metrics::new();
    for script in 0..1000 {
        for thread in 0..2 {
            let stats = Rc::new(metrics.script_stats(&format!("script-{script}"), thread));
            let mut record = RequestRecord::new(stats, None, Instant::now(), RequestId(0));
            record.set_outcome(200, Outcome::Ok, None);
        }
    }
    let mut samples = Vec::new();
    let mut size = 0;
    for _ in 0..20 {
        let started = Instant::now();
        size = metrics.render(1000).len();
        samples.push(started.elapsed());
    }
    samples.sort();
    println!(
        "scrape of /metrics with 1000 scripts on 2 threads: p50 {:.2} ms, {} KiB",
        samples[samples.len() / 2].as_secs_f64() * 1000.0,
        size >> 10
    );
}

/// Runs `f(thread index)` on `n` threads at once; their results.
fn in_threads<F>(n: usize, f: F) -> Vec<Duration>
where
    F: Fn(usize) -> Duration + Sync,
{
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                s.spawn({
                    let f = &f;
                    move || f(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("bench thread")).collect()
    })
}

fn ns(per: &[Duration]) -> String {
    per.iter()
        .map(|d| format!("{} ns", d.as_nanos()))
        .collect::<Vec<_>>()
        .join(", ")
}
