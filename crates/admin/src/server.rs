//! The server: accepts connections on the Unix socket and answers each request line with a
//! response line, through a [`Backend`] that does the work.
//!
//! Every connection is bounded: at most `max_connections` at once (one more gets a
//! [`ErrorCode::TooManyConnections`] line and is closed), lines of at most `max_line_bytes`
//! (a longer one gets [`ErrorCode::InvalidRequest`] and the connection is closed without the
//! rest being read), a complete request at least every `idle_timeout` (a silent or slow
//! client is closed), and each reply written within `write_timeout` (a client that does not
//! read is closed). Requests on one connection are answered in order, one at a time; a bad
//! one gets its error reply and the connection goes on.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

use crate::framer::{Frame, LineFramer};
use crate::method::Call;
use crate::proto::{parse_request, ErrorCode, ErrorObject, Id, Response};

/// Bytes read from a connection at a time.
const READ_CHUNK: usize = 8192;

/// The bounds of the server's connections (from `[admin]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Longest request line.
    pub max_line_bytes: usize,
    /// Longest wait for the next complete request.
    pub idle_timeout: Duration,
    /// Longest wait for a reply to be taken by the client.
    pub write_timeout: Duration,
}

impl Limits {
    /// The limits `[admin]` sets.
    pub fn from_config(cfg: &config::AdminConfig) -> Limits {
        Limits {
            max_connections: cfg.max_connections as usize,
            max_line_bytes: cfg.max_line_bytes as usize,
            idle_timeout: cfg.idle_timeout,
            write_timeout: cfg.write_timeout,
        }
    }
}

/// What answers the calls.
pub trait Backend: Clone + Send + Sync + 'static {
    /// Does `call`; the result is the response's `result` value.
    fn call(&self, call: Call) -> impl Future<Output = Result<Value, ErrorObject>> + Send;
}

/// Serves `listener` until `shutdown` turns true.
pub async fn serve<B: Backend>(
    listener: UnixListener,
    limits: Limits,
    backend: B,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => admit(stream, &slots, limits, &backend),
                Err(e) => {
                    // Out of descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "admin socket: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
    }
}

/// Starts serving `stream`, or refuses it when every slot is taken.
fn admit<B: Backend>(stream: UnixStream, slots: &Arc<Semaphore>, limits: Limits, backend: &B) {
    match slots.clone().try_acquire_owned() {
        Ok(permit) => {
            let backend = backend.clone();
            tokio::spawn(async move {
                connection(stream, limits, backend).await;
                drop(permit);
            });
        }
        Err(_) => {
            tracing::debug!("admin socket: at max_connections, connection refused");
            let error = ErrorObject::new(
                ErrorCode::TooManyConnections,
                format!(
                    "the admin socket serves {} connections at most",
                    limits.max_connections
                ),
            );
            // One try, never a wait: the line fits an empty socket buffer.
            let _ = stream.try_write(&Response::err(Id::Null, error).to_line());
        }
    }
}

/// Serves one connection until the client closes it or breaks a limit.
async fn connection<B: Backend>(mut stream: UnixStream, limits: Limits, backend: B) {
    let mut framer = LineFramer::new(limits.max_line_bytes);
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut deadline = Instant::now() + limits.idle_timeout;
    loop {
        while let Some(frame) = framer.next_line() {
            let line = match frame {
                Frame::Line(line) => line,
                Frame::TooLong => {
                    let msg = format!("line longer than {} bytes", limits.max_line_bytes);
                    let error = ErrorObject::new(ErrorCode::InvalidRequest, msg);
                    let _ = write(&mut stream, &Response::err(Id::Null, error), limits).await;
                    return;
                }
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let response = answer(&line, &backend).await;
            if !write(&mut stream, &response, limits).await {
                return;
            }
            deadline = Instant::now() + limits.idle_timeout;
        }
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => framer.push(chunk.get(..n).unwrap_or_default()),
            Err(_) => {
                tracing::debug!("admin socket: idle connection closed");
                return;
            }
        }
    }
}

/// The response to one request line.
async fn answer<B: Backend>(line: &[u8], backend: &B) -> Response {
    let request = match parse_request(line) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let id = request.id;
    match Call::parse(&request.method, request.params) {
        Ok(call) => match backend.call(call).await {
            Ok(result) => Response::ok(id, result),
            Err(error) => Response::err(id, error),
        },
        Err(error) => Response::err(id, error),
    }
}

/// Writes `response` within the write timeout; `false` when the connection is done for.
async fn write(stream: &mut UnixStream, response: &Response, limits: Limits) -> bool {
    let line = response.to_line();
    match tokio::time::timeout(limits.write_timeout, stream.write_all(&line)).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            tracing::debug!("admin socket: client does not read its replies, closed");
            false
        }
    }
}
