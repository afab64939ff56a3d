//! Simulated clock and in-memory network for Ferrovox's deterministic scenario tests.
#![forbid(unsafe_code)]
