//! The direct baseline of `scripts/bench.sh`, and the seeder of its bucket.
//!
//! Every benchmark row is also run here, straight against S3 with no filesystem in between,
//! so each mount's figure can be read against a ceiling. The reads go through the daemon's
//! own store client ([`SdkStore`], built by the daemon's own [`clients::s3_client`]: path-style for the
//! local endpoint, SDK retries off, credentials from the standard chain), so the gap between this
//! column and the cognito-s3fs column is the filesystem's cost, not a different HTTP client.
//!
//! Each subcommand prints one JSON line; `scripts/bench.py` reads it.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use clap::{Parser, Subcommand};
use cognito_s3fs::s3::sdk::SdkStore;
use cognito_s3fs::s3::ObjectStore;
use cognito_s3fs::settings::Endpoints;
use cognito_s3fs::start::clients;

const MIB: u64 = 1 << 20;
/// The seeded layout; `scripts/bench.py` uses the same names.
const BIG: (&str, u64) = ("big/1GiB.bin", 1 << 30);
const MID: (&str, u64) = ("mid/256MiB.bin", 256 * MIB);
const SMALL: (&str, u64, u64) = ("small/", 1000, 16 * 1024);
const LISTS: [(&str, u64); 3] = [
    ("list/1k/", 1000),
    ("list/10k/", 10_000),
    ("list/100k/", 100_000),
];
/// Size of each object of the listing prefixes: tiny, only the count matters.
const TINY: u64 = 16;

#[derive(Parser)]
#[command(about = "Direct S3 baseline and seeder for scripts/bench.sh")]
struct Cli {
    #[arg(long)]
    endpoint_url: String,
    #[arg(long)]
    region: String,
    #[arg(long)]
    bucket: String,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// PUT the benchmark objects that are not there yet.
    Seed {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// Read one object whole with `concurrency` ranged GETs of `part_mib` in flight.
    Seq {
        key: String,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        #[arg(long, default_value_t = 8)]
        part_mib: u64,
    },
    /// `readers` concurrent readers, reader i reading the i-th slice, one GET at a time.
    Multi {
        key: String,
        #[arg(long, default_value_t = 4)]
        readers: u64,
        #[arg(long, default_value_t = 8)]
        part_mib: u64,
    },
    /// `count` ranged GETs of `block` bytes at random block-aligned offsets, one at a time.
    Rand {
        key: String,
        #[arg(long, default_value_t = 4096)]
        block: u64,
        #[arg(long, default_value_t = 200)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also report how long the first `first` reads took.
        #[arg(long, default_value_t = 200)]
        first: usize,
    },
    /// LIST a prefix, then GET each object whole, `concurrency` at a time (1: a `cat` loop).
    Small {
        prefix: String,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    /// Paginated ListObjectsV2 of a prefix with delimiter `/`.
    List { prefix: String },
}

type Fallible<T> = Result<T, String>;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let client = client(&cli).await;
    let store = SdkStore::new(client.clone());
    let bucket = cli.bucket.as_str();
    let started = Instant::now();
    let result = match cli.command {
        Cmd::Seed { concurrency } => seed(&client, &store, bucket, concurrency).await,
        Cmd::Seq {
            key,
            concurrency,
            part_mib,
        } => seq(&store, bucket, &key, concurrency, part_mib * MIB).await,
        Cmd::Multi {
            key,
            readers,
            part_mib,
        } => multi(&store, bucket, &key, readers, part_mib * MIB).await,
        Cmd::Rand {
            key,
            block,
            count,
            seed,
            first,
        } => rand(&store, bucket, &key, (block, count, first), seed).await,
        Cmd::Small {
            prefix,
            concurrency,
        } => small(&store, bucket, &prefix, concurrency).await,
        Cmd::List { prefix } => list(&store, bucket, &prefix).await.map(|(n, _)| n),
    };
    match result {
        Ok(fields) => {
            let c = store.counters().snapshot();
            println!(
                "{{{fields},\"secs\":{:.6},\"list_requests\":{},\"get_requests\":{},\"get_bytes\":{}}}",
                started.elapsed().as_secs_f64(),
                c.list,
                c.get,
                c.get_bytes
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("s3-direct: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The S3 client the daemon builds in no-Cognito mode, from the same function.
async fn client(cli: &Cli) -> aws_sdk_s3::Client {
    let endpoints = Endpoints {
        url: Some(cli.endpoint_url.clone()),
        path_style: true,
    };
    let sdk = clients::sdk_config(Some(&cli.region), &endpoints, false).await;
    clients::s3_client(&sdk, endpoints.path_style, None)
}

/// Runs `f(0..count)` on `workers` tasks, each taking the next index when it is done.
async fn for_each_concurrent<F, Fut>(workers: usize, count: u64, f: F) -> Fallible<()>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Fallible<()>> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let f = Arc::new(f);
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (next, f) = (next.clone(), f.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return Fallible::Ok(());
                    }
                    f(i).await?;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// Deterministic pseudo-random bytes (xorshift64*), so every run reads the same content.
fn content(seed: u64, len: u64) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len as usize + 8);
    while (out.len() as u64) < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len as usize);
    out.into()
}

/// Every object under `prefix` (one directory level), with its size.
async fn list(
    store: &SdkStore,
    bucket: &str,
    prefix: &str,
) -> Fallible<(String, Vec<(String, u64)>)> {
    let (mut objects, mut pages, mut token) = (Vec::new(), 0u64, None);
    loop {
        let page = store
            .list_page(bucket, prefix, token)
            .await
            .map_err(|e| e.to_string())?;
        pages += 1;
        objects.extend(page.objects.into_iter().map(|o| (o.key, o.size)));
        token = page.next_token;
        if token.is_none() {
            let fields = format!(
                "\"op\":\"list\",\"entries\":{},\"pages\":{pages}",
                objects.len()
            );
            return Ok((fields, objects));
        }
    }
}

async fn object_size(store: &SdkStore, bucket: &str, key: &str) -> Fallible<u64> {
    let dir = key.rfind('/').map_or("", |i| &key[..=i]);
    let (_, objects) = list(store, bucket, dir).await?;
    objects
        .into_iter()
        .find_map(|(k, size)| (k == key).then_some(size))
        .ok_or_else(|| format!("no object {key} in bucket {bucket}"))
}

/// PUTs `count` objects named by `name(i)` of `size` bytes, unless `prefix` already holds
/// exactly `count` objects.
async fn seed_set(
    client: &aws_sdk_s3::Client,
    store: &SdkStore,
    bucket: &str,
    (prefix, count, size, concurrency): (&str, u64, u64, usize),
    name: fn(&str, u64) -> String,
) -> Fallible<u64> {
    let (_, have) = list(store, bucket, prefix).await?;
    if have.len() as u64 == count && have.iter().all(|(_, s)| *s == size) {
        return Ok(0);
    }
    let (client, bucket, prefix) = (client.clone(), bucket.to_owned(), prefix.to_owned());
    for_each_concurrent(concurrency.min(count as usize), count, move |i| {
        let (client, bucket, key) = (client.clone(), bucket.clone(), name(&prefix, i));
        async move {
            let body = content(i + 1 + size, size);
            let put = client
                .put_object()
                .bucket(bucket)
                .key(&key)
                .body(body.into());
            put.send().await.map_err(|e| format!("PUT {key}: {e:?}"))?;
            Ok(())
        }
    })
    .await?;
    Ok(count)
}

async fn seed(
    client: &aws_sdk_s3::Client,
    store: &SdkStore,
    bucket: &str,
    concurrency: usize,
) -> Fallible<String> {
    // A whole object is a "set" of one, named by its full key.
    let whole: fn(&str, u64) -> String = |key, _| key.to_owned();
    let small: fn(&str, u64) -> String = |p, i| format!("{p}f{i:04}.bin");
    let tiny: fn(&str, u64) -> String = |p, i| format!("{p}o{i:06}");
    let (small_prefix, small_count, small_size) = SMALL;
    let mut sets = vec![
        ((BIG.0, 1, BIG.1, 1), whole),
        ((MID.0, 1, MID.1, 1), whole),
        ((small_prefix, small_count, small_size, concurrency), small),
    ];
    sets.extend(
        LISTS
            .iter()
            .map(|&(prefix, count)| ((prefix, count, TINY, concurrency), tiny)),
    );
    let mut put = 0;
    for (set, name) in sets {
        put += seed_set(client, store, bucket, set, name).await?;
    }
    Ok(format!("\"op\":\"seed\",\"put\":{put}"))
}

fn throughput(op: &str, bytes: u64, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64();
    let mib_s = bytes as f64 / MIB as f64 / secs;
    format!("\"op\":\"{op}\",\"bytes\":{bytes},\"run_secs\":{secs:.6},\"mib_s\":{mib_s:.1}")
}

/// Reads `range` of `key` in parts of `part`, `concurrency` parts in flight.
async fn read_range(
    store: &SdkStore,
    bucket: &str,
    key: &str,
    range: std::ops::Range<u64>,
    (concurrency, part): (usize, u64),
) -> Fallible<()> {
    let parts = (range.end - range.start).div_ceil(part);
    let (store, bucket, key) = (store.clone(), bucket.to_owned(), key.to_owned());
    for_each_concurrent(concurrency, parts, move |i| {
        let start = range.start + i * part;
        let r = start..(start + part).min(range.end);
        let (store, bucket, key) = (store.clone(), bucket.clone(), key.clone());
        async move {
            store
                .get_range(&bucket, &key, r, None)
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        }
    })
    .await
}

async fn seq(store: &SdkStore, bucket: &str, key: &str, n: usize, part: u64) -> Fallible<String> {
    let size = object_size(store, bucket, key).await?;
    let started = Instant::now();
    read_range(store, bucket, key, 0..size, (n, part)).await?;
    Ok(throughput("seq", size, started))
}

async fn multi(
    store: &SdkStore,
    bucket: &str,
    key: &str,
    readers: u64,
    part: u64,
) -> Fallible<String> {
    let size = object_size(store, bucket, key).await?;
    let slice = size / readers;
    let started = Instant::now();
    let tasks: Vec<_> = (0..readers)
        .map(|i| {
            let (store, bucket, key) = (store.clone(), bucket.to_owned(), key.to_owned());
            let range = i * slice..(i + 1) * slice;
            tokio::spawn(async move { read_range(&store, &bucket, &key, range, (1, part)).await })
        })
        .collect();
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(throughput("multi", slice * readers, started))
}

/// `count` reads of `block` bytes at random block-aligned offsets (xorshift64, seeded).
async fn rand(
    store: &SdkStore,
    bucket: &str,
    key: &str,
    (block, count, first): (u64, usize, usize),
    seed: u64,
) -> Fallible<String> {
    let size = object_size(store, bucket, key).await?;
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let (mut latencies, mut first_secs) = (Vec::with_capacity(count), 0.0);
    let started = Instant::now();
    for i in 0..count {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let offset = x % (size / block) * block;
        let t = Instant::now();
        let range = offset..offset + block;
        store
            .get_range(bucket, key, range, None)
            .await
            .map_err(|e| e.to_string())?;
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
        if i + 1 == first {
            first_secs = started.elapsed().as_secs_f64();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((p / 100.0 * count as f64).ceil() as usize).clamp(1, count) - 1];
    Ok(format!(
        "\"op\":\"rand\",\"block\":{block},\"count\":{count},\"run_secs\":{secs:.6},\
         \"iops\":{:.1},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"first_secs\":{first_secs:.6}",
        count as f64 / secs,
        pct(50.0),
        pct(99.0)
    ))
}

async fn small(
    store: &SdkStore,
    bucket: &str,
    prefix: &str,
    concurrency: usize,
) -> Fallible<String> {
    let started = Instant::now();
    let (_, objects) = list(store, bucket, prefix).await?;
    let objects = Arc::new(objects);
    let count = objects.len();
    let (store, bucket) = (store.clone(), bucket.to_owned());
    for_each_concurrent(concurrency.max(1), count as u64, move |i| {
        let (store, bucket, objects) = (store.clone(), bucket.clone(), objects.clone());
        async move {
            let (key, size) = &objects[i as usize];
            store
                .get_range(&bucket, key, 0..*size, None)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await?;
    let secs = started.elapsed().as_secs_f64();
    Ok(format!(
        "\"op\":\"small\",\"files\":{count},\"in_flight\":{concurrency},\"run_secs\":{secs:.6}"
    ))
}
