//! The `islet` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use islet_runtime::config::Config;
use islet_runtime::isolate::IsolateOptions;
use islet_runtime::registry::Registry;
use islet_runtime::router::{Route, RouteTable};
use islet_runtime::server::{self, ServerOptions};
use islet_runtime::{script, RuntimeError};

// Many small per-request allocations (headers, bodies, hyper buffers):
// mimalloc's thread-local free lists beat glibc malloc on this pattern.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "islet",
    version,
    about = "A multi-tenant edge runtime for Workers-style JavaScript"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the scripts in the data directory.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Configuration file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Edge listen address, e.g. 0.0.0.0:8080.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Admin API listen address.
    #[arg(long)]
    admin_listen: Option<std::net::SocketAddr>,
    /// Data directory: scripts in `scripts/`, routes in `routes.json`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ISLET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("islet: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), RuntimeError> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(l) = args.admin_listen {
        config.admin_listen = l;
    }
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    if let Some(w) = args.workers {
        config.workers = w;
    }
    let scripts_dir = config.data_dir.join("scripts");
    std::fs::create_dir_all(&scripts_dir).map_err(|e| RuntimeError::io(&scripts_dir, e))?;
    let scripts = script::load_dir(&scripts_dir)?;
    let routes = load_routes(&config.data_dir.join("routes.json"))?;
    if scripts.is_empty() {
        tracing::warn!(
            dir = %scripts_dir.display(),
            "no scripts yet: put NAME.js files there and routes in routes.json, then restart"
        );
    }
    for s in &scripts {
        tracing::info!(script = %s.name, format = ?s.format, "loaded script");
    }
    let table = RouteTable::new(&routes).map_err(|e| RuntimeError::Config(e.to_string()))?;
    let registry = Arc::new(Registry::new(scripts, table));
    let options = ServerOptions {
        listen: config.listen,
        workers: config.worker_threads(),
        isolate: IsolateOptions {
            heap_limit: config.limits.heap_mb << 20,
        },
    };
    let handle = server::start(&options, registry)?;
    handle.join();
    Ok(())
}

fn load_routes(path: &std::path::Path) -> Result<Vec<Route>, RuntimeError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            RuntimeError::Config(format!(
                "{}: {e} (expected [{{\"pattern\": \"example.com/*\", \"script\": \"name\"}}])",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(RuntimeError::io(path, e)),
    }
}
