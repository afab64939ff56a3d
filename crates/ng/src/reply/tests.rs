use super::*;
use crate::bencode::decode;
use crate::{frame, split_cookie};

#[test]
fn reply_bytes_match_the_protocol_examples() {
    assert_eq!(pong_reply().to_bytes(), b"d6:result4:ponge".to_vec());
    assert_eq!(ok_reply().to_bytes(), b"d6:result2:oke".to_vec());
    assert_eq!(
        error_reply("Unknown call-id").to_bytes(),
        b"d6:result5:error12:error-reason15:Unknown call-ide".to_vec()
    );
    assert_eq!(
        sdp_reply(b"v=0\r\n").to_bytes(),
        b"d6:result2:ok3:sdp5:v=0\r\ne".to_vec()
    );
    assert_eq!(
        warning_reply("Call-ID not found").to_bytes(),
        b"d6:result2:ok7:warning17:Call-ID not founde".to_vec()
    );
    assert_eq!(
        load_limit_reply(None).to_bytes(),
        b"d6:result10:load limite".to_vec()
    );
    assert_eq!(
        load_limit_reply(Some("Parallel session limit reached")).to_bytes(),
        b"d6:result10:load limit7:message30:Parallel session limit reachede".to_vec()
    );
    assert_eq!(
        list_reply(["a@h", "b@h"]).to_bytes(),
        b"d6:result2:ok5:callsl3:a@h3:b@hee".to_vec()
    );
}

#[test]
fn client_reads_replies() {
    let cases: [(OwnedValue, ReplyResult<'static>); 4] = [
        (ok_reply(), ReplyResult::Ok),
        (pong_reply(), ReplyResult::Pong),
        (error_reply("x"), ReplyResult::Error),
        (load_limit_reply(Some("full")), ReplyResult::LoadLimit),
    ];
    for (reply, expected) in cases {
        let bytes = reply.to_bytes();
        let v = decode(&bytes).expect("valid");
        assert_eq!(parse_reply(&v).expect("valid reply").result, expected);
    }

    let bytes = frame(b"42_1", &sdp_reply(b"v=0\r\n"));
    let (cookie, body) = split_cookie(&bytes).expect("framed");
    assert_eq!(cookie, b"42_1");
    let v = decode(body).expect("valid");
    let reply = parse_reply(&v).expect("valid reply");
    assert_eq!(
        reply,
        Reply {
            result: ReplyResult::Ok,
            error_reason: None,
            warning: None,
            sdp: Some(b"v=0\r\n"),
            message: None,
        }
    );

    let bytes = error_reply("Ran out of ports").to_bytes();
    let v = decode(&bytes).expect("valid");
    let reply = parse_reply(&v).expect("valid reply");
    assert_eq!(reply.error_reason, Some(&b"Ran out of ports"[..]));

    let v = decode(b"d6:result7:unknowne").expect("valid");
    assert_eq!(
        parse_reply(&v).expect("valid").result,
        ReplyResult::Other(b"unknown")
    );
}

#[test]
fn malformed_replies() {
    let v = decode(b"le").expect("valid");
    assert_eq!(parse_reply(&v), Err(NgError::NotADict));
    let v = decode(b"de").expect("valid");
    assert_eq!(parse_reply(&v), Err(NgError::MissingKey("result")));
    let v = decode(b"d6:resulti1ee").expect("valid");
    assert_eq!(
        parse_reply(&v),
        Err(NgError::WrongType {
            key: "result",
            expected: "string"
        })
    );
    let v = decode(b"d6:result2:ok3:sdpi1ee").expect("valid");
    assert_eq!(
        parse_reply(&v),
        Err(NgError::WrongType {
            key: "sdp",
            expected: "string"
        })
    );
}

#[test]
fn errors_become_error_replies() {
    let err = NgError::Bencode(crate::bencode::BencodeError::UnexpectedEof { offset: 9 });
    let reply = error_reply(&err.reason());
    assert_eq!(
        reply.get("error-reason").and_then(OwnedValue::as_str),
        Some("invalid bencode: unexpected end of input at byte 9")
    );
    assert_eq!(
        reply.as_dict().map(<[_]>::len),
        Some(2),
        "no other keys on error"
    );
}
