//! A small HTTP/1.1 server: blocking connections on their own threads, keep-alive, limits.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Largest request head (request line and headers).
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// Largest request body.
pub(crate) const MAX_BODY: usize = 16 * 1024 * 1024;
/// Connections served at once; more get 503.
pub(crate) const MAX_CONNECTIONS: usize = 128;
/// An idle keep-alive connection is closed after this long.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_HEADERS: usize = 64;

/// A parsed request.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// Path without the query.
    pub(crate) path: String,
    /// Raw query string, without '?'.
    pub(crate) query: String,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
    pub(crate) keep_alive: bool,
}

/// A response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
    pub(crate) allow: Option<&'static str>,
}

impl Response {
    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(value).unwrap_or_default(),
            allow: None,
        }
    }

    /// `{"error": {"code", "message"}}`.
    pub(crate) fn error(status: u16, code: &str, message: impl Into<String>) -> Response {
        Response::json(
            status,
            &serde_json::json!({"error": {"code": code, "message": message.into()}}),
        )
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn write_response(stream: &mut TcpStream, resp: &Response, keep_alive: bool) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    if let Some(allow) = resp.allow {
        head.push_str(&format!("Allow: {allow}\r\n"));
    }
    head.push_str("\r\n");
    // One write: head and body leave in the same segment.
    let mut out = head.into_bytes();
    out.extend_from_slice(&resp.body);
    stream.write_all(&out)?;
    stream.flush()
}

/// What reading a request gave.
enum Read_ {
    Request(Request),
    /// The peer closed the connection between requests.
    Closed,
    /// A request that cannot be served; answer this and close.
    Bad(Response),
}

/// Reads one request, keeping bytes that belong to the next one in `buf`.
fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Read_> {
    let mut chunk = [0u8; 8192];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let method = req.method.unwrap_or("").to_owned();
                let target = req.path.unwrap_or("/").to_owned();
                let version = req.version.unwrap_or(1);
                let mut content_length = 0usize;
                let mut content_type = None;
                let mut connection = None;
                let mut chunked = false;
                for h in req.headers.iter() {
                    let value = String::from_utf8_lossy(h.value).trim().to_owned();
                    match h.name.to_ascii_lowercase().as_str() {
                        "content-length" => match value.parse() {
                            Ok(n) => content_length = n,
                            Err(_) => {
                                return Ok(Read_::Bad(Response::error(
                                    400,
                                    "bad_request",
                                    "invalid Content-Length",
                                )))
                            }
                        },
                        "content-type" => content_type = Some(value),
                        "connection" => connection = Some(value.to_ascii_lowercase()),
                        "transfer-encoding" => chunked = true,
                        _ => {}
                    }
                }
                if chunked {
                    return Ok(Read_::Bad(Response::error(
                        411,
                        "length_required",
                        "send the body with a Content-Length",
                    )));
                }
                if content_length > MAX_BODY {
                    return Ok(Read_::Bad(Response::error(
                        413,
                        "payload_too_large",
                        format!("request bodies are limited to {MAX_BODY} bytes"),
                    )));
                }
                let keep_alive = match connection.as_deref() {
                    Some("close") => false,
                    Some("keep-alive") => true,
                    _ => version == 1,
                };
                let total = head_len + content_length;
                while buf.len() < total {
                    let n = stream.read(&mut chunk)?;
                    if n == 0 {
                        return Ok(Read_::Closed);
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = buf[head_len..total].to_vec();
                buf.drain(..total);
                let (path, query) = match target.split_once('?') {
                    Some((p, q)) => (p.to_owned(), q.to_owned()),
                    None => (target, String::new()),
                };
                return Ok(Read_::Request(Request {
                    method,
                    path,
                    query,
                    content_type,
                    body,
                    keep_alive,
                }));
            }
            Ok(httparse::Status::Partial) => {
                if buf.len() > MAX_HEAD {
                    return Ok(Read_::Bad(Response::error(
                        431,
                        "headers_too_large",
                        format!("request heads are limited to {MAX_HEAD} bytes"),
                    )));
                }
            }
            Err(e) => {
                return Ok(Read_::Bad(Response::error(
                    400,
                    "bad_request",
                    format!("malformed HTTP request: {e}"),
                )))
            }
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(Read_::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Serves one connection until it closes, errs or asks to close.
fn serve_connection(mut stream: TcpStream, handler: &dyn Fn(Request) -> Response) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        match read_request(&mut stream, &mut buf) {
            Ok(Read_::Request(req)) => {
                let keep_alive = req.keep_alive;
                let resp = handler(req);
                if write_response(&mut stream, &resp, keep_alive).is_err() || !keep_alive {
                    return;
                }
            }
            Ok(Read_::Bad(resp)) => {
                let _ = write_response(&mut stream, &resp, false);
                return;
            }
            Ok(Read_::Closed) | Err(_) => return,
        }
    }
}

/// Back-off of the accept loop while descriptors or memory run out.
const MIN_ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(10);
const MAX_ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_secs(1);

/// EMFILE, ENFILE, ENOBUFS, ENOMEM: nothing to accept with until something is freed.
fn out_of_resources(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Accepts connections until `stop` is set, each on its own thread.
pub(crate) fn accept_loop(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    handler: Arc<dyn Fn(Request) -> Response + Send + Sync>,
) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut backoff = MIN_ACCEPT_BACKOFF;
    for stream in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let mut stream = match stream {
            Ok(stream) => {
                backoff = MIN_ACCEPT_BACKOFF;
                stream
            }
            // Linux's accept takes a descriptor before it waits for a connection, so at the
            // process's descriptor limit (or out of kernel memory) it fails at once, every time:
            // wait before trying again instead of spinning. Errors about one connection
            // (ECONNABORTED...) just move on to the next.
            Err(e) if out_of_resources(&e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "REST API: accept failed");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                continue;
            }
            Err(_) => continue,
        };
        if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::AcqRel);
            let _ = write_response(
                &mut stream,
                &Response::error(503, "too_many_connections", "try again later"),
                false,
            );
            continue;
        }
        let handler = handler.clone();
        let done = active.clone();
        let spawned = std::thread::Builder::new()
            .name("strikemq-http".into())
            .spawn(move || {
                serve_connection(stream, &*handler);
                done.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!("cannot start a thread for an HTTP connection");
        }
    }
}
