//! The `herald-server` binary: the push gateway.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use herald_server::{app, AppState, EventLog, DEFAULT_MAX_BODY_BYTES};
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

/// herald's push gateway: CloudEvents in over HTTP (POST /events), Server-Sent Events out
/// (GET /events/stream?topic=PATTERN), and the page's static files.
///
/// Every option can also be set by the environment variable named in brackets. Logging is
/// set with RUST_LOG (default: info).
#[derive(Debug, Parser)]
#[command(name = "herald-server", version)]
struct Cli {
    /// Address to listen on; port 0 picks a free port. The bound address is printed on
    /// standard output as `herald-server listening on http://ADDR/`.
    #[arg(long, env = "HERALD_LISTEN", default_value = "127.0.0.1:8787")]
    listen: SocketAddr,

    /// Directory of the durable event log (created if missing).
    #[arg(long, env = "HERALD_DATA", default_value = "./.herald")]
    data: PathBuf,

    /// Directory of static files to serve for every other path (the trunk-built page).
    #[arg(long, env = "HERALD_STATIC_DIR")]
    static_dir: Option<PathBuf>,

    /// Largest accepted request body in bytes; larger posts get 413.
    #[arg(long, env = "HERALD_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("herald-server: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let log = EventLog::open(&cli.data).map_err(|e| e.to_string())?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut state = AppState::new(log)
        .with_max_body_bytes(cli.max_body_bytes)
        .with_shutdown(stop_rx);
    if let Some(dir) = &cli.static_dir {
        if !dir.is_dir() {
            return Err(format!("--static-dir {} is not a directory", dir.display()));
        }
        state = state.with_static_dir(dir);
    }
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cli.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, data = %cli.data.display(), head = %state.log().head(), "gateway started");
    println!("herald-server listening on http://{addr}/");

    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: closing streams");
            let _ = stop_tx.send(true);
        })
        .await
        .map_err(|e| e.to_string())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
