//! A tiny S3 that misbehaves on purpose, for `tests/hostile.rs`: one bucket `hb` whose
//! objects each answer GetObject wrongly in their own way, and whose directories each list
//! without end in their own way. Every answer is canned; nothing checks signatures.
//!
//! Objects (all `SIZE` bytes of [`byte_at`], listed with ETag `"good"`):
//! - `good.bin`: answered right, so a failure elsewhere is the check, not the server.
//! - `wrong-range.bin`: a 206 for the range one byte later than asked.
//! - `ignores-range.bin`: a 200 with the whole object, whatever the Range.
//! - `other-etag.bin`: the right range, under the ETag of another version.
//!
//! Directories (common prefixes of the bucket):
//! - `same-token/`: two objects, always truncated, always the same token.
//! - `new-tokens/`: the same two objects, always truncated, a new token each time.
//! - `empty-pages/`: no objects, always truncated, a new token each time.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub const SIZE: u64 = 4 << 20;
pub const OBJECTS: [&str; 4] = [
    "good.bin",
    "wrong-range.bin",
    "ignores-range.bin",
    "other-etag.bin",
];
pub const DIRS: [&str; 3] = ["same-token/", "new-tokens/", "empty-pages/"];

/// The object's byte at `offset`: never the same as its neighbour's, so a shifted range
/// cannot pass for the right one.
pub fn byte_at(offset: u64) -> u8 {
    (offset % 251) as u8
}

/// The server, with what it was asked.
#[derive(Clone, Default)]
pub struct HostileS3 {
    /// Requests by object key or directory prefix.
    requests: Arc<Mutex<HashMap<String, u64>>>,
    tokens: Arc<Mutex<u64>>,
}

struct Request {
    path: String,
    query: HashMap<String, String>,
    range: Option<(u64, u64)>,
}

impl HostileS3 {
    /// Starts serving on a loopback port; returns the endpoint URL.
    pub fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = self.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.serve(conn));
            }
        });
        url
    }

    pub fn requests(&self, what: &str) -> u64 {
        *self.requests.lock().unwrap().get(what).unwrap_or(&0)
    }

    fn serve(&self, conn: TcpStream) {
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut conn = conn;
        while let Some(req) = read_request(&mut reader) {
            let (head, body) = self.answer(&req);
            let sent = conn
                .write_all(head.as_bytes())
                .and_then(|()| conn.write_all(&body));
            if sent.is_err() {
                return;
            }
        }
    }

    fn count(&self, what: &str) {
        *self
            .requests
            .lock()
            .unwrap()
            .entry(what.into())
            .or_default() += 1;
    }

    fn answer(&self, req: &Request) -> (String, Vec<u8>) {
        let path = req.path.trim_start_matches('/');
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        let listing = req.query.get("list-type").is_some_and(|t| t == "2");
        match (bucket, key) {
            ("hb", "") if listing => self.list(req),
            ("hb", key) if OBJECTS.contains(&key) => {
                self.count(key);
                get(key, req.range)
            }
            _ => response("404 Not Found", &[], no_such_key().into_bytes()),
        }
    }

    fn list(&self, req: &Request) -> (String, Vec<u8>) {
        let prefix = req.query.get("prefix").cloned().unwrap_or_default();
        let Some(dir) = DIRS.iter().find(|d| prefix == **d) else {
            let objects: Vec<&str> = OBJECTS
                .iter()
                .chain(DIRS.iter())
                .copied()
                .filter(|k| k.starts_with(&prefix))
                .collect();
            return listing(&prefix, &objects, None);
        };
        self.count(dir);
        let fresh = || {
            let mut n = self.tokens.lock().unwrap();
            *n += 1;
            format!("token-{n}")
        };
        let two = [format!("{dir}a"), format!("{dir}b")];
        let two: Vec<&str> = two.iter().map(String::as_str).collect();
        match *dir {
            "same-token/" => listing(&prefix, &two, Some("always-the-same".into())),
            "new-tokens/" => listing(&prefix, &two, Some(fresh())),
            _ => listing(&prefix, &[], Some(fresh())),
        }
    }
}

/// The GetObject answer for `key`, wrong in that object's way.
fn get(key: &str, range: Option<(u64, u64)>) -> (String, Vec<u8>) {
    let (start, last) = range.unwrap_or((0, SIZE - 1));
    let last = last.min(SIZE - 1);
    let (start, last, etag) = match key {
        "wrong-range.bin" => (start + 1, (last + 1).min(SIZE - 1), "\"good\""),
        "other-etag.bin" => (start, last, "\"another-version\""),
        _ => (start, last, "\"good\""),
    };
    if key == "ignores-range.bin" || range.is_none() {
        let body = (0..SIZE).map(byte_at).collect();
        return response("200 OK", &[("ETag", etag.into())], body);
    }
    let body = (start..=last).map(byte_at).collect();
    let content_range = format!("bytes {start}-{last}/{SIZE}");
    let headers = [("ETag", etag.into()), ("Content-Range", content_range)];
    response("206 Partial Content", &headers, body)
}

fn listing(prefix: &str, keys: &[&str], token: Option<String>) -> (String, Vec<u8>) {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult \
         xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>hb</Name>\
         <Prefix>{prefix}</Prefix><Delimiter>/</Delimiter><MaxKeys>1000</MaxKeys>\
         <KeyCount>{}</KeyCount><IsTruncated>{}</IsTruncated>",
        keys.len(),
        token.is_some()
    );
    if let Some(token) = token {
        xml += &format!("<NextContinuationToken>{token}</NextContinuationToken>");
    }
    for key in keys {
        if key.ends_with('/') {
            xml += &format!("<CommonPrefixes><Prefix>{key}</Prefix></CommonPrefixes>");
        } else {
            xml += &format!(
                "<Contents><Key>{key}</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>\
                 <ETag>&quot;good&quot;</ETag><Size>{SIZE}</Size>\
                 <StorageClass>STANDARD</StorageClass></Contents>"
            );
        }
    }
    xml += "</ListBucketResult>";
    let headers = [("Content-Type", "application/xml".to_owned())];
    response("200 OK", &headers, xml.into_bytes())
}

fn no_such_key() -> String {
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
     <Message>The specified key does not exist.</Message></Error>"
        .into()
}

fn response(status: &str, headers: &[(&str, String)], body: Vec<u8>) -> (String, Vec<u8>) {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    head += "\r\n";
    (head, body)
}

/// One request off a keep-alive connection (no body: the daemon only sends GETs).
fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
    let target = line.split_whitespace().nth(1)?.to_owned();
    let mut range = None;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok().filter(|n| *n > 0)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        if name.eq_ignore_ascii_case("range") {
            range = parse_range(value.trim());
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .map(|(k, v)| (k.to_owned(), unescape(v)))
        .collect();
    Some(Request {
        path: unescape(path),
        query,
        range,
    })
}

fn parse_range(value: &str) -> Option<(u64, u64)> {
    let (start, last) = value.strip_prefix("bytes=")?.split_once('-')?;
    Some((start.parse().ok()?, last.parse().ok()?))
}

/// Percent-decoding, enough for the keys and prefixes above.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
