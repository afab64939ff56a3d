//! The calls as the admin socket reads and ends them (`admin_calls`): pages in Call-ID order
//! with a cursor, one call with its parties, and `terminate_call`: a BYE to each party with
//! the admin's Reason and the media released, refused for calls not answered, ended or
//! unknown.

use super::anchor::{bed, calls};
use super::*;
use crate::{DialogState, TerminateError};

/// `n` anchored calls answered and ACKed.
fn answered(n: usize) -> (Bed, super::anchor::Shared, Vec<String>) {
    let (mut bed, engine) = bed(vec![Answer::Ok], 20);
    let ids: Vec<String> = (0..n).map(|i| format!("call-{i}")).collect();
    for id in &ids {
        bed.call(id);
    }
    bed.run_ms(100);
    for id in &ids {
        bed.send(in_dialog("ACK", id, 1, "m127.0.0.20", member_addr(0)));
    }
    bed.run_ms(50);
    (bed, engine, ids)
}

#[test]
fn calls_are_paged_in_call_id_order_each_once() {
    let (mut bed, _engine, ids) = answered(5);
    let now = bed.sim.now();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (page, more) = bed.proxy_mut().calls_page(cursor.as_deref(), 2, now);
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|c| c.call_id.clone()));
        cursor = page.last().map(|c| c.call_id.clone());
        if !more {
            break;
        }
    }
    assert_eq!(seen, ids, "every call once, in order");
    let c = bed.proxy().call("call-3", now).unwrap();
    assert_eq!(c.state, DialogState::Confirmed);
    assert!(c.member.is_some() && c.callee_tag.is_some());
    assert_eq!(c.member_hop.0, member_addr(0));
    assert_eq!(
        c.media,
        Some(["external".to_string(), "internal".to_string()])
    );
    let contacts = c.contacts.unwrap();
    assert!(contacts[0].starts_with("sip:caller@"), "{contacts:?}");
    assert!(bed.proxy().call("nope", now).is_none());
}

#[test]
fn terminate_sends_bye_both_ways_with_the_reason_and_releases_the_media() {
    let (mut bed, engine, _) = answered(2);
    let now = bed.sim.now();
    let member = bed.proxy().call("call-0", now).unwrap().member.unwrap();
    assert_eq!(bed.proxy().calls_of_member(member).len(), 2);
    bed.proxy_mut()
        .terminate_call(now, "call-0", "maintenance \"now\"")
        .unwrap();
    bed.run_ms(100);
    let bye = bed.member(0).first("BYE");
    assert!(
        bye.contains("Reason: Q.850;cause=16;text=\"maintenance now\""),
        "{bye}"
    );
    assert!(bye.contains("Call-ID: call-0"), "{bye}");
    let to_caller = bed.caller().requests.iter().find(|r| r.starts_with("BYE "));
    assert!(
        to_caller.is_some_and(|b| b.contains("cause=16")),
        "{to_caller:?}"
    );
    assert_eq!(calls(&engine), 1, "call-0's media released, call-1's kept");
    let now = bed.sim.now();
    let c = bed.proxy().call("call-0", now).unwrap();
    assert_eq!(c.state, DialogState::Ended);
    assert_eq!(bed.proxy().calls_of_member(member), ["call-1"]);
    let again = bed.proxy_mut().terminate_call(now, "call-0", "x");
    assert_eq!(again, Err(TerminateError::Ended("call-0".into())));
    let unknown = bed.proxy_mut().terminate_call(now, "nope", "x");
    assert_eq!(unknown, Err(TerminateError::NoSuchCall("nope".into())));
}

#[test]
fn a_call_not_answered_yet_is_not_terminated() {
    let (mut bed, engine) = bed(vec![Answer::Ring], 10);
    bed.call("ringing");
    bed.run_ms(100);
    let now = bed.sim.now();
    assert_eq!(
        bed.proxy().call("ringing", now).unwrap().state,
        DialogState::Early
    );
    let r = bed.proxy_mut().terminate_call(now, "ringing", "x");
    assert_eq!(r, Err(TerminateError::NotAnswered("ringing".into())));
    assert_eq!(calls(&engine), 1);
    assert_eq!(bed.member(0).count("BYE"), 0);
}
