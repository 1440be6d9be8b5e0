//! The relay over in-memory streams under tokio's paused clock: no real time passes, every
//! timer fires exactly when the runtime has nothing else to do, so the delays and the cap
//! can be checked to the millisecond both ways, and a hang turns into a failed guard
//! timeout at once instead of a stuck test.

use std::future::Future;
use std::sync::Arc;

use proptest::prelude::*;
use tokio::io::{duplex, split, AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

use super::*;

const MIB: usize = 1 << 20;
const MS: Duration = Duration::from_millis(1);

/// The brief's defaults: 20 ms, 60 ms, 90 MiB/s.
fn defaults() -> Shaping {
    shaping(20, 60, Some(90))
}

fn shaping(read_ms: u64, list_ms: u64, mib_per_sec: Option<u64>) -> Shaping {
    Shaping {
        read_delay: Duration::from_millis(read_ms),
        list_delay: Duration::from_millis(list_ms),
        bytes_per_sec: mib_per_sec.map(|m| m * MIB as u64),
    }
}

/// A relay between two in-memory connections: `client` and `upstream` are the far ends.
struct Relay {
    client: DuplexStream,
    upstream: DuplexStream,
    stats: Arc<Stats>,
    task: JoinHandle<Result<(), RelayError>>,
}

fn start(shaping: Shaping) -> Relay {
    let (client, client_end) = duplex(BUF);
    let (upstream_end, upstream) = duplex(BUF);
    let stats = Arc::new(Stats::default());
    let counters = stats.clone();
    let task = tokio::spawn(async move {
        relay_halves(split(client_end), split(upstream_end), &shaping, &counters).await
    });
    Relay {
        client,
        upstream,
        stats,
        task,
    }
}

/// Fails the test instead of hanging: under the paused clock this fires as soon as
/// everything is stuck.
async fn guard<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match timeout(Duration::from_secs(30), fut).await {
        Ok(v) => v,
        Err(_) => panic!("hung: {what}"),
    }
}

async fn read_n(stream: &mut DuplexStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    guard("reading", stream.read_exact(&mut buf)).await.unwrap();
    buf
}

async fn read_to_end(stream: &mut DuplexStream) -> Vec<u8> {
    let mut buf = Vec::new();
    guard("reading to the end", stream.read_to_end(&mut buf))
        .await
        .unwrap();
    buf
}

fn assert_between(took: Duration, low: Duration, high: Duration) {
    assert!(
        took >= low && took <= high,
        "{took:?} not in {low:?}..={high:?}"
    );
}

const GET: &[u8] = b"GET /bench/big/1GiB.bin HTTP/1.1\r\nhost: x\r\nrange: bytes=0-9\r\n\r\n";
const LIST: &[u8] = b"GET /bench?list-type=2&prefix=a%2F HTTP/1.1\r\nhost: x\r\n\r\n";
const HEAD: &[u8] = b"HEAD /bench/a HTTP/1.1\r\nhost: x\r\n\r\n";
const PUT: &[u8] = b"PUT /bench/a HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

#[tokio::test(start_paused = true)]
async fn each_request_is_delayed_by_its_kind() {
    let mut r = start(defaults());
    for (request, ms) in [(GET, 20), (LIST, 60), (PUT, 0), (HEAD, 20), (GET, 20)] {
        let t0 = Instant::now();
        r.client.write_all(request).await.unwrap();
        assert_eq!(read_n(&mut r.upstream, request.len()).await, request);
        let delay = Duration::from_millis(ms);
        assert_between(t0.elapsed(), delay, delay + MS);
        r.upstream.write_all(RESPONSE).await.unwrap();
        assert_eq!(read_n(&mut r.client, RESPONSE.len()).await, RESPONSE);
    }
    let s = &r.stats;
    let counts = [&s.lists, &s.reads, &s.others].map(|c| c.load(Ordering::Relaxed));
    assert_eq!(counts, [1, 3, 1]);
}

#[tokio::test(start_paused = true)]
async fn pipelined_requests_are_a_delay_line_and_stay_in_order() {
    let mut r = start(defaults());
    let t0 = Instant::now();
    r.client
        .write_all(&[GET, HEAD, LIST].concat())
        .await
        .unwrap();
    // The GET and the HEAD arrived together, so both leave at +20 ms, not at +20 and +40.
    assert_eq!(
        read_n(&mut r.upstream, GET.len() + HEAD.len()).await,
        [GET, HEAD].concat()
    );
    assert_between(t0.elapsed(), 20 * MS, 21 * MS);
    assert_eq!(read_n(&mut r.upstream, LIST.len()).await, LIST);
    assert_between(t0.elapsed(), 60 * MS, 61 * MS);
}

#[tokio::test(start_paused = true)]
async fn the_cap_holds_the_response_direction() {
    let mut r = start(shaping(0, 0, Some(16)));
    let body: Vec<u8> = (0..8 * MIB).map(|i| (i % 251) as u8).collect();
    let t0 = Instant::now();
    let (wrote, got) = tokio::join!(r.upstream.write_all(&body), read_n(&mut r.client, 8 * MIB));
    wrote.unwrap();
    assert!(got == body, "the body changed on the way");
    // 8 MiB at 16 MiB/s is 500 ms, less the pacer's lead of 1 ms.
    assert_between(t0.elapsed(), 499 * MS, 502 * MS);
}

#[tokio::test(start_paused = true)]
async fn the_cap_holds_the_request_direction() {
    let mut r = start(shaping(0, 0, Some(16)));
    let head = format!("PUT /b/k HTTP/1.1\r\ncontent-length: {}\r\n\r\n", 8 * MIB);
    let request = [head.as_bytes(), &vec![7; 8 * MIB]].concat();
    let t0 = Instant::now();
    let (wrote, got) = tokio::join!(
        r.client.write_all(&request),
        read_n(&mut r.upstream, request.len())
    );
    wrote.unwrap();
    assert!(got == request, "the request changed on the way");
    assert_between(t0.elapsed(), 499 * MS, 502 * MS);
}

#[tokio::test(start_paused = true)]
async fn a_client_half_close_reaches_upstream_and_the_response_still_flows() {
    let mut r = start(defaults());
    r.client.write_all(GET).await.unwrap();
    r.client.shutdown().await.unwrap();
    assert_eq!(read_to_end(&mut r.upstream).await, GET);
    r.upstream.write_all(RESPONSE).await.unwrap();
    r.upstream.shutdown().await.unwrap();
    assert_eq!(read_to_end(&mut r.client).await, RESPONSE);
    guard("the relay's end", r.task).await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_upstream_close_reaches_the_client() {
    let mut r = start(defaults());
    drop(r.upstream);
    assert_eq!(read_to_end(&mut r.client).await, b"");
    // Writing on towards the closed side fails the relay, which ends both directions.
    r.client.write_all(GET).await.unwrap();
    let err = guard("the relay's end", r.task).await.unwrap().unwrap_err();
    assert!(err.is_disconnect(), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_client_close_reaches_upstream() {
    let mut r = start(defaults());
    r.client.write_all(&GET[..10]).await.unwrap();
    drop(r.client);
    // The partial head goes on as it came, then the end of the stream.
    assert_eq!(read_to_end(&mut r.upstream).await, &GET[..10]);
}

#[tokio::test(start_paused = true)]
async fn a_malformed_request_ends_both_directions() {
    let mut r = start(defaults());
    r.client
        .write_all(b"\x01\x02 / HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let err = guard("the relay's end", r.task).await.unwrap().unwrap_err();
    assert!(matches!(err, RelayError::Frame(_)), "{err}");
    assert_eq!(read_to_end(&mut r.upstream).await, b"");
    assert_eq!(read_to_end(&mut r.client).await, b"");
}

/// One request of a generated exchange, and the response it gets.
#[derive(Debug, Clone)]
enum Request {
    Get { list: bool, key: String },
    Put(Vec<u8>),
    Chunked { chunks: Vec<Vec<u8>>, trailer: bool },
}

impl Request {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Request::Get { list: true, key } => format!("GET /b?prefix={key} HTTP/1.1\r\n\r\n"),
            Request::Get { key, .. } => format!("GET /b/{key} HTTP/1.1\r\nh: v\r\n\r\n"),
            Request::Put(body) => {
                let head = format!(
                    "PUT /b/k HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                return [head.as_bytes(), body].concat();
            }
            Request::Chunked { chunks, trailer } => return chunked(chunks, *trailer),
        }
        .into_bytes()
    }

    fn kind(&self) -> Kind {
        match self {
            Request::Get { list: true, .. } => Kind::List,
            Request::Get { .. } => Kind::Read,
            _ => Kind::Other,
        }
    }
}

fn chunked(chunks: &[Vec<u8>], trailer: bool) -> Vec<u8> {
    let mut out = b"PUT /b/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for c in chunks {
        out.extend_from_slice(format!("{:x};ext=1\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    if trailer {
        out.extend_from_slice(b"x-amz-checksum-crc32: AAAAAA==\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn request() -> impl Strategy<Value = Request> {
    let bytes = || prop::collection::vec(any::<u8>(), 1..3000);
    prop_oneof![
        (any::<bool>(), "[a-z0-9/._-]{1,30}").prop_map(|(list, key)| Request::Get { list, key }),
        prop::collection::vec(any::<u8>(), 0..5000).prop_map(Request::Put),
        (prop::collection::vec(bytes(), 0..4), any::<bool>())
            .prop_map(|(chunks, trailer)| Request::Chunked { chunks, trailer }),
    ]
}

/// Writes `bytes` in pieces of `piece` bytes, as a client's separate writes.
async fn write_in_pieces(stream: &mut DuplexStream, bytes: &[u8], piece: usize) {
    for p in bytes.chunks(piece) {
        stream.write_all(p).await.unwrap();
    }
}

/// Every request one at a time with its response, then all of them pipelined at once.
async fn exchange(requests: Vec<(Request, Vec<u8>)>, piece: usize) {
    let mut r = start(defaults());
    for (request, response) in &requests {
        let sent = request.bytes();
        write_in_pieces(&mut r.client, &sent, piece).await;
        assert!(
            read_n(&mut r.upstream, sent.len()).await == sent,
            "{request:?}"
        );
        r.upstream.write_all(response).await.unwrap();
        assert!(read_n(&mut r.client, response.len()).await == *response);
    }
    let all: Vec<u8> = requests.iter().flat_map(|(q, _)| q.bytes()).collect();
    let (_, got) = tokio::join!(
        write_in_pieces(&mut r.client, &all, piece),
        read_n(&mut r.upstream, all.len())
    );
    assert!(got == all, "the pipelined requests changed on the way");
    let count = |k| 2 * requests.iter().filter(|(q, _)| q.kind() == k).count() as u64;
    let s = &r.stats;
    assert_eq!(s.lists.load(Ordering::Relaxed), count(Kind::List));
    assert_eq!(s.reads.load(Ordering::Relaxed), count(Kind::Read));
    assert_eq!(s.others.load(Ordering::Relaxed), count(Kind::Other));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn bytes_pass_unchanged_both_ways_on_one_connection(
        requests in prop::collection::vec(
            (request(), prop::collection::vec(any::<u8>(), 0..20_000)), 1..12),
        piece in prop_oneof![Just(1usize), 2usize..64, Just(1 << 20)],
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(exchange(requests, piece));
    }
}
