//! s3-shaper: the benchmark's stand-in for the network between an S3 client and S3.
//!
//! On loopback, Garage answers in a fraction of a millisecond at several hundred MiB/s, so
//! prefetch depth, parallelism and request counts hardly matter there. Real S3 clients see a
//! first-byte latency per request and a bandwidth per connection, and that is where those
//! choices decide speed. This kernel has no `netem`, so the shaping is done here: a TCP
//! proxy, one upstream connection per client connection, that
//! - holds each request for its first-byte latency (default 20 ms for GET and HEAD, 60 ms for
//!   a listing: about what EC2 clients see in-region), and
//! - caps each connection's bandwidth, each direction on its own (default 90 MiB/s, AWS's
//!   guidance per connection).
//!
//! Semantics decision: the latency delays the *request*, not the response. A real round trip
//! delays the request's arrival by half and the response's by half, so the server cannot
//! start before the first half has passed; holding the response instead would let the
//! server's work overlap the latency and make slow requests look as fast as quick ones.
//! Delaying the request by the whole first-byte latency gives the client the same
//! first-byte time (latency + server time) with one wait per request.
//!
//! Not modelled: connection set-up (a real TCP and TLS handshake costs one to three round
//! trips; here it is free, which matters to a connection's first request only, since every
//! system keeps connections alive), loss, and a shared bottleneck across connections.
//!
//! The proxy runs on one thread by default: at the default caps one core is far more than it
//! needs, and a second thread would take CPU from the server it sits in front of. Its own CPU
//! time is reported at exit (`--report`), so a benchmark can show what it cost.

mod framing;
mod pacer;
mod relay;
mod report;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinSet;

use relay::{Shaping, Stats};

const MIB: u64 = 1 << 20;

#[derive(Parser, Debug)]
#[command(about = "Latency- and bandwidth-shaping TCP proxy for S3 benchmarks")]
struct Cli {
    /// Address to listen on; port 0 picks a free one (printed as `listening on ADDR`).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The S3 server every connection is relayed to.
    #[arg(long, default_value = "127.0.0.1:3900")]
    upstream: SocketAddr,
    /// Delay of each GET and HEAD that is not a listing, in ms (0: none).
    #[arg(long, default_value_t = 20)]
    get_delay_ms: u64,
    /// Delay of each listing (a GET on a bucket, or with a listing query), in ms (0: none).
    #[arg(long, default_value_t = 60)]
    list_delay_ms: u64,
    /// Bandwidth cap of each connection in each direction, in MiB/s (0: no cap).
    #[arg(long, default_value_t = 90)]
    bandwidth_mib: u64,
    /// Write the exit report (CPU time, requests, bytes; one JSON line) here, not to stderr.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,
}

impl Cli {
    fn shaping(&self) -> Shaping {
        Shaping {
            read_delay: Duration::from_millis(self.get_delay_ms),
            list_delay: Duration::from_millis(self.list_delay_ms),
            bytes_per_sec: (self.bandwidth_mib > 0).then(|| self.bandwidth_mib * MIB),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match cli.threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n.into())
            .enable_all()
            .build(),
    };
    let result = runtime.and_then(|rt| rt.block_on(run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("s3-shaper: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Serves until SIGTERM or SIGINT, then drops every connection and writes the report.
async fn run(cli: Cli) -> std::io::Result<()> {
    let listener = TcpListener::bind(cli.listen).await?;
    // Once, before anything else is written: a script reads this line to find the port.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;
    drop(stdout);
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let shaping = Arc::new(cli.shaping());
    let stats = Arc::new(Stats::default());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    stats.connections.fetch_add(1, Ordering::Relaxed);
                    let job = connection(client, peer, cli.upstream, shaping.clone(), stats.clone());
                    connections.spawn(job);
                }
                Err(e) => eprintln!("s3-shaper: accepting a connection: {e}"),
            },
        }
    }
    connections.shutdown().await;
    report::write(&stats, cli.report.as_deref())
}

/// One client connection: connect upstream, relay, and say why it ended if that was odd.
async fn connection(
    client: TcpStream,
    peer: SocketAddr,
    upstream: SocketAddr,
    shaping: Arc<Shaping>,
    stats: Arc<Stats>,
) {
    let server = match TcpStream::connect(upstream).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("s3-shaper: connecting to {upstream} for {peer}: {e}");
            // Reset, as a real client would see a refused connection, not an empty answer.
            let _ = client.set_zero_linger();
            return;
        }
    };
    // Without this, Nagle and delayed ACKs stall every small response by 40 ms.
    for socket in [&client, &server] {
        if let Err(e) = socket.set_nodelay(true) {
            eprintln!("s3-shaper: setting TCP_NODELAY for {peer}: {e}");
        }
    }
    if let Err(e) = relay::relay(client, server, &shaping, &stats).await {
        if !e.is_disconnect() {
            eprintln!("s3-shaper: connection from {peer}: {e}");
        }
    }
}
