//! A small scripted HTTP/1.1 server on loopback: answers each request with the next reply of its
//! script (the last one repeats) and records every request it received.
//!
//! Hand-rolled on a tokio `TcpListener` so tests control exactly what goes on the wire (hanging
//! responses, redirects, `Retry-After`) without a web framework.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (n, v) in &self.headers {
            map.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Never answer (read the request, then hold the connection open).
    pub hang: bool,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
            hang: false,
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = body.into();
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn hang() -> Self {
        Reply {
            hang: true,
            ..Reply::status(200)
        }
    }
}

/// A running server. Dropping it does not stop the accept loop; the test runtime does.
#[derive(Clone)]
pub struct Server {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

struct State {
    script: Vec<Reply>,
    next: usize,
    requests: Vec<Recorded>,
    record: bool,
    open: usize,
    max_open: usize,
}

impl Server {
    /// Serve `script` on 127.0.0.1.
    pub async fn start(script: Vec<Reply>) -> Server {
        Self::start_on("127.0.0.1:0", script).await
    }

    /// Serve `script` on `bind` (a loopback address).
    pub async fn start_on(bind: &str, script: Vec<Reply>) -> Server {
        let listener = TcpListener::bind(bind).await.expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            script,
            next: 0,
            requests: Vec::new(),
            record: true,
            open: 0,
            max_open: 0,
        }));
        let server = Server { addr, state };
        let s = server.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let s = s.clone();
                tokio::spawn(async move { s.serve(stream).await });
            }
        });
        server
    }

    /// Do not keep requests (for the benchmark).
    pub fn without_recording(self) -> Self {
        self.state.lock().unwrap().record = false;
        self
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Most requests being answered at the same time so far.
    pub fn max_concurrent(&self) -> usize {
        self.state.lock().unwrap().max_open
    }

    pub fn request_count(&self) -> usize {
        self.state.lock().unwrap().next
    }

    async fn serve(&self, mut stream: TcpStream) {
        let mut buf = Vec::with_capacity(4096);
        loop {
            let Some(req) = read_request(&mut stream, &mut buf).await else {
                return;
            };
            let reply = {
                let mut st = self.state.lock().unwrap();
                let i = st.next.min(st.script.len().saturating_sub(1));
                st.next += 1;
                if st.record {
                    st.requests.push(req);
                }
                st.open += 1;
                st.max_open = st.max_open.max(st.open);
                st.script.get(i).cloned().unwrap_or(Reply::status(200))
            };
            if reply.hang {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            if !reply.delay.is_zero() {
                tokio::time::sleep(reply.delay).await;
            }
            self.state.lock().unwrap().open -= 1;
            let mut out = format!(
                "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
                reply.status,
                reply.body.len()
            );
            for (n, v) in &reply.headers {
                out.push_str(&format!("{n}: {v}\r\n"));
            }
            out.push_str("\r\n");
            out.push_str(&reply.body);
            if stream.write_all(out.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

/// Read one request (head + content-length body); `None` on EOF or garbage.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Recorded> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let mut start = lines.next()?.split(' ');
    let method = start.next()?.to_owned();
    let target = start.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let total = head_end + 4 + len;
    while buf.len() < total {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end + 4..total].to_vec();
    buf.drain(..total);
    Some(Recorded {
        method,
        target,
        headers,
        body,
    })
}
