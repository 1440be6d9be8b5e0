//! Where one HTTP/1.1 request ends and the next begins, and what kind of S3 call it is.
//!
//! The shaper delays each request by its kind, so it must find request boundaries on a
//! keep-alive connection: parse each head, then skip its body by `Content-Length` or by
//! walking the chunk framing of `Transfer-Encoding: chunked` (the bytes themselves are
//! forwarded untouched; only the framing is read). Responses are never parsed: the server
//! answers in request order, so delaying requests is enough (see `relay`).
//!
//! Semantics decision: requests are taken to be path-style (`/bucket/key`), as every system
//! of the benchmark is configured; a virtual-hosted `GET /key` would count as a bucket GET.

use thiserror::Error;

/// Heads larger than this are refused: S3 clients send a few KiB at most.
pub const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;

/// What a request is, for the delay it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A listing: a GET on a bucket without a key, or with a listing query.
    List,
    /// Any other GET, and every HEAD: object reads and metadata.
    Read,
    /// Everything else (PUT, POST, DELETE): not delayed.
    Other,
}

/// How the request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Length(u64),
    Chunked,
}

/// A parsed request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub kind: Kind,
    /// Bytes of the head, request line through the empty line.
    pub len: usize,
    pub body: Body,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("malformed request head: {0}")]
    Head(String),
    #[error("request head over {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("bad Content-Length {0:?}")]
    Length(String),
    #[error("malformed chunked body")]
    Chunk,
}

/// Parses a head from the start of `buf`; `None` while it is incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, FrameError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return Err(FrameError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(FrameError::Head(e.to_string())),
    };
    let method = req.method.unwrap_or_default();
    let target = req.path.unwrap_or_default();
    Ok(Some(Head {
        kind: classify(method, target),
        len,
        body: body(req.headers)?,
    }))
}

/// The delay class of a request line.
pub fn classify(method: &str, target: &str) -> Kind {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match method {
        "GET" if is_bucket(path) || is_list_query(query) => Kind::List,
        "GET" | "HEAD" => Kind::Read,
        _ => Kind::Other,
    }
}

/// `/`, `/bucket` or `/bucket/`: no key.
fn is_bucket(path: &str) -> bool {
    let rest = path.strip_prefix('/').unwrap_or(path);
    match rest.split_once('/') {
        None => true,
        Some((_, key)) => key.is_empty(),
    }
}

fn is_list_query(query: &str) -> bool {
    query.split('&').any(|pair| {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        matches!(name, "list-type" | "prefix" | "delimiter")
    })
}

fn body(headers: &[httparse::Header<'_>]) -> Result<Body, FrameError> {
    let mut length = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let value = String::from_utf8_lossy(h.value);
            if value.to_ascii_lowercase().contains("chunked") {
                return Ok(Body::Chunked);
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let text = String::from_utf8_lossy(h.value).trim().to_string();
            let n: u64 = text.parse().map_err(|_| FrameError::Length(text.clone()))?;
            if length.is_some_and(|m| m != n) {
                return Err(FrameError::Length(text));
            }
            length = Some(n);
        }
    }
    Ok(Body::Length(length.unwrap_or(0)))
}

/// Walks the framing of a chunked body without touching its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkScanner {
    state: Chunk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// In a chunk-size line: the size so far, and whether an extension (`;...`) began.
    Size {
        size: u64,
        digits: u8,
        ext: bool,
    },
    /// In chunk data, this many bytes left.
    Data(u64),
    /// After chunk data, up to and including its line end.
    DataEnd,
    /// In the trailer section; `empty` while the current line has no content yet.
    Trailer {
        empty: bool,
    },
    Done,
}

/// The start of a chunk-size line.
const SIZE_LINE: Chunk = Chunk::Size {
    size: 0,
    digits: 0,
    ext: false,
};

impl Default for ChunkScanner {
    fn default() -> Self {
        ChunkScanner { state: SIZE_LINE }
    }
}

impl ChunkScanner {
    /// Consumes the body bytes at the start of `buf`: returns how many belong to the body,
    /// and whether the body ended there.
    pub fn advance(&mut self, buf: &[u8]) -> Result<(usize, bool), FrameError> {
        let mut at = 0;
        while at < buf.len() && self.state != Chunk::Done {
            if let Chunk::Data(left) = self.state {
                let take = left.min((buf.len() - at) as u64);
                at += take as usize;
                self.state = match left - take {
                    0 => Chunk::DataEnd,
                    more => Chunk::Data(more),
                };
                continue;
            }
            self.state = step(self.state, buf[at])?;
            at += 1;
        }
        Ok((at, self.state == Chunk::Done))
    }
}

/// One framing byte (anything but chunk data).
fn step(state: Chunk, b: u8) -> Result<Chunk, FrameError> {
    Ok(match state {
        Chunk::Size { size, .. } if b == b'\n' => match size {
            0 => Chunk::Trailer { empty: true },
            n => Chunk::Data(n),
        },
        Chunk::Size { size, digits, ext } if !ext && (b as char).is_ascii_hexdigit() => {
            if digits >= 15 {
                return Err(FrameError::Chunk);
            }
            let d = (b as char).to_digit(16).unwrap_or_default();
            Chunk::Size {
                size: size * 16 + u64::from(d),
                digits: digits + 1,
                ext,
            }
        }
        Chunk::Size { digits: 0, .. } => return Err(FrameError::Chunk),
        Chunk::Size { size, digits, .. } => Chunk::Size {
            size,
            digits,
            ext: true,
        },
        Chunk::DataEnd if b == b'\n' => SIZE_LINE,
        Chunk::DataEnd if b == b'\r' => Chunk::DataEnd,
        Chunk::DataEnd => return Err(FrameError::Chunk),
        Chunk::Trailer { empty } if b == b'\n' => match empty {
            true => Chunk::Done,
            false => Chunk::Trailer { empty: true },
        },
        Chunk::Trailer { empty } if b == b'\r' => Chunk::Trailer { empty },
        Chunk::Trailer { .. } => Chunk::Trailer { empty: false },
        Chunk::Data(_) | Chunk::Done => state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_are_bucket_gets_and_listing_queries() {
        assert_eq!(classify("GET", "/"), Kind::List);
        assert_eq!(classify("GET", "/bench"), Kind::List);
        assert_eq!(classify("GET", "/bench/"), Kind::List);
        assert_eq!(
            classify("GET", "/bench?list-type=2&prefix=a%2F"),
            Kind::List
        );
        assert_eq!(classify("GET", "/bench/?delimiter=%2F&prefix="), Kind::List);
        assert_eq!(classify("GET", "/?prefix=x"), Kind::List);
    }

    #[test]
    fn object_gets_and_every_head_are_reads_the_rest_is_other() {
        assert_eq!(classify("GET", "/bench/big/1GiB.bin"), Kind::Read);
        assert_eq!(classify("GET", "/bench/a?partNumber=1"), Kind::Read);
        assert_eq!(classify("GET", "/bench/a?x-id=GetObject"), Kind::Read);
        assert_eq!(classify("HEAD", "/bench/a"), Kind::Read);
        assert_eq!(classify("HEAD", "/bench"), Kind::Read);
        assert_eq!(classify("PUT", "/bench/a"), Kind::Other);
        assert_eq!(classify("POST", "/bench?delete"), Kind::Other);
        assert_eq!(classify("DELETE", "/bench/a"), Kind::Other);
    }

    #[test]
    fn a_head_is_complete_only_with_its_empty_line() {
        let full = b"GET /b/k HTTP/1.1\r\nHost: x\r\n\r\nNEXT";
        assert_eq!(parse_head(&full[..20]), Ok(None));
        let head = parse_head(full).unwrap().unwrap();
        assert_eq!(head.len, full.len() - 4);
        assert_eq!(head.kind, Kind::Read);
        assert_eq!(head.body, Body::Length(0));
    }

    #[test]
    fn bodies_are_delimited_by_length_or_chunking() {
        let put = b"PUT /b/k HTTP/1.1\r\ncontent-length: 12\r\n\r\n";
        assert_eq!(parse_head(put).unwrap().unwrap().body, Body::Length(12));
        let chunked = b"PUT /b/k HTTP/1.1\r\nContent-Length: 3\r\n\
                        Transfer-Encoding: gzip, chunked\r\n\r\n";
        assert_eq!(parse_head(chunked).unwrap().unwrap().body, Body::Chunked);
    }

    #[test]
    fn bad_heads_are_errors() {
        let twice = b"PUT /b/k HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert!(matches!(parse_head(twice), Err(FrameError::Length(_))));
        let nan = b"PUT /b/k HTTP/1.1\r\nContent-Length: -1\r\n\r\n";
        assert!(matches!(parse_head(nan), Err(FrameError::Length(_))));
        assert!(matches!(
            parse_head(b"\x01\x02 x\r\n\r\n"),
            Err(FrameError::Head(_))
        ));
        let huge = [b"GET /b/k HTTP/1.1\r\nX: ".as_slice(), &[b'a'; MAX_HEAD]].concat();
        assert_eq!(parse_head(&huge), Err(FrameError::HeadTooLarge));
    }

    const BODY: &[u8] = b"5;name=v\r\nhello\r\n0b\r\n world, hi\r\n0\r\nTrailer: t\r\n\r\n";

    #[test]
    fn a_chunked_body_ends_after_its_trailers() {
        let mut s = ChunkScanner::default();
        let mut buf = BODY.to_vec();
        buf.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(s.advance(&buf), Ok((BODY.len(), true)));
    }

    #[test]
    fn a_chunked_body_scans_the_same_byte_by_byte() {
        let mut s = ChunkScanner::default();
        for (i, b) in BODY.iter().enumerate() {
            let last = i == BODY.len() - 1;
            assert_eq!(
                s.advance(std::slice::from_ref(b)),
                Ok((1, last)),
                "byte {i}"
            );
        }
    }

    #[test]
    fn a_chunked_body_without_trailers_ends_at_its_empty_line() {
        let mut s = ChunkScanner::default();
        assert_eq!(s.advance(b"3\r\nabc\r\n0\r\n\r\nX"), Ok((13, true)));
    }

    #[test]
    fn malformed_chunk_framing_is_an_error() {
        assert_eq!(
            ChunkScanner::default().advance(b"zz\r\n"),
            Err(FrameError::Chunk)
        );
        let mut s = ChunkScanner::default();
        assert_eq!(s.advance(b"1\r\naXY"), Err(FrameError::Chunk));
        let long = b"1000000000000000\r\n";
        assert_eq!(
            ChunkScanner::default().advance(long),
            Err(FrameError::Chunk)
        );
    }
}
