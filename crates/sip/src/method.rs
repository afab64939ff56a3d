//! The SIP request method (RFC 3261 §7.1, §25.1: `Method = INVITEm / ACKm / ... / extension-method`).

use std::fmt;

/// A SIP request method. Methods are case-sensitive tokens (RFC 3261 §7.1): `invite` is an
/// extension method, not INVITE. The methods of RFC 3261 and of the extensions a proxy meets
/// every day have a variant of their own; any other token is [`Method::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE (RFC 3261 §13): starts a session.
    Invite,
    /// ACK (RFC 3261 §13.2.2.4, §17.1.1.3): acknowledges a final response to an INVITE.
    Ack,
    /// BYE (RFC 3261 §15): ends a session.
    Bye,
    /// CANCEL (RFC 3261 §9): cancels a pending request.
    Cancel,
    /// OPTIONS (RFC 3261 §11): asks for capabilities.
    Options,
    /// REGISTER (RFC 3261 §10): binds a contact to an address of record.
    Register,
    /// PRACK (RFC 3262): acknowledges a reliable provisional response.
    Prack,
    /// UPDATE (RFC 3311): changes session parameters before the answer.
    Update,
    /// INFO (RFC 6086): application information within a dialog.
    Info,
    /// REFER (RFC 3515): asks the recipient to contact a third party.
    Refer,
    /// SUBSCRIBE (RFC 6665): asks for event notifications.
    Subscribe,
    /// NOTIFY (RFC 6665): an event notification.
    Notify,
    /// MESSAGE (RFC 3428): an instant message.
    Message,
    /// PUBLISH (RFC 3903): publishes event state.
    Publish,
    /// Any other token (an extension method, RFC 3261 §25.1 `extension-method`), as written.
    Other(String),
}

impl Method {
    /// The method named by `token` (from a Request-Line or a CSeq), compared case-sensitively
    /// (RFC 3261 §7.1). Allocates only for an extension method. The token is taken as it is:
    /// the message parser has already checked that it is a `token` (RFC 3261 §25.1).
    pub fn parse(token: &str) -> Method {
        let known = match token.as_bytes() {
            b"INVITE" => Some(Method::Invite),
            b"ACK" => Some(Method::Ack),
            b"BYE" => Some(Method::Bye),
            b"CANCEL" => Some(Method::Cancel),
            b"OPTIONS" => Some(Method::Options),
            b"REGISTER" => Some(Method::Register),
            b"PRACK" => Some(Method::Prack),
            b"UPDATE" => Some(Method::Update),
            b"INFO" => Some(Method::Info),
            b"REFER" => Some(Method::Refer),
            b"SUBSCRIBE" => Some(Method::Subscribe),
            b"NOTIFY" => Some(Method::Notify),
            b"MESSAGE" => Some(Method::Message),
            b"PUBLISH" => Some(Method::Publish),
            _ => None,
        };
        known.unwrap_or_else(|| Method::Other(token.to_string()))
    }

    /// The token as it goes on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }

    /// INVITE: the method with a transaction of its own kind (RFC 3261 §17.1.1, §17.2.1).
    pub fn is_invite(&self) -> bool {
        *self == Method::Invite
    }

    /// Whether a request of this method outside a dialog creates one, so a proxy that wants
    /// to stay on the path adds Record-Route: INVITE (RFC 3261 §12.1), SUBSCRIBE and NOTIFY
    /// (RFC 6665 §4.1.2, §4.2.1), REFER (its implicit subscription, RFC 3515 §2.4.4).
    pub fn creates_dialog(&self) -> bool {
        matches!(
            self,
            Method::Invite | Method::Subscribe | Method::Notify | Method::Refer
        )
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Method {
    fn from(token: &str) -> Self {
        Method::parse(token)
    }
}

impl PartialEq<str> for Method {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Method {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The methods with a variant of their own, with their tokens (for the tests).
    const KNOWN: [(&str, Method); 14] = [
        ("INVITE", Method::Invite),
        ("ACK", Method::Ack),
        ("BYE", Method::Bye),
        ("CANCEL", Method::Cancel),
        ("OPTIONS", Method::Options),
        ("REGISTER", Method::Register),
        ("PRACK", Method::Prack),
        ("UPDATE", Method::Update),
        ("INFO", Method::Info),
        ("REFER", Method::Refer),
        ("SUBSCRIBE", Method::Subscribe),
        ("NOTIFY", Method::Notify),
        ("MESSAGE", Method::Message),
        ("PUBLISH", Method::Publish),
    ];

    #[test]
    fn every_known_token_round_trips_to_its_variant() {
        for (token, m) in KNOWN {
            assert_eq!(Method::parse(token), m);
            assert_eq!(m.as_str(), token);
            assert_eq!(m.to_string(), token);
            assert!(!matches!(m, Method::Other(_)));
        }
    }

    #[test]
    fn methods_are_case_sensitive_and_extensions_are_kept_as_written() {
        // RFC 3261 §7.1: "the method names are case-sensitive".
        assert_eq!(Method::parse("invite"), Method::Other("invite".into()));
        assert_eq!(Method::parse("Invite").as_str(), "Invite");
        let ext = Method::parse("X-FEROX");
        assert_eq!(ext, Method::Other("X-FEROX".into()));
        assert_eq!(ext.as_str(), "X-FEROX");
        assert_eq!(ext, "X-FEROX");
        assert_ne!(Method::Invite, "invite");
        assert_eq!(Method::from("BYE"), Method::Bye);
    }

    #[test]
    fn invite_and_the_dialog_creating_methods() {
        assert!(Method::Invite.is_invite());
        assert!(!Method::Ack.is_invite() && !Method::Other("INVITEX".into()).is_invite());
        let creating: Vec<&str> = KNOWN
            .iter()
            .filter(|(_, m)| m.creates_dialog())
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(creating, ["INVITE", "REFER", "SUBSCRIBE", "NOTIFY"]);
    }

    #[test]
    fn the_request_line_and_cseq_give_the_same_method() {
        let text = "MESSAGE sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
                    From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c\r\n\
                    CSeq: 7 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        let msg = crate::parse(text.as_bytes()).expect("parses");
        assert_eq!(msg.request_method(), Some(Method::Message));
        let cseq = msg.cseq().expect("CSeq");
        assert_eq!(Method::parse(&cseq.method), Method::Message);
        let resp = crate::response_for(&msg, 200, "OK", Some("t"));
        let resp = crate::parse(&resp).expect("response parses");
        assert_eq!(resp.request_method(), None);
    }
}
