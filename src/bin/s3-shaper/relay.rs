//! One client connection relayed to one upstream connection, with latency and a bandwidth cap.
//!
//! The two directions run side by side:
//! - requests (client to upstream): each request head is parsed to find its kind and where
//!   its body ends; the head is held until its delay has passed since it arrived, then the
//!   head and its body are forwarded unchanged;
//! - responses (upstream to client): a plain copy through large buffers, nothing parsed.
//!
//! Both directions are paced by their own [`Pacer`] when a cap is set.
//!
//! Subtleties:
//! 1. The delay is a delay line, not a pause: a request waits until `arrival + delay`, so
//!    pipelined requests that arrived together leave together, and their responses come back
//!    in order because the server answers in order. Nothing on the response side needs to
//!    know where one response ends.
//! 2. "Arrival" is the instant of the read that brought the head's last bytes, or of a later
//!    read when heads were already buffered: a pipelined head waits at most the delay.
//! 3. An end of stream is forwarded as one: the client's `shutdown(SHUT_WR)` becomes
//!    upstream's, and the other direction carries on (a half-close is not a close).
//! 4. An error in either direction (a reset, a malformed request) ends both at once; the
//!    caller then resets both sockets, so a reset on one side is a reset on the other.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant};

use crate::framing::{parse_head, Body, ChunkScanner, FrameError, Head, Kind};
use crate::pacer::Pacer;

/// Read buffer of each direction: large, so that a stream costs few system calls.
pub const BUF: usize = 256 * 1024;

/// What the relay does to traffic.
#[derive(Debug, Clone)]
pub struct Shaping {
    /// Added before each GET or HEAD (other than a listing) reaches upstream.
    pub read_delay: Duration,
    /// Added before each listing reaches upstream.
    pub list_delay: Duration,
    /// Cap of each direction of each connection; `None`: no cap.
    pub bytes_per_sec: Option<u64>,
}

impl Shaping {
    fn delay(&self, kind: Kind) -> Duration {
        match kind {
            Kind::List => self.list_delay,
            Kind::Read => self.read_delay,
            Kind::Other => Duration::ZERO,
        }
    }

    fn pacer(&self) -> Option<Pacer> {
        self.bytes_per_sec.map(Pacer::new)
    }
}

/// Counters over every connection, for the exit report.
#[derive(Debug, Default)]
pub struct Stats {
    pub connections: AtomicU64,
    pub lists: AtomicU64,
    pub reads: AtomicU64,
    pub others: AtomicU64,
    pub bytes_to_upstream: AtomicU64,
    pub bytes_to_clients: AtomicU64,
}

impl Stats {
    fn count(&self, kind: Kind) {
        let counter = match kind {
            Kind::List => &self.lists,
            Kind::Read => &self.reads,
            Kind::Other => &self.others,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Error)]
pub enum RelayError {
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: io::Error,
    },
    #[error("client sent {0}")]
    Frame(#[from] FrameError),
}

impl RelayError {
    /// A peer went away (reset, broken pipe): the normal end of many connections.
    pub fn is_disconnect(&self) -> bool {
        use io::ErrorKind::*;
        matches!(self, RelayError::Io { source, .. }
            if matches!(source.kind(), ConnectionReset | ConnectionAborted | BrokenPipe))
    }
}

fn io_error(what: &'static str) -> impl FnOnce(io::Error) -> RelayError {
    move |source| RelayError::Io { what, source }
}

/// Relays until both directions have ended; on an error resets both sockets.
pub async fn relay(
    mut client: TcpStream,
    mut upstream: TcpStream,
    shaping: &Shaping,
    stats: &Stats,
) -> Result<(), RelayError> {
    let result = {
        let (cr, cw) = client.split();
        let (ur, uw) = upstream.split();
        relay_halves((cr, cw), (ur, uw), shaping, stats).await
    };
    if result.is_err() {
        // Best effort: a socket the peer already reset may refuse the option, and then the
        // plain close that follows is all that can be done anyway.
        let _ = client.set_zero_linger();
        let _ = upstream.set_zero_linger();
    }
    result
}

/// Both directions over any streams; an error in either ends both.
pub async fn relay_halves<CR, CW, UR, UW>(
    (client_read, client_write): (CR, CW),
    (upstream_read, upstream_write): (UR, UW),
    shaping: &Shaping,
    stats: &Stats,
) -> Result<(), RelayError>
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    UR: AsyncRead + Unpin,
    UW: AsyncWrite + Unpin,
{
    let requests = forward_requests(client_read, upstream_write, shaping, stats);
    let responses = forward_responses(upstream_read, client_write, shaping, stats);
    tokio::pin!(requests, responses);
    tokio::select! {
        r = &mut requests => { r?; responses.await }
        r = &mut responses => { r?; requests.await }
    }
}

/// Client to upstream: each request held for its delay, then forwarded unchanged.
async fn forward_requests<R, W>(
    from: R,
    to: W,
    shaping: &Shaping,
    stats: &Stats,
) -> Result<(), RelayError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut inbound = Inbound::new(from);
    let mut out = Outbound::new(
        to,
        shaping.pacer(),
        &stats.bytes_to_upstream,
        "writing to upstream",
    );
    while let Some(head) = next_head(&mut inbound).await? {
        stats.count(head.kind);
        let delay = shaping.delay(head.kind);
        if !delay.is_zero() {
            sleep_until(inbound.last_read + delay).await;
        }
        out.send(&inbound.pending()[..head.len]).await?;
        inbound.consume(head.len);
        forward_body(&mut inbound, &mut out, head.body).await?;
    }
    // A partial head at the end of the stream goes on as it came: the server judges it.
    out.send(inbound.pending()).await?;
    out.shutdown().await
}

/// The next complete head, or `None` at the end of the stream.
async fn next_head<R: AsyncRead + Unpin>(
    inbound: &mut Inbound<R>,
) -> Result<Option<Head>, RelayError> {
    loop {
        if let Some(head) = parse_head(inbound.pending())? {
            return Ok(Some(head));
        }
        if inbound.fill().await? == 0 {
            return Ok(None);
        }
    }
}

/// Forwards one request body; returns early, without error, if the stream ends first.
async fn forward_body<R, W>(
    inbound: &mut Inbound<R>,
    out: &mut Outbound<'_, W>,
    body: Body,
) -> Result<(), RelayError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut left = match body {
        Body::Length(n) => n,
        Body::Chunked => u64::MAX,
    };
    let mut chunks = ChunkScanner::default();
    loop {
        let pending = inbound.pending();
        let (n, done) = match body {
            Body::Length(_) => {
                let n = left.min(pending.len() as u64) as usize;
                (n, n as u64 == left)
            }
            Body::Chunked => chunks.advance(pending)?,
        };
        out.send(&pending[..n]).await?;
        inbound.consume(n);
        left -= n as u64;
        if done || inbound.fill().await? == 0 {
            return Ok(());
        }
    }
}

/// Upstream to client: a plain copy.
async fn forward_responses<R, W>(
    mut from: R,
    to: W,
    shaping: &Shaping,
    stats: &Stats,
) -> Result<(), RelayError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0; BUF];
    let mut out = Outbound::new(
        to,
        shaping.pacer(),
        &stats.bytes_to_clients,
        "writing to the client",
    );
    loop {
        let n = from
            .read(&mut buf)
            .await
            .map_err(io_error("reading upstream"))?;
        if n == 0 {
            return out.shutdown().await;
        }
        out.send(&buf[..n]).await?;
    }
}

/// The client's side of the request direction: a buffer that heads are parsed in.
struct Inbound<R> {
    reader: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// When the last read that returned bytes completed.
    last_read: Instant,
}

impl<R: AsyncRead + Unpin> Inbound<R> {
    fn new(reader: R) -> Self {
        Inbound {
            reader,
            buf: vec![0; BUF],
            start: 0,
            end: 0,
            last_read: Instant::now(),
        }
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
    }

    /// Reads more after what is pending; 0 at the end of the stream.
    ///
    /// There is always room: a body is consumed as it comes, and a head that has not ended
    /// within `MAX_HEAD` (a quarter of the buffer) is refused before this is called.
    async fn fill(&mut self) -> Result<usize, RelayError> {
        if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        let n = self
            .reader
            .read(&mut self.buf[self.end..])
            .await
            .map_err(io_error("reading the client"))?;
        if n > 0 {
            self.end += n;
            self.last_read = Instant::now();
        }
        Ok(n)
    }
}

/// A writer behind an optional cap, counting what it sends.
struct Outbound<'a, W> {
    writer: W,
    pacer: Option<Pacer>,
    sent: &'a AtomicU64,
    what: &'static str,
}

impl<'a, W: AsyncWrite + Unpin> Outbound<'a, W> {
    fn new(writer: W, pacer: Option<Pacer>, sent: &'a AtomicU64, what: &'static str) -> Self {
        Outbound {
            writer,
            pacer,
            sent,
            what,
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), RelayError> {
        match &mut self.pacer {
            None => self.writer.write_all(bytes).await,
            Some(pacer) => {
                let mut result = Ok(());
                for slice in bytes.chunks(pacer.slice()) {
                    pacer.admit(slice.len()).await;
                    result = self.writer.write_all(slice).await;
                    if result.is_err() {
                        break;
                    }
                }
                result
            }
        }
        .map_err(io_error(self.what))?;
        self.sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), RelayError> {
        self.writer.shutdown().await.map_err(io_error(self.what))
    }
}

#[cfg(test)]
mod tests;
