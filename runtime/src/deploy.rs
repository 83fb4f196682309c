//! `islet deploy`: the command-line client of the admin API. It gathers a
//! script's modules (the entry file and the relative imports it reaches),
//! its bindings and routes from flags and an optional `wrangler.toml`, and
//! uploads them as one multipart `PUT /v1/scripts/{name}`.
//! Not for serving, and not a bundler: bare imports (`import "hono"`)
//! must be bundled first.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use crate::admin::TOKEN_FILE;
use crate::error::RuntimeError;

/// Default admin API address of a local node.
pub const DEFAULT_ADMIN_URL: &str = "http://127.0.0.1:8081";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Flags of `islet deploy`. No `Debug`: it holds secrets.
#[derive(Clone, clap::Parser)]
#[command(name = "deploy")]
pub struct DeployArgs {
    /// Entry module of the script; defaults to `main` of wrangler.toml.
    pub file: Option<PathBuf>,
    /// Script name; defaults to `name` of wrangler.toml.
    #[arg(long)]
    pub name: Option<String>,
    /// Route pattern for the script, e.g. 'example.com/api/*' (repeatable).
    /// Given routes replace the script's routes.
    #[arg(long = "route", value_name = "PATTERN")]
    pub routes: Vec<String>,
    /// KV namespace binding (repeatable).
    #[arg(long = "kv", value_name = "BINDING=NAMESPACE")]
    pub kv: Vec<String>,
    /// Plain-text variable on `env` (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// Secret on `env` (repeatable); `--secret KEY` alone takes the value of
    /// the environment variable KEY, which keeps it out of shell history.
    #[arg(long = "secret", value_name = "KEY=VALUE")]
    pub secrets: Vec<String>,
    /// Admin API of the node.
    #[arg(long, env = "ISLET_ADMIN_URL", default_value = DEFAULT_ADMIN_URL)]
    pub admin: String,
    /// wrangler.toml to read (default: ./wrangler.toml when present).
    #[arg(long, value_name = "WRANGLER_TOML")]
    pub config: Option<PathBuf>,
    /// File holding the admin token (default: $ISLET_ADMIN_TOKEN, else
    /// ./islet-data/admin-token when present).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
}

impl DeployArgs {
    /// Parses `islet deploy` arguments (the first item is the program name).
    pub fn parse_from_args<I, T>(args: I) -> Result<DeployArgs, RuntimeError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        <DeployArgs as clap::Parser>::try_parse_from(args).map_err(|e| RuntimeError::Deploy(e.to_string()))
    }
}

/// What a successful deploy did.
#[derive(Debug, Clone)]
pub struct DeployReport {
    /// Script name.
    pub name: String,
    /// The version now serving.
    pub version: u64,
    /// Whether the deploy created the script.
    pub created: bool,
    /// Route patterns of the script after the deploy.
    pub routes: Vec<String>,
    /// Modules uploaded.
    pub modules: Vec<String>,
    /// Things the user should know (ignored wrangler.toml settings...).
    pub warnings: Vec<String>,
}

impl std::fmt::Display for DeployReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.created { "new script" } else { "new version" };
        writeln!(
            f,
            "Deployed {} version {} ({what}, {} module(s))",
            self.name,
            self.version,
            self.modules.len()
        )?;
        if self.routes.is_empty() {
            write!(
                f,
                "  no routes yet: add one with --route 'example.com/*' so that requests reach it"
            )
        } else {
            write!(f, "  routes: {}", self.routes.join(", "))
        }
    }
}

/// The script as it will be uploaded. No `Debug`: it holds secrets.
#[derive(Default)]
struct Plan {
    name: String,
    main: String,
    modules: Vec<(String, String)>,
    routes: Vec<String>,
    vars: BTreeMap<String, String>,
    secrets: BTreeMap<String, String>,
    kv: BTreeMap<String, String>,
    warnings: Vec<String>,
}

/// What `islet deploy` uses of a wrangler.toml.
#[derive(Debug, Default)]
struct Wrangler {
    dir: PathBuf,
    name: Option<String>,
    main: Option<String>,
    routes: Vec<String>,
    kv: BTreeMap<String, String>,
    vars: BTreeMap<String, String>,
    warnings: Vec<String>,
}

/// Runs `islet deploy`: builds the upload, sends it, and reports.
pub async fn run(args: DeployArgs) -> Result<DeployReport, RuntimeError> {
    let plan = plan(&args)?;
    let token = token(&args)?;
    let (content_type, body) = multipart(&plan)?;
    let url = format!("/v1/scripts/{}", plan.name);
    let (status, answer) = send(&args.admin, "PUT", &url, &token, &content_type, body).await?;
    if !status.is_success() {
        return Err(explain_failure(&args.admin, status, &answer));
    }
    Ok(DeployReport {
        name: plan.name,
        version: answer["version"].as_u64().unwrap_or_default(),
        created: answer["created"].as_bool().unwrap_or_default(),
        routes: answer["routes"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|r| r["pattern"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        modules: plan.modules.into_iter().map(|(p, _)| p).collect(),
        warnings: plan.warnings,
    })
}

fn deploy_error(message: impl Into<String>) -> RuntimeError {
    RuntimeError::Deploy(message.into())
}

fn plan(args: &DeployArgs) -> Result<Plan, RuntimeError> {
    let wrangler = match &args.config {
        Some(path) => Some(read_wrangler(path)?),
        None => {
            let default = Path::new("wrangler.toml");
            if default.exists() {
                Some(read_wrangler(default)?)
            } else {
                None
            }
        }
    };
    let wrangler = wrangler.unwrap_or_default();
    let name = args
        .name
        .clone()
        .or(wrangler.name.clone())
        .ok_or_else(|| deploy_error("no script name: pass --name NAME (or set name in wrangler.toml)"))?;
    if !crate::admin::upload::valid_script_name(&name) {
        return Err(deploy_error(format!(
            "invalid script name {name:?}: use 1 to 63 letters, digits, '-' or '_', starting with a letter or digit"
        )));
    }
    let main_path = match (&args.file, &wrangler.main) {
        (Some(file), _) => file.clone(),
        (None, Some(main)) => wrangler.dir.join(main),
        (None, None) => return Err(deploy_error(
            "no script file: run `islet deploy FILE --name NAME`, or run it in a folder whose wrangler.toml sets main",
        )),
    };
    check_main_file(&main_path)?;
    let (main, modules) = collect_modules(&main_path)?;
    let mut plan = Plan {
        name,
        main,
        modules,
        routes: if args.routes.is_empty() {
            wrangler.routes
        } else {
            args.routes.clone()
        },
        vars: wrangler.vars,
        kv: wrangler.kv,
        warnings: wrangler.warnings,
        ..Plan::default()
    };
    for var in &args.vars {
        let (k, v) = key_value("--var", "KEY=VALUE", var)?;
        plan.vars.insert(k, v);
    }
    for kv in &args.kv {
        let (k, v) = key_value("--kv", "BINDING=NAMESPACE", kv)?;
        plan.kv.insert(k, v);
    }
    for secret in &args.secrets {
        let (k, v) = match secret.split_once('=') {
            Some(_) => key_value("--secret", "KEY=VALUE", secret)?,
            None => {
                let value = std::env::var(secret).map_err(|_| {
                    deploy_error(format!(
                        "--secret {secret}: no environment variable {secret}; pass --secret {secret}=VALUE or export it"
                    ))
                })?;
                (secret.clone(), value)
            }
        };
        plan.secrets.insert(k, v);
    }
    Ok(plan)
}

fn key_value(flag: &str, shape: &str, arg: &str) -> Result<(String, String), RuntimeError> {
    match arg.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(deploy_error(format!("{flag} expects {shape}, got {arg:?}"))),
    }
}

fn check_main_file(path: &Path) -> Result<(), RuntimeError> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
    if matches!(ext, "ts" | "tsx" | "mts" | "jsx") {
        return Err(deploy_error(format!(
            "{} is not plain JavaScript: build it first (e.g. `npx esbuild {} --bundle --format=esm \
             --outfile=dist/worker.js`) and deploy the output",
            path.display(),
            path.display()
        )));
    }
    if !path.is_file() {
        return Err(deploy_error(format!(
            "{} does not exist: give the path of the script's entry module",
            path.display()
        )));
    }
    Ok(())
}

fn read_wrangler(path: &Path) -> Result<Wrangler, RuntimeError> {
    let text = std::fs::read_to_string(path).map_err(|e| deploy_error(format!("{}: {e}", path.display())))?;
    let doc: toml::Table =
        toml::from_str(&text).map_err(|e| deploy_error(format!("{} is not valid TOML: {e}", path.display())))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut w = Wrangler {
        dir,
        ..Wrangler::default()
    };
    let bad = |key: &str, want: &str| deploy_error(format!("{}: `{key}` must be {want}", path.display()));
    if let Some(v) = doc.get("name") {
        w.name = Some(v.as_str().ok_or_else(|| bad("name", "a string"))?.to_string());
    }
    if let Some(v) = doc.get("main") {
        w.main = Some(v.as_str().ok_or_else(|| bad("main", "a string"))?.to_string());
    }
    let mut route_values: Vec<&toml::Value> = Vec::new();
    if let Some(v) = doc.get("route") {
        route_values.push(v);
    }
    if let Some(v) = doc.get("routes") {
        route_values.extend(v.as_array().ok_or_else(|| bad("routes", "an array"))?);
    }
    for r in route_values {
        let pattern = match r {
            toml::Value::String(s) => s.clone(),
            toml::Value::Table(t) => {
                let pattern = t
                    .get("pattern")
                    .and_then(toml::Value::as_str)
                    .ok_or_else(|| bad("routes", "strings or tables with a `pattern`"))?;
                if t.get("custom_domain").and_then(toml::Value::as_bool) == Some(true) && !pattern.contains('/') {
                    format!("{pattern}/*")
                } else {
                    pattern.to_string()
                }
            }
            _ => return Err(bad("routes", "strings or tables with a `pattern`")),
        };
        w.routes.push(pattern);
    }
    if let Some(v) = doc.get("kv_namespaces") {
        let list = v
            .as_array()
            .ok_or_else(|| bad("kv_namespaces", "an array of { binding, id } tables"))?;
        for entry in list {
            let binding = entry.get("binding").and_then(toml::Value::as_str);
            let id = entry.get("id").and_then(toml::Value::as_str);
            match (binding, id) {
                (Some(b), Some(id)) => {
                    w.kv.insert(b.to_string(), id.to_string());
                }
                _ => return Err(bad("kv_namespaces", "an array of { binding, id } tables")),
            }
        }
    }
    if let Some(v) = doc.get("vars") {
        let table = v.as_table().ok_or_else(|| bad("vars", "a table"))?;
        for (k, v) in table {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                // Workers expose non-string vars as parsed JSON; islet's
                // env holds strings, so they arrive as JSON text.
                other => serde_json::to_string(other).unwrap_or_default(),
            };
            w.vars.insert(k.clone(), text);
        }
    }
    for key in [
        "durable_objects",
        "d1_databases",
        "r2_buckets",
        "services",
        "queues",
        "ai",
        "browser",
    ] {
        if doc.contains_key(key) {
            w.warnings.push(format!(
                "{}: `{key}` is not supported by islet and is ignored",
                path.display()
            ));
        }
    }
    if doc.contains_key("build") {
        w.warnings.push(format!(
            "{}: [build] is not run by islet deploy: run your build first so that `main` is up to date",
            path.display()
        ));
    }
    if doc.contains_key("env") {
        w.warnings.push(format!(
            "{}: [env.*] sections are ignored; islet deploy uses the top level",
            path.display()
        ));
    }
    Ok(w)
}

/// Module paths relative to the entry module's folder, entry first, with
/// every relative import reachable from it.
fn collect_modules(main_path: &Path) -> Result<(String, Vec<(String, String)>), RuntimeError> {
    let root = main_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let main = main_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut modules: Vec<(String, String)> = Vec::new();
    let mut queue = VecDeque::from([main.clone()]);
    while let Some(rel) = queue.pop_front() {
        if modules.iter().any(|(p, _)| *p == rel) {
            continue;
        }
        let path = root.join(&rel);
        let source = std::fs::read_to_string(&path).map_err(|e| deploy_error(format!("{}: {e}", path.display())))?;
        for spec in import_specifiers(&source) {
            if !(spec.starts_with("./") || spec.starts_with("../")) {
                return Err(deploy_error(format!(
                    "{} imports {spec:?}, which islet cannot resolve: bundle the worker first \
                     (e.g. `npx esbuild {} --bundle --format=esm --outfile=dist/worker.js`) and deploy the bundle",
                    path.display(),
                    main_path.display()
                )));
            }
            let target = join_module(&rel, &spec).ok_or_else(|| {
                deploy_error(format!(
                    "{} imports {spec:?}, outside the folder of the entry module: deploy from a higher entry \
                     module or bundle the worker",
                    path.display()
                ))
            })?;
            if !root.join(&target).is_file() {
                let hint = if Path::new(&target).extension().is_none() && root.join(format!("{target}.js")).is_file() {
                    format!(": write the extension, \"{spec}.js\"")
                } else {
                    String::new()
                };
                return Err(deploy_error(format!(
                    "{} imports {spec:?}, but {} does not exist{hint}",
                    path.display(),
                    root.join(&target).display()
                )));
            }
            queue.push_back(target);
        }
        modules.push((rel, source));
    }
    Ok((main, modules))
}

/// Resolves `spec` against the module `from` (both relative to the root);
/// `None` when it leaves the root.
fn join_module(from: &str, spec: &str) -> Option<String> {
    let mut parts: Vec<String> = Path::new(from)
        .parent()
        .map(|p| {
            p.components()
                .filter_map(|c| match c {
                    Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    for seg in spec.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s.to_string()),
        }
    }
    Some(parts.join("/"))
}

/// Specifiers of static and dynamic imports and re-exports in `source`:
/// `from "x"`, `import "x"`, `import("x")`. A small lexer that skips
/// comments and tells strings apart; good enough for hand-written modules.
pub fn import_specifiers(source: &str) -> Vec<String> {
    #[derive(PartialEq)]
    enum Tok {
        Word(String),
        Str(String),
        Punct(char),
    }
    let chars: Vec<char> = source.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if c == '"' || c == '\'' || c == '`' {
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    i += 1;
                }
                if let Some(&ch) = chars.get(i) {
                    s.push(ch);
                }
                i += 1;
            }
            i += 1;
            toks.push(if c == '`' { Tok::Punct('`') } else { Tok::Str(s) });
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                i += 1;
            }
            toks.push(Tok::Word(chars[start..i].iter().collect()));
        } else {
            if !c.is_whitespace() {
                toks.push(Tok::Punct(c));
            }
            i += 1;
        }
    }
    let mut specs = Vec::new();
    for (k, tok) in toks.iter().enumerate() {
        let spec = match (tok, toks.get(k + 1), toks.get(k + 2)) {
            (Tok::Word(w), Some(Tok::Str(s)), _) if w == "from" || w == "import" => s,
            (Tok::Word(w), Some(Tok::Punct('(')), Some(Tok::Str(s))) if w == "import" => s,
            _ => continue,
        };
        // `.import "x"` would be a property access, not an import.
        if k > 0 && toks[k - 1] == Tok::Punct('.') {
            continue;
        }
        if !specs.contains(spec) {
            specs.push(spec.clone());
        }
    }
    specs
}

fn token(args: &DeployArgs) -> Result<String, RuntimeError> {
    if let Some(path) = &args.token_file {
        let text =
            std::fs::read_to_string(path).map_err(|e| deploy_error(format!("--token-file {}: {e}", path.display())))?;
        return non_empty_token(text, &path.display().to_string());
    }
    if let Ok(value) = std::env::var("ISLET_ADMIN_TOKEN") {
        return non_empty_token(value, "ISLET_ADMIN_TOKEN");
    }
    let local = Path::new("islet-data").join(TOKEN_FILE);
    if let Ok(text) = std::fs::read_to_string(&local) {
        return non_empty_token(text, &local.display().to_string());
    }
    Err(deploy_error(format!(
        "no admin token: set ISLET_ADMIN_TOKEN to the node's token (without one configured, `islet serve` \
         writes it to <data-dir>/{TOKEN_FILE}), e.g. export ISLET_ADMIN_TOKEN=$(cat islet-data/{TOKEN_FILE})"
    )))
}

fn non_empty_token(text: String, from: &str) -> Result<String, RuntimeError> {
    let token = text.trim().to_string();
    if token.is_empty() {
        return Err(deploy_error(format!("the admin token in {from} is empty")));
    }
    Ok(token)
}

/// The upload body: a `metadata` part and one part per module.
fn multipart(plan: &Plan) -> Result<(String, Vec<u8>), RuntimeError> {
    let mut metadata = json!({ "main": plan.main });
    let mut bindings = serde_json::Map::new();
    if !plan.vars.is_empty() {
        bindings.insert("vars".into(), json!(plan.vars));
    }
    if !plan.secrets.is_empty() {
        bindings.insert("secrets".into(), json!(plan.secrets));
    }
    if !plan.kv.is_empty() {
        bindings.insert("kv_namespaces".into(), json!(plan.kv));
    }
    if !bindings.is_empty() {
        metadata["bindings"] = Value::Object(bindings);
    }
    if !plan.routes.is_empty() {
        metadata["routes"] = json!(plan.routes);
    }
    let mut random = [0u8; 12];
    getrandom::getrandom(&mut random).map_err(|e| deploy_error(format!("no OS randomness: {e}")))?;
    let boundary = format!(
        "islet-{}",
        random.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let mut body = Vec::new();
    let mut part = |headers: String, content: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    };
    part(
        "Content-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json".into(),
        metadata.to_string().as_bytes(),
    );
    for (path, source) in &plan.modules {
        let quoted = path.replace('"', "%22");
        part(
            format!(
                "Content-Disposition: form-data; name=\"{quoted}\"; filename=\"{quoted}\"\r\n\
                 Content-Type: application/javascript+module"
            ),
            source.as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok((format!("multipart/form-data; boundary={boundary}"), body))
}

/// Sends one request to the admin API; returns the status and JSON body.
async fn send(
    admin: &str,
    method: &str,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Result<(http::StatusCode, Value), RuntimeError> {
    let uri: http::Uri = admin.parse().map_err(|e| {
        deploy_error(format!(
            "--admin {admin:?} is not a URL ({e}): use e.g. {DEFAULT_ADMIN_URL}"
        ))
    })?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(deploy_error(format!(
                "--admin {admin}: islet deploy speaks http only, not {other}; reach a remote node through an \
                 SSH tunnel to its loopback admin port"
            )))
        }
        None => {
            return Err(deploy_error(format!(
                "--admin {admin:?} needs a scheme: http://{admin}"
            )))
        }
    }
    let authority = uri
        .authority()
        .ok_or_else(|| deploy_error(format!("--admin {admin:?} has no host")))?;
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let base = uri.path().trim_end_matches('/');
    let unreachable = |e: String| {
        deploy_error(format!(
            "cannot reach the admin API at {admin}: {e}. Is `islet serve` running? Point --admin (or \
             ISLET_ADMIN_URL) at its admin address (default {DEFAULT_ADMIN_URL})"
        ))
    };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect((host, port)))
        .await
        .map_err(|_| unreachable("connection timed out".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let request = http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header(http::header::HOST, authority.as_str())
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(http::header::CONTENT_TYPE, content_type)
        .header(
            http::header::USER_AGENT,
            concat!("islet-deploy/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| deploy_error(format!("cannot build the request: {e}")))?;
    let exchange = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        Ok::<_, RuntimeError>((status, bytes))
    };
    let (status, bytes) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| unreachable("no answer within 120 s".into()))??;
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| json!({ "error": String::from_utf8_lossy(&bytes).trim().to_string() }));
    Ok((status, value))
}

fn explain_failure(admin: &str, status: http::StatusCode, answer: &Value) -> RuntimeError {
    let error = answer["error"].as_str().unwrap_or("no error message");
    let message = match status.as_u16() {
        401 => format!(
            "the admin API at {admin} refused the token (401): set ISLET_ADMIN_TOKEN (or --token-file) to that \
             node's token; without one configured, `islet serve` writes it to <data-dir>/{TOKEN_FILE}"
        ),
        400 => match (answer["file"].as_str(), answer["line"].as_u64(), answer["column"].as_u64()) {
            (Some(file), Some(line), Some(column)) => format!(
                "{file}:{line}:{column}: {error}\nfix the script and deploy again; the version that was live keeps serving"
            ),
            _ => format!("the upload was rejected: {error}"),
        },
        413 => format!(
            "{error}: make the script smaller (bundle with --minify) or raise max_upload_bytes in the [admin] \
             section of the node's islet.toml"
        ),
        409 => format!("the upload conflicts with the node's state: {error}"),
        _ => format!("the admin API at {admin} answered {status}: {error}"),
    };
    deploy_error(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_imports_but_not_lookalikes() {
        let src = r#"
            import { a } from "./a.js";
            import './side.js';
            export * from '../up.js';
            const lazy = await import("./lazy.js");
            // import "./commented.js";
            /* import "./block.js" */
            const s = "import './in-string.js'";
            obj.import("./not-import.js");
            import x from 'hono';
        "#;
        assert_eq!(
            import_specifiers(src),
            vec!["./a.js", "./side.js", "../up.js", "./lazy.js", "hono"]
        );
    }

    #[test]
    fn module_paths_stay_under_the_root() {
        assert_eq!(join_module("index.js", "./lib/a.js").as_deref(), Some("lib/a.js"));
        assert_eq!(join_module("lib/a.js", "../b.js").as_deref(), Some("b.js"));
        assert_eq!(join_module("index.js", "../b.js"), None);
    }

    #[test]
    fn flags_parse() {
        let args = DeployArgs::parse_from_args([
            "deploy", "w.js", "--name", "w", "--route", "a.com/*", "--route", "b.com/*", "--var", "A=1", "--kv",
            "CACHE=ns",
        ])
        .unwrap();
        assert_eq!(args.routes, vec!["a.com/*", "b.com/*"]);
        assert_eq!(
            key_value("--var", "KEY=VALUE", "A=b=c").unwrap(),
            ("A".into(), "b=c".into())
        );
        assert!(key_value("--var", "KEY=VALUE", "=x").is_err());
    }
}
