//! Ferrovox DNS: a sans-IO message codec and RFC 3263 server location for SIP members.
#![forbid(unsafe_code)]
