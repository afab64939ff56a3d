//! Call setup and teardown: two UDP endpoints per call on the tool's address (loopback unless
//! `--local` says otherwise), joined through the relay by an ng `offer` + `answer`, or directly
//! to each other (the tool's own ceiling).

use crate::ngclient::{NgClient, NgError};
use crate::scope::Scope;
use crate::sdp::{self, SdpError};
use crate::sys;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use thiserror::Error;

/// Why a call could not be set up.
#[derive(Debug, Error)]
pub enum SetupError {
    /// Binding, sizing or connecting an endpoint socket failed.
    #[error("call {call}: endpoint socket: {source}")]
    Io {
        /// The call's index.
        call: u32,
        /// The socket error.
        source: io::Error,
    },
    /// The ng server refused or did not answer.
    #[error("call {call}: {source}")]
    Ng {
        /// The call's index.
        call: u32,
        /// The ng failure.
        source: NgError,
    },
    /// The SDP the relay returned does not name a relay address in the accepted network.
    #[error("call {call}: SDP of the {which} reply: {source}")]
    Sdp {
        /// The call's index.
        call: u32,
        /// `offer` or `answer`.
        which: &'static str,
        /// What is wrong with it.
        source: SdpError,
    },
}

/// ng identifiers of a relayed call.
#[derive(Debug, Clone)]
pub struct CallIds {
    /// `call-id`.
    pub call_id: String,
    /// `from-tag` (the offerer, endpoint A).
    pub from_tag: String,
    /// `to-tag` (the answerer, endpoint B).
    pub to_tag: String,
}

/// One call: endpoint A (offerer) and B (answerer), each connected to where it must send.
#[derive(Debug)]
pub struct Call {
    /// Index of the call in the run.
    pub index: u32,
    /// Endpoint A, connected to its relay port (or to B when direct).
    pub a: UdpSocket,
    /// Endpoint B, connected to its relay port (or to A when direct).
    pub b: UdpSocket,
    /// Where A sends.
    pub a_target: SocketAddr,
    /// Where B sends.
    pub b_target: SocketAddr,
    /// ng identifiers; `None` for a direct (relay-less) call.
    pub ids: Option<CallIds>,
}

/// The ng identifiers of call `index` of this process.
pub fn call_ids(index: u32) -> CallIds {
    CallIds {
        call_id: format!("fvload-{}-{index}", std::process::id()),
        from_tag: format!("a{index}"),
        to_tag: format!("b{index}"),
    }
}

/// A non-blocking endpoint socket on an ephemeral port of `ip` with `buf_bytes` buffers.
pub fn bind_endpoint(ip: Ipv4Addr, buf_bytes: usize) -> io::Result<UdpSocket> {
    let sock = UdpSocket::bind((ip, 0))?;
    sock.set_nonblocking(true)?;
    sys::set_buffers(sock.as_fd(), buf_bytes)?;
    Ok(sock)
}

fn local_port(sock: &UdpSocket) -> io::Result<u16> {
    Ok(sock.local_addr()?.port())
}

/// Sets up call `index` through the relay: offer with A's SDP, answer with B's; A then sends to
/// the address in the answer's rewritten SDP and B to the one in the offer's. Endpoints bind to
/// `scope.local`; a relay address outside `scope.relay_net` fails the call.
pub fn establish_relayed(
    ng: &mut NgClient,
    index: u32,
    buf_bytes: usize,
    scope: Scope,
) -> Result<Call, SetupError> {
    let io_err = |source| SetupError::Io {
        call: index,
        source,
    };
    let ng_err = |source| SetupError::Ng {
        call: index,
        source,
    };
    let a = bind_endpoint(scope.local, buf_bytes).map_err(io_err)?;
    let b = bind_endpoint(scope.local, buf_bytes).map_err(io_err)?;
    let ids = call_ids(index);
    let session = u64::from(index) + 1;
    let offer_sdp = sdp::endpoint_sdp(scope.local, local_port(&a).map_err(io_err)?, session);
    let to_b = ng
        .offer(&ids.call_id, &ids.from_tag, &offer_sdp)
        .map_err(ng_err)?;
    let b_target = sdp::relay_target(&to_b, scope.relay_net).map_err(|source| SetupError::Sdp {
        call: index,
        which: "offer",
        source,
    })?;
    let answer_port = local_port(&b).map_err(io_err)?;
    let answer_sdp = sdp::endpoint_sdp(scope.local, answer_port, session + 1_000_000);
    let to_a = ng
        .answer(&ids.call_id, &ids.from_tag, &ids.to_tag, &answer_sdp)
        .map_err(ng_err)?;
    let a_target = sdp::relay_target(&to_a, scope.relay_net).map_err(|source| SetupError::Sdp {
        call: index,
        which: "answer",
        source,
    })?;
    let a_target = SocketAddr::V4(a_target);
    let b_target = SocketAddr::V4(b_target);
    a.connect(a_target).map_err(io_err)?;
    b.connect(b_target).map_err(io_err)?;
    Ok(Call {
        index,
        a,
        b,
        a_target,
        b_target,
        ids: Some(ids),
    })
}

/// Sets up call `index` with no relay: A and B, both on `ip`, send to each other.
pub fn establish_direct(index: u32, buf_bytes: usize, ip: Ipv4Addr) -> Result<Call, SetupError> {
    let io_err = |source| SetupError::Io {
        call: index,
        source,
    };
    let a = bind_endpoint(ip, buf_bytes).map_err(io_err)?;
    let b = bind_endpoint(ip, buf_bytes).map_err(io_err)?;
    let a_target = b.local_addr().map_err(io_err)?;
    let b_target = a.local_addr().map_err(io_err)?;
    a.connect(a_target).map_err(io_err)?;
    b.connect(b_target).map_err(io_err)?;
    Ok(Call {
        index,
        a,
        b,
        a_target,
        b_target,
        ids: None,
    })
}

/// Sends `delete` for every relayed call; returns the failures (the rest were deleted).
pub fn delete_all(ng: &mut NgClient, ids: &[CallIds]) -> Vec<(String, NgError)> {
    let mut failures = Vec::new();
    for id in ids {
        if let Err(e) = ng.delete(&id.call_id, &id.from_tag) {
            failures.push((id.call_id.clone(), e));
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_call_endpoints_face_each_other() {
        let call = establish_direct(0, 1 << 16, Ipv4Addr::LOCALHOST).unwrap();
        assert_eq!(call.a_target, call.b.local_addr().unwrap());
        assert_eq!(call.b_target, call.a.local_addr().unwrap());
        assert!(call.ids.is_none());
        call.a.send(b"x").unwrap();
        let mut buf = [0u8; 8];
        let mut got = None;
        for _ in 0..100 {
            if let Ok(n) = call.b.recv(&mut buf) {
                got = Some(n);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(got, Some(1));
    }
}
