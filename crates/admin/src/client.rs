//! A blocking client: one connection, requests answered in turn (what `ferrovoxctl` uses).

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::proto::{ErrorObject, Id, Request, Response};

/// Why a call got no answer from the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached (no daemon, wrong path, no permission).
    #[error("cannot connect to {path}: {source}")]
    Connect {
        /// The socket's path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Reading or writing failed, or the reply did not come in time.
    #[error("admin socket: {0}")]
    Io(#[from] io::Error),
    /// The daemon closed the connection without a reply.
    #[error("admin socket: the daemon closed the connection")]
    Closed,
    /// The reply was not a response to this request.
    #[error("admin socket: unreadable reply: {0}")]
    BadReply(String),
}

/// A connection to the admin socket.
#[derive(Debug)]
pub struct Client {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    next_id: u64,
}

impl Client {
    /// Connects to `path`; each reply must come within `timeout`.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.to_owned(),
            source,
        })?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Client {
            writer: stream,
            reader,
            next_id: 1,
        })
    }

    /// Calls `method` with `params` (an object, or `Value::Null` for none). The outer
    /// error: no answer; the inner one: the daemon's error reply.
    pub fn call(
        &mut self,
        method: &str,
        params: Value,
    ) -> Result<Result<Value, ErrorObject>, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let request = Request {
            id: Id::Number(id),
            method: method.to_owned(),
            params,
        };
        let mut line =
            serde_json::to_vec(&request).map_err(|e| ClientError::BadReply(e.to_string()))?;
        line.push(b'\n');
        self.writer.write_all(&line)?;
        let mut reply = String::new();
        if self.reader.read_line(&mut reply)? == 0 {
            return Err(ClientError::Closed);
        }
        let response: Response =
            serde_json::from_str(&reply).map_err(|e| ClientError::BadReply(e.to_string()))?;
        if response.id != Id::Number(id) && response.id != Id::Null {
            return Err(ClientError::BadReply(format!(
                "reply to request {:?}, not {id}",
                response.id
            )));
        }
        Ok(response.into_result())
    }
}
