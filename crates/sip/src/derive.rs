//! Requests a client transaction derives from the request it sent: CANCEL (RFC 3261 §9.1) and
//! the ACK for a non-2xx final response (RFC 3261 §17.1.1.3).

use crate::build::push_field;
use crate::{Message, SipError};

/// Copies every field `name` of `msg` as received (name, value and CRLF).
fn copy_fields(out: &mut Vec<u8>, msg: &Message<'_>, name: &str) {
    let raw = msg.raw();
    for h in msg.headers_named(name) {
        out.extend_from_slice(raw.get(h.line.clone()).unwrap_or_default());
    }
}

/// Copies the topmost Via value of `msg` as one `Via:` field.
fn copy_top_via(out: &mut Vec<u8>, msg: &Message<'_>) -> Result<(), SipError> {
    let via = msg.top_via()?;
    push_field(out, "Via", &via.to_string());
    Ok(())
}

/// Start line plus the fields both derived requests share: one Via (the request's topmost),
/// the Route set, Call-ID, From and Max-Forwards.
fn start(req: &Message<'_>, method: &str) -> Result<Vec<u8>, SipError> {
    let uri = req.request_uri().ok_or_else(|| SipError::NotARequest)?;
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(format!("{method} {uri} SIP/2.0\r\n").as_bytes());
    copy_top_via(&mut out, req)?;
    copy_fields(&mut out, req, "Route");
    copy_fields(&mut out, req, "From");
    copy_fields(&mut out, req, "Call-ID");
    out.extend_from_slice(b"Max-Forwards: 70\r\n");
    Ok(out)
}

/// Builds the CANCEL for a request this element sent (RFC 3261 §9.1): same Request-URI,
/// Call-ID, To, From and CSeq number, method CANCEL, a single Via equal to the request's
/// topmost one, and the request's Route fields.
pub fn build_cancel(req: &Message<'_>) -> Result<Vec<u8>, SipError> {
    let cseq = req.cseq()?;
    let mut out = start(req, "CANCEL")?;
    copy_fields(&mut out, req, "To");
    out.extend_from_slice(format!("CSeq: {} CANCEL\r\n", cseq.number).as_bytes());
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Ok(out)
}

/// Builds the hop-by-hop ACK for a non-2xx final response `resp` to the INVITE `req` this
/// element sent (RFC 3261 §17.1.1.3): the request's Request-URI, Call-ID, From, topmost Via and
/// Route fields; To from the response (it carries the tag); CSeq number of the request with
/// method ACK.
pub fn build_ack(req: &Message<'_>, resp: &Message<'_>) -> Result<Vec<u8>, SipError> {
    let cseq = req.cseq()?;
    let mut out = start(req, "ACK")?;
    copy_fields(&mut out, resp, "To");
    out.extend_from_slice(format!("CSeq: {} ACK\r\n", cseq.number).as_bytes());
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Ok(out)
}
