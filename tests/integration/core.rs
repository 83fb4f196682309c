//! Script formats, routing, isolation between scripts, errors.

use crate::common::{ScriptSpec, TestServer};

#[tokio::test]
async fn module_worker_answers() {
    let srv = TestServer::start(
        vec![ScriptSpec::new(
            "hello",
            r#"export default { async fetch(request, env, ctx) { return new Response("Hello " + new URL(request.url).pathname); } }"#,
            &["*/*"],
        )],
        1,
    )
    .await;
    let res = srv.get("/world").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "Hello /world");
    assert_eq!(res.header("content-type").as_deref(), Some("text/plain;charset=UTF-8"));
}
