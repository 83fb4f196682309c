//! Web APIs from the script's point of view: URL against the WPT data,
//! encoding, base64, timers, crypto, Headers/Request/Response, console.

use crate::common::{fixture, TestServer};

/// Posts one WPT data file to the URL fixture and asserts that no case
/// failed and that at least `min_passed` ran.
async fn assert_wpt_passes(path: &str, file: &str, min_passed: u64) {
    let srv = TestServer::with_script("wpt_url.js").await;
    let data = fixture(&format!("wpt/{file}"));
    let res = srv.post(path, data.into_bytes()).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let result = res.json();
    let failures = result["failures"].as_array().unwrap();
    assert!(
        failures.is_empty(),
        "{} failures, first: {:#}",
        failures.len(),
        serde_json::Value::Array(failures.iter().take(5).cloned().collect())
    );
    assert!(result["passed"].as_u64().unwrap() > min_passed);
}

#[tokio::test]
async fn url_passes_the_wpt_parser_cases() {
    assert_wpt_passes("/parse", "urltestdata.json", 800).await;
}

#[tokio::test]
async fn url_passes_the_wpt_setter_cases() {
    assert_wpt_passes("/setters", "setters_tests.json", 200).await;
}

#[tokio::test]
async fn web_apis_behave_as_workers_code_expects() {
    let srv = TestServer::with_script("web_apis.js").await;
    let res = srv.get("/all").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let results = res.json();
    let failed: Vec<_> = results
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.as_bool() != Some(true))
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    assert!(failed.is_empty(), "failed checks:\n{}", failed.join("\n"));
    assert!(results.as_object().unwrap().len() >= 30, "{results}");
}
