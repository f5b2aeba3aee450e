//! The guard against real sockets on loopback: refused addresses are refused before any
//! connection is made (each test server counts the connections it accepts).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fieldproof_fetch::{FetchError, FetchPolicy, Fetcher};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A tiny HTTP server on `ip` that answers every request with `response` and counts connections.
async fn server(ip: &str, response: Vec<u8>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(format!("{ip}:0")).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                if response.is_empty() {
                    tokio::time::sleep(Duration::from_secs(30)).await; // never answers
                }
                let _ = sock.write_all(&response).await;
            });
        }
    });
    (addr, count)
}

fn ok_body(body: &[u8]) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    r.extend_from_slice(body);
    r
}

fn redirect(to: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

fn allowing(cidrs: &[&str]) -> Fetcher {
    Fetcher::new(FetchPolicy {
        allow: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
        ..Default::default()
    })
}

#[tokio::test]
async fn loopback_is_refused_without_connecting() {
    let (addr, count) = server("127.0.0.1", ok_body(b"secret")).await;
    let fetcher = Fetcher::default();
    for url in [
        format!("http://127.0.0.1:{}/admin", addr.port()),
        format!("http://localhost:{}/admin", addr.port()),
        format!("http://[::ffff:127.0.0.1]:{}/admin", addr.port()),
        format!("http://2130706433:{}/admin", addr.port()), // 127.0.0.1 as one decimal number
        format!("http://0x7f.1:{}/admin", addr.port()),
    ] {
        let e = fetcher.fetch(&url, 1 << 20).await.unwrap_err();
        assert!(matches!(e, FetchError::Blocked { .. }), "{url}: {e:?}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(count.load(Ordering::SeqCst), 0, "no connection was made");
}

#[tokio::test]
async fn ipv6_loopback_is_refused() {
    if let Ok(l) = TcpListener::bind("[::1]:0").await {
        drop(l);
        let e = Fetcher::default()
            .fetch("http://[::1]:9/", 100)
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::Blocked { .. }), "{e:?}");
    }
}

#[tokio::test]
async fn an_allowed_range_is_fetched() {
    let (addr, count) = server("127.0.0.2", ok_body(b"jpeg bytes")).await;
    let got = allowing(&["127.0.0.2/32"])
        .fetch(&format!("http://127.0.0.2:{}/p.jpg", addr.port()), 1 << 20)
        .await
        .unwrap();
    assert_eq!(got.bytes, b"jpeg bytes");
    assert_eq!(got.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_redirect_to_a_refused_address_is_refused_without_connecting() {
    let (target, target_count) = server("127.0.0.3", ok_body(b"secret")).await;
    let (start, _) = server(
        "127.0.0.2",
        redirect(&format!("http://127.0.0.3:{}/", target.port())),
    )
    .await;
    let e = allowing(&["127.0.0.2/32"])
        .fetch(&format!("http://127.0.0.2:{}/", start.port()), 1 << 20)
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Blocked { .. }), "{e:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(target_count.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn redirects_are_followed_at_most_three_times() {
    let (final_addr, _) = server("127.0.0.2", ok_body(b"done")).await;
    let hop = |to: String| async move { server("127.0.0.2", redirect(&to)).await.0 };
    let h3 = hop(format!("http://127.0.0.2:{}/", final_addr.port())).await;
    let h2 = hop(format!("http://127.0.0.2:{}/", h3.port())).await;
    let h1 = hop(format!("http://127.0.0.2:{}/", h2.port())).await;
    let h0 = hop(format!("http://127.0.0.2:{}/", h1.port())).await;
    let f = allowing(&["127.0.0.2/32"]);
    let three = f
        .fetch(&format!("http://127.0.0.2:{}/", h1.port()), 100)
        .await
        .unwrap();
    assert_eq!(three.bytes, b"done");
    let four = f
        .fetch(&format!("http://127.0.0.2:{}/", h0.port()), 100)
        .await
        .unwrap_err();
    assert_eq!(four, FetchError::TooManyRedirects(3));
}

#[tokio::test]
async fn downloads_stop_past_the_size_limit() {
    let big = vec![b'x'; 200_000];
    let (addr, _) = server("127.0.0.2", ok_body(&big)).await;
    let f = allowing(&["127.0.0.2/32"]);
    let e = f
        .fetch(&format!("http://127.0.0.2:{}/", addr.port()), 100_000)
        .await
        .unwrap_err();
    assert_eq!(e, FetchError::TooLarge(100_000));
    // Without a Content-Length: counted while reading.
    let mut chunked =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..20 {
        chunked.extend_from_slice(format!("{:x}\r\n", 10_000).as_bytes());
        chunked.extend_from_slice(&[b'y'; 10_000]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (addr, _) = server("127.0.0.2", chunked).await;
    let e = f
        .fetch(&format!("http://127.0.0.2:{}/", addr.port()), 100_000)
        .await
        .unwrap_err();
    assert_eq!(e, FetchError::TooLarge(100_000));
}

#[tokio::test]
async fn silent_servers_time_out_and_closed_ports_fail() {
    let (addr, _) = server("127.0.0.2", Vec::new()).await;
    let f = Fetcher::new(FetchPolicy {
        allow: vec!["127.0.0.2/32".parse().unwrap()],
        total_timeout: Duration::from_millis(500),
        ..Default::default()
    });
    let start = std::time::Instant::now();
    let e = f
        .fetch(&format!("http://127.0.0.2:{}/", addr.port()), 100)
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Timeout(_)), "{e:?}");
    assert!(start.elapsed() < Duration::from_secs(3));
    let closed = TcpListener::bind("127.0.0.2:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let e = f
        .fetch(&format!("http://127.0.0.2:{}/", closed.port()), 100)
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Connect(_)), "{e:?}");
}

#[tokio::test]
async fn schemes_and_credentials_are_checked_first() {
    let f = Fetcher::default();
    for (url, want) in [
        ("ftp://example.com/a.jpg", FetchError::Scheme("ftp".into())),
        ("file:///etc/passwd", FetchError::Scheme("file".into())),
        ("gopher://127.0.0.1/", FetchError::Scheme("gopher".into())),
        ("http://user:pw@example.com/a.jpg", FetchError::Credentials),
    ] {
        assert_eq!(f.fetch(url, 100).await.unwrap_err(), want, "{url}");
    }
    assert!(matches!(
        f.fetch("not a url", 100).await.unwrap_err(),
        FetchError::BadUrl(_)
    ));
}
