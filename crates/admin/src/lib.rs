//! The Ferrovox admin socket: a local Unix socket that speaks newline-delimited JSON, served
//! on a thread of its own, and the client `ferrovoxctl` uses.
//!
//! * [`proto`]: the envelope (`{id, method, params}` in, `{id, result}` or
//!   `{id, error: {code, message}}` out) and the error codes ([`ErrorCode`]);
//! * [`method`]: the methods with their typed parameters and results ([`calls`]: those of
//!   calls, workers and run-time params);
//! * [`framer`]: sans-IO line framing with a hard cap on the line length;
//! * [`server`]: the socket server with its per-connection limits, over a [`Backend`];
//! * [`socket`]: the socket's path, stale-file handling, mode and group;
//! * [`params`]: the running settings by key, and what a reload changes;
//! * [`tune`]: the settings `params.set` changes, with their ranges;
//! * [`client`]: a blocking client.
//!
//! Only the socket file's permissions decide who may connect; whoever may connect may use
//! every method.
#![forbid(unsafe_code)]

pub mod calls;
pub mod client;
pub mod framer;
pub mod method;
pub mod params;
pub mod proto;
pub mod server;
pub mod socket;
pub mod tune;

pub use client::{Client, ClientError};
pub use method::Call;
pub use proto::{parse_request, ErrorCode, ErrorObject, Id, Request, Response, PROTOCOL_VERSION};
pub use server::{serve, Backend, Limits};
