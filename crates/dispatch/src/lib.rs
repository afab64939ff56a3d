//! Ferrovox dispatcher: destination sets, selection algorithms and member health (sans-IO).
#![forbid(unsafe_code)]
