//! A minimal HTTP/1.1 client connection: one keep-alive socket, one request at a time.
//!
//! Why not reqwest or hyper's client: the generator shares two cores with the server it
//! measures, so every microsecond it spends is taken from the server. A request here is one
//! `write` of bytes formatted into a reused buffer and a few `read`s parsed by `httparse`; no
//! pool, no header map, no per-request allocation beyond the response body. It speaks exactly
//! what the benchmark needs: `Content-Length` request bodies, `Content-Length` or chunked
//! responses, keep-alive unless the server says `Connection: close`.

use std::io::{self, Write as _};
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What came back: the status and the body (decoded from chunks when chunked).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

pub struct Connection {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    /// The header line sent with every request (`Host`).
    fixed: String,
    out: Vec<u8>,
    input: Vec<u8>,
    /// The most bytes handed to the kernel per `write`; 0: a request in one `write`.
    piece: usize,
}

impl Connection {
    /// A connection to `addr`. Nothing is opened until [`connect`](Self::connect) or the first
    /// request.
    pub fn new(addr: SocketAddr) -> Self {
        let fixed = format!("Host: {addr}\r\n");
        Self {
            addr,
            stream: None,
            fixed,
            out: Vec::with_capacity(1024),
            input: Vec::with_capacity(8192),
            piece: 0,
        }
    }

    /// Hands the kernel at most `bytes` of a request per `write` (0: each request in one). On
    /// loopback a `write` does the sending and most of the receiving side's TCP work, and a
    /// kernel without preemption in kernel code (`PREEMPT_NONE`) lets nothing else run on that
    /// CPU until it returns, whatever the caller's priority: a sender that stands for a phone
    /// uploading megabytes writes in pieces, as a network would deliver them.
    pub fn with_write_limit(mut self, bytes: usize) -> Self {
        self.piece = bytes;
        self
    }

    pub async fn connect(&mut self) -> io::Result<()> {
        let stream = TcpStream::connect(self.addr).await?;
        // Requests are one write each: waiting to coalesce them would only add latency.
        stream.set_nodelay(true)?;
        self.stream = Some(stream);
        Ok(())
    }

    /// Sends one JSON request (with `Authorization: Token <key>` when a key is given) and reads
    /// its response. After an error the socket is dropped and the next request opens a new one
    /// (a request is never retried: the caller counts the error).
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&[u8]>,
    ) -> io::Result<Response> {
        self.send_as(method, path, key, "application/json", body)
            .await
    }

    /// [`send`](Self::send) with a body of another `content_type` (a `multipart/form-data` one
    /// names its boundary).
    pub async fn send_as(
        &mut self,
        method: &str,
        path: &str,
        key: Option<&str>,
        content_type: &str,
        body: Option<&[u8]>,
    ) -> io::Result<Response> {
        if self.stream.is_none() {
            self.connect().await?;
        }
        let result = self.exchange(method, path, key, content_type, body).await;
        match &result {
            Ok((_, keep_alive)) if *keep_alive => {}
            _ => self.stream = None,
        }
        result.map(|(r, _)| r)
    }

    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        key: Option<&str>,
        content_type: &str,
        body: Option<&[u8]>,
    ) -> io::Result<(Response, bool)> {
        let body = body.unwrap_or_default();
        self.out.clear();
        write!(
            self.out,
            "{method} {path} HTTP/1.1\r\n{}Content-Type: {content_type}\r\n",
            self.fixed
        )?;
        if let Some(key) = key {
            write!(self.out, "Authorization: Token {key}\r\n")?;
        }
        write!(self.out, "Content-Length: {}\r\n\r\n", body.len())?;
        self.out.extend_from_slice(body);
        let stream = self.stream.as_mut().expect("connected above");
        if self.piece == 0 {
            stream.write_all(&self.out).await?;
        } else {
            for piece in self.out.chunks(self.piece) {
                stream.write_all(piece).await?;
            }
        }

        self.input.clear();
        let (status, head_len, framing, keep_alive) = loop {
            if stream.read_buf(&mut self.input).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if let Some(head) = parse_head(&self.input)? {
                break head;
            }
        };
        let body = loop {
            let rest = &self.input[head_len..];
            let done = match framing {
                Framing::Length(n) if rest.len() >= n => Some(rest[..n].to_vec()),
                Framing::Length(_) => None,
                Framing::Chunked => decode_chunked(rest)?,
            };
            if let Some(body) = done {
                break body;
            }
            if stream.read_buf(&mut self.input).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        };
        Ok((Response { status, body }, keep_alive))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Framing {
    Length(usize),
    Chunked,
}

/// The status, head length, body framing and keep-alive of a complete response head, or `None`
/// while the head is incomplete.
fn parse_head(buf: &[u8]) -> io::Result<Option<(u16, usize, Framing, bool)>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
    };
    let status = response.code.unwrap_or(0);
    let mut framing = Framing::Length(0);
    let mut keep_alive = response.version == Some(1);
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?;
            framing = Framing::Length(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
            && h.value.eq_ignore_ascii_case(b"chunked")
        {
            framing = Framing::Chunked;
        } else if h.name.eq_ignore_ascii_case("connection") {
            keep_alive = !h.value.eq_ignore_ascii_case(b"close");
        }
    }
    Ok(Some((status, head_len, framing, keep_alive)))
}

/// The body of a complete chunked encoding (trailers not supported), or `None` while more bytes
/// are needed.
fn decode_chunked(mut buf: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = buf.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&buf[..line_end])
            .ok()
            .map(|s| s.split(';').next().unwrap_or("").trim())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        let data = line_end + 2;
        if buf.len() < data + size + 2 {
            return Ok(None);
        }
        if size == 0 {
            return Ok(Some(body));
        }
        body.extend_from_slice(&buf[data..data + size]);
        buf = &buf[data + size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_gives_status_length_and_keep_alive() {
        let r = b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}";
        let (status, len, framing, keep) = parse_head(r).unwrap().unwrap();
        assert_eq!((status, framing, keep), (201, Framing::Length(7), true));
        assert_eq!(&r[len..], b"{\"a\":1}");
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-le")
            .unwrap()
            .is_none());
        let close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
        assert!(!parse_head(close).unwrap().unwrap().3);
    }

    /// Against a real HTTP server on loopback: a body sent in small pieces arrives whole, and
    /// the connection carries the next request.
    #[tokio::test]
    async fn a_request_written_in_pieces_arrives_whole() {
        use axum::routing::post;
        let app = axum::Router::new().route(
            "/echo",
            post(
                |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                    let auth = headers["authorization"]
                        .to_str()
                        .unwrap_or_default()
                        .to_string();
                    let kind = headers["content-type"]
                        .to_str()
                        .unwrap_or_default()
                        .to_string();
                    let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
                    serde_json::json!({"len": body.len(), "sum": sum, "auth": auth, "type": kind})
                        .to_string()
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
        for piece in [4096, 0] {
            let mut conn = Connection::new(addr).with_write_limit(piece);
            for _ in 0..2 {
                let r = conn
                    .send("POST", "/echo", Some("k"), Some(&body))
                    .await
                    .unwrap();
                let answer: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                assert_eq!(r.status, 200);
                assert_eq!(answer["len"], 300_000);
                assert_eq!(answer["sum"], sum);
                assert_eq!(answer["auth"], "Token k");
                assert_eq!(answer["type"], "application/json");
            }
            let r = conn
                .send_as("POST", "/echo", Some("k"), "image/jpeg", Some(&body))
                .await
                .unwrap();
            let answer: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(
                (answer["len"].as_u64(), answer["type"].as_str()),
                (Some(300_000), Some("image/jpeg"))
            );
            let r = conn
                .send("POST", "/nowhere", Some("k"), Some(b"{}"))
                .await
                .unwrap();
            assert_eq!(r.status, 404);
        }
    }

    #[test]
    fn chunks_are_joined_once_complete() {
        let full = b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(decode_chunked(full).unwrap().unwrap(), b"abcde");
        for cut in 0..full.len() - 1 {
            assert!(decode_chunked(&full[..cut]).unwrap().is_none(), "cut {cut}");
        }
    }
}
