//! The `islet` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use islet_runtime::config::Config;
use islet_runtime::deploy::DeployArgs;
use islet_runtime::observe::logging;
use islet_runtime::{deploy, serve, RuntimeError};

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
    /// Serve the scripts in the data directory, with the admin API beside.
    Serve(ServeArgs),
    /// Upload a script to a running node through its admin API.
    Deploy(DeployArgs),
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
    /// Data directory: the script store and the generated admin token.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Drop-in proxy: send requests that match no route to this origin
    /// (e.g. http://127.0.0.1:3000) instead of answering 404.
    #[arg(long)]
    origin: Option<String>,
    /// Where KV namespaces live: a redis:// URL for a fleet of nodes
    /// (default: the embedded store in the data directory).
    #[arg(long, env = "ISLET_STORE")]
    store: Option<String>,
    /// Log lines as `text` or `json` (default: `[log] format`, else text).
    #[arg(long)]
    log_format: Option<islet_runtime::observe::logging::LogFormat>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => run_serve(args),
        Command::Deploy(args) => run_deploy(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("islet: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_serve(args: ServeArgs) -> Result<(), RuntimeError> {
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
    if let Some(s) = args.store {
        config.store = Some(s);
    }
    if let Some(o) = args.origin {
        config.origin.url = Some(o);
    }
    if let Ok(token) = std::env::var("ISLET_ADMIN_TOKEN") {
        config.admin.token = Some(token);
    }
    if let Some(f) = args.log_format {
        config.log.format = f;
    }
    logging::init(&config.log.level, config.log.format).map_err(RuntimeError::Config)?;
    let node = serve::start(&config)?;
    wait_for_signal()?;
    tracing::info!("shutting down: draining requests in flight");
    node.shutdown();
    tracing::info!("stopped");
    Ok(())
}

/// Blocks until SIGTERM or SIGINT.
fn wait_for_signal() -> Result<(), RuntimeError> {
    use tokio::signal::unix::{signal, SignalKind};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RuntimeError::V8(format!("cannot start the signal handler: {e}")))?;
    runtime.block_on(async {
        let mut term =
            signal(SignalKind::terminate()).map_err(|e| RuntimeError::V8(format!("cannot handle SIGTERM: {e}")))?;
        let mut int =
            signal(SignalKind::interrupt()).map_err(|e| RuntimeError::V8(format!("cannot handle SIGINT: {e}")))?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    })
}

fn run_deploy(args: DeployArgs) -> Result<(), RuntimeError> {
    logging::init("warn", logging::LogFormat::Text).map_err(RuntimeError::Config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RuntimeError::Deploy(format!("cannot start: {e}")))?;
    let report = runtime.block_on(deploy::run(args))?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    println!("{report}");
    Ok(())
}
