//! Ferrovox's Prometheus exporter.
//!
//! - [`expo`]: the exposition of one scrape, built from values the daemon reads at scrape
//!   time (its counters stay where they are counted: per worker, in the proxy, in the media
//!   engine; nothing on the packet path touches this crate), checked (HELP and TYPE on every
//!   family, `_total` counters, valid names, one sample per label set) and encoded in the
//!   Prometheus text format by the `prometheus` crate;
//! - [`http`]: the bounded HTTP/1.1 server that answers `GET /metrics` with it.
#![forbid(unsafe_code)]

pub mod expo;
pub mod http;

pub use expo::{num, ExpoError, Exposition, Family};
pub use http::{serve, Limits, Source};
