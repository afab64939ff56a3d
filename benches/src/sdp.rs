//! The SDP the load tool offers and answers with, and the relay address read back from a
//! rewritten SDP (RFC 4566: `c=` at media level overrides the session level, §5.7; the media
//! port is the second field of `m=`, §5.14).

use crate::scope::Ipv4Net;
use std::net::{Ipv4Addr, SocketAddrV4};
use thiserror::Error;

/// Why a rewritten SDP does not name a usable relay address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    /// No `m=audio` line.
    #[error("SDP has no m=audio line")]
    NoAudio,
    /// The `m=audio` port is missing, not a number, or 0 (a rejected stream).
    #[error("SDP m=audio port is missing, malformed or 0: {0:?}")]
    BadPort(String),
    /// No `c=` line applies to the audio stream.
    #[error("SDP has no c= line for the audio stream")]
    NoConnection,
    /// The `c=` line is not `IN IP4 <address>`.
    #[error("SDP c= line is not IN IP4 <address>: {0:?}")]
    BadConnection(String),
    /// The relay address is outside the accepted relay network: the tool sends nowhere else.
    #[error("relay address {0} is outside {1}; refusing to send traffic there")]
    OutsideRelayNet(Ipv4Addr, Ipv4Net),
}

/// The SDP of one endpoint: PCMU (payload type 0, RFC 3551 §6) at 20 ms on `ip`:`port`.
pub fn endpoint_sdp(ip: Ipv4Addr, port: u16, session_id: u64) -> String {
    format!(
        "v=0\r\n\
         o=- {session_id} 1 IN IP4 {ip}\r\n\
         s=ferrovox-load\r\n\
         c=IN IP4 {ip}\r\n\
         t=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n"
    )
}

/// The address the relay wants the first audio stream sent to, from a rewritten SDP; it must
/// lie in `net`.
pub fn relay_target(sdp: &str, net: Ipv4Net) -> Result<SocketAddrV4, SdpError> {
    let mut session_conn: Option<&str> = None;
    let mut audio_port: Option<&str> = None;
    let mut media_conn: Option<&str> = None;
    let mut in_audio = false;
    let mut seen_audio = false;
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix("m=") {
            if seen_audio {
                // Only the first audio stream matters; later m-lines end its section.
                in_audio = false;
                continue;
            }
            let mut fields = rest.split_ascii_whitespace();
            if fields.next() == Some("audio") {
                in_audio = true;
                seen_audio = true;
                audio_port = Some(fields.next().unwrap_or(""));
            }
        } else if let Some(rest) = line.strip_prefix("c=") {
            if in_audio {
                media_conn.get_or_insert(rest);
            } else if !seen_audio {
                session_conn.get_or_insert(rest);
            }
        }
    }
    let port_text = audio_port.ok_or(SdpError::NoAudio)?;
    // RFC 4566 §5.14: "<port>" or "<port>/<number of ports>".
    let port_field = port_text.split('/').next().unwrap_or("");
    let port: u16 = port_field
        .parse()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| SdpError::BadPort(port_text.to_owned()))?;
    let conn = media_conn.or(session_conn).ok_or(SdpError::NoConnection)?;
    let ip = parse_connection(conn)?;
    if !net.contains(ip) {
        return Err(SdpError::OutsideRelayNet(ip, net));
    }
    Ok(SocketAddrV4::new(ip, port))
}

/// `IN IP4 <address>[/<ttl>]` (RFC 4566 §5.7).
fn parse_connection(conn: &str) -> Result<Ipv4Addr, SdpError> {
    let bad = || SdpError::BadConnection(conn.to_owned());
    let mut fields = conn.split_ascii_whitespace();
    if fields.next() != Some("IN") || fields.next() != Some("IP4") {
        return Err(bad());
    }
    let addr = fields.next().ok_or_else(bad)?;
    addr.split('/')
        .next()
        .unwrap_or("")
        .parse()
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LO: Ipv4Net = Ipv4Net::LOOPBACK;

    fn relay_target(sdp: &str) -> Result<SocketAddrV4, SdpError> {
        super::relay_target(sdp, LO)
    }

    #[test]
    fn own_sdp_round_trips() {
        let sdp = endpoint_sdp(Ipv4Addr::LOCALHOST, 40_000, 7);
        assert_eq!(
            relay_target(&sdp),
            Ok(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40_000))
        );
    }

    #[test]
    fn another_relay_net() {
        let ip = Ipv4Addr::new(10, 77, 0, 1);
        let sdp = endpoint_sdp(ip, 30_000, 1);
        let net: Ipv4Net = "10.77.0.0/24".parse().unwrap();
        assert_eq!(
            super::relay_target(&sdp, net),
            Ok(SocketAddrV4::new(ip, 30_000))
        );
        assert_eq!(relay_target(&sdp), Err(SdpError::OutsideRelayNet(ip, LO)));
    }

    #[test]
    fn media_level_connection_wins() {
        let sdp = "v=0\r\nc=IN IP4 127.0.0.2\r\nm=audio 30000 RTP/AVP 0\r\n\
                   c=IN IP4 127.0.0.1\r\nm=audio 30002 RTP/AVP 0\r\nc=IN IP4 127.0.0.9\r\n";
        assert_eq!(
            relay_target(sdp),
            Ok(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 30000))
        );
    }

    #[test]
    fn video_before_audio_is_skipped() {
        let sdp = "c=IN IP4 127.0.0.1\nm=video 5000 RTP/AVP 96\nm=audio 6000/2 RTP/AVP 0\n";
        assert_eq!(
            relay_target(sdp),
            Ok(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6000))
        );
    }

    #[test]
    fn errors() {
        assert_eq!(relay_target("v=0\r\n"), Err(SdpError::NoAudio));
        assert!(matches!(
            relay_target("c=IN IP4 127.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n"),
            Err(SdpError::BadPort(_))
        ));
        assert!(matches!(
            relay_target("c=IN IP4 127.0.0.1\r\nm=audio\r\n"),
            Err(SdpError::BadPort(_))
        ));
        assert_eq!(
            relay_target("m=audio 4000 RTP/AVP 0\r\n"),
            Err(SdpError::NoConnection)
        );
        assert!(matches!(
            relay_target("c=IN IP6 ::1\r\nm=audio 4000 RTP/AVP 0\r\n"),
            Err(SdpError::BadConnection(_))
        ));
        assert_eq!(
            relay_target("c=IN IP4 192.0.2.7\r\nm=audio 4000 RTP/AVP 0\r\n"),
            Err(SdpError::OutsideRelayNet(Ipv4Addr::new(192, 0, 2, 7), LO))
        );
    }
}
