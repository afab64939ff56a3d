//! OPTIONS probing, member states, pinning to members that left rotation, reload, REGISTER.

use super::*;
use dispatch::MemberState;

fn probed_bed() -> Bed {
    let text = config_text(
        "[set.health]\ninterval_secs = 1\ntimeout_ms = 500\ndown_after = 3\nup_after = 2",
        &[
            "uri = \"sip:127.0.0.20:5060\"",
            "uri = \"sip:127.0.0.21:5060\"",
        ],
    );
    Bed::from_config(&text, vec![Answer::Ok, Answer::Ok])
}

fn transitions(bed: &mut Bed, to: MemberState) -> usize {
    let mut n = 0;
    while let Some(e) = bed.proxy_mut().poll_event() {
        if let super::super::ProxyEvent::Member(dispatch::DispatchEvent::StateChanged {
            to: t,
            ..
        }) = e
        {
            if t == to {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn down_after_exactly_n_failures_and_up_after_m_successes() {
    let mut bed = probed_bed();
    bed.run_ms(1_100);
    assert_eq!(bed.state(0), MemberState::Active);
    let _ = transitions(&mut bed, MemberState::Down);
    bed.member_mut(0).options = None;
    // Probes every second; each times out after 500 ms. Two failures: SUSPECT, not DOWN.
    let before = bed.member(0).distinct("OPTIONS");
    while bed.member(0).distinct("OPTIONS") < before + 2 {
        bed.run_ms(100);
    }
    bed.run_ms(600);
    assert_eq!(bed.state(0), MemberState::Suspect);
    while bed.member(0).distinct("OPTIONS") < before + 3 {
        bed.run_ms(100);
    }
    bed.run_ms(600);
    assert_eq!(bed.state(0), MemberState::Down);
    assert_eq!(transitions(&mut bed, MemberState::Down), 1);
    // DOWN takes no calls.
    for i in 0..4 {
        bed.call(&format!("dn{i}"));
        bed.run_ms(10);
    }
    assert_eq!(bed.member(0).count("INVITE"), 0);
    // Back: one success is not enough, two are.
    bed.member_mut(0).options = Some((200, None));
    let before = bed.member(0).distinct("OPTIONS");
    while bed.member(0).distinct("OPTIONS") < before + 1 {
        bed.run_ms(50);
    }
    bed.run_ms(20);
    assert_eq!(bed.state(0), MemberState::Down);
    while bed.member(0).distinct("OPTIONS") < before + 2 {
        bed.run_ms(50);
    }
    bed.run_ms(20);
    assert_eq!(bed.state(0), MemberState::Active);
    assert_eq!(transitions(&mut bed, MemberState::Active), 1);
}

#[test]
fn a_probe_answered_503_with_retry_after_makes_the_member_busy() {
    let mut bed = probed_bed();
    bed.member_mut(1).options = Some((503, Some(5)));
    bed.run_ms(2_100);
    assert_eq!(bed.state(1), MemberState::Busy);
    for i in 0..4 {
        bed.call(&format!("bz{i}"));
        bed.run_ms(10);
    }
    assert_eq!(bed.member(1).count("INVITE"), 0);
    bed.member_mut(1).options = Some((200, None));
    bed.run_ms(6_000);
    assert_eq!(bed.state(1), MemberState::Active);
}

#[test]
fn dialogs_stay_pinned_to_a_member_that_went_down_or_draining() {
    let mut bed = probed_bed();
    bed.run_ms(1_100);
    bed.call("pin0");
    bed.run_ms(10);
    bed.call("pin1");
    bed.run_ms(10);
    let m = bed.taker("pin0").unwrap();
    let tag = format!("m{}", member_addr(m).ip());
    // The member stops answering probes and goes DOWN; the call's BYE still goes to it.
    bed.member_mut(m).options = None;
    bed.run_ms(4_000);
    assert_eq!(bed.state(m), MemberState::Down);
    bed.send(in_dialog("INVITE", "pin0", 2, &tag, member_addr(m)));
    bed.run_ms(10);
    bed.send(in_dialog("BYE", "pin0", 3, &tag, member_addr(m)));
    bed.run_ms(10);
    assert_eq!(bed.member(m).count("INVITE"), 2);
    assert_eq!(bed.member(m).count("BYE"), 1);
    assert_eq!(bed.caller().codes("pin0", "BYE"), vec![200]);
    // DRAINING: new calls avoid it, its dialog continues.
    let o = bed.taker("pin1").unwrap();
    let id = bed
        .proxy()
        .dispatcher()
        .snapshot()
        .find(|v| v.member.target() == member_addr(o))
        .map(|v| v.member.id())
        .unwrap();
    let now = bed.sim.now();
    bed.proxy_mut()
        .dispatcher_mut()
        .set_admin_state(id, config::AdminState::Draining, now)
        .unwrap();
    bed.call("new");
    bed.run_ms(10);
    assert_eq!(bed.caller().finals("new"), vec![503]);
    let otag = format!("m{}", member_addr(o).ip());
    bed.send(in_dialog("BYE", "pin1", 2, &otag, member_addr(o)));
    bed.run_ms(10);
    assert_eq!(bed.member(o).count("BYE"), 1);
    assert_eq!(bed.active(o), 0);
}

#[test]
fn reload_keeps_health_counters_and_dialogs_of_members_that_remain() {
    let mut bed = probed_bed();
    bed.run_ms(1_100);
    bed.call("keep");
    bed.run_ms(10);
    let m = bed.taker("keep").unwrap();
    let tag = format!("m{}", member_addr(m).ip());
    let calls_before = bed.active(m);
    // A new config: both members kept, a third added, algorithm changed.
    let text = config_text(
        "algorithm = \"least_calls\"\n[set.health]\ninterval_secs = 1\ntimeout_ms = 500\ndown_after = 3\nup_after = 2",
        &[
            "uri = \"sip:127.0.0.20:5060\"",
            "uri = \"sip:127.0.0.21:5060\"",
            "uri = \"sip:127.0.0.22:5060\"",
        ],
    );
    let cfg = config::parse(&text).unwrap();
    let now = bed.sim.now();
    bed.proxy_mut()
        .reconfigure(ProxyConfig::from_config(&cfg), &cfg.sets, &cfg.routes, now);
    assert_eq!(bed.active(m), calls_before);
    assert_eq!(bed.proxy().dispatcher().snapshot().count(), 3);
    bed.send(in_dialog("BYE", "keep", 2, &tag, member_addr(m)));
    bed.run_ms(10);
    assert_eq!(bed.member(m).count("BYE"), 1);
    assert_eq!(bed.active(m), 0);
}

#[test]
fn register_from_an_allowed_network_joins_the_set() {
    let text = config_text(
        "register = true\nregister_networks = [\"127.0.0.0/8\"]",
        &["uri = \"sip:127.0.0.20:5060\"\nstate = \"disabled\""],
    );
    let mut bed = Bed::from_config(&text, vec![Answer::Ok, Answer::Ok]);
    let reg = "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.21:5060;branch=z9hG4bK-reg1\r\nMax-Forwards: 70\r\n\
        From: <sip:pool@127.0.0.1>;tag=r1\r\nTo: <sip:pool@127.0.0.1>\r\nCall-ID: reg1\r\n\
        CSeq: 1 REGISTER\r\nContact: <sip:fs@127.0.0.21:5060>;expires=60\r\nContent-Length: 0\r\n\r\n";
    let now = bed.sim.now();
    bed.sim.net.send(
        now,
        Datagram::udp(member_addr(1), addr(PROXY), reg.as_bytes().to_vec()),
    );
    bed.run_ms(10);
    assert!(bed.member(1).got.is_empty() || !bed.member(1).got[0].starts_with("REGISTER"));
    bed.call("viareg");
    bed.run_ms(20);
    assert_eq!(bed.caller().finals("viareg"), vec![200]);
    assert_eq!(bed.member(1).count("INVITE"), 1);
    // The registration lapses after 60 s: no member left.
    bed.member_mut(1).options = Some((200, None));
    bed.run_ms(61_000);
    bed.call("afterexp");
    bed.run_ms(20);
    assert_eq!(bed.caller().finals("afterexp"), vec![503]);
}

#[test]
fn an_in_dialog_reinvite_that_times_out_does_not_count_against_the_member() {
    let text = config_text(
        "[set.health]\ninterval_secs = 3600\ndown_after = 1",
        &["uri = \"sip:127.0.0.20:5060\""],
    );
    let mut bed = Bed::from_config(&text, vec![Answer::Ok]);
    bed.call("quiet");
    bed.run_ms(100);
    assert_eq!(bed.caller().finals("quiet"), vec![200]);
    // The member no longer answers INVITEs (its UA dropped the call): the re-INVITE times out.
    bed.member_mut(0).answer = Answer::Silent;
    bed.send(in_dialog(
        "INVITE",
        "quiet",
        2,
        "m127.0.0.20",
        member_addr(0),
    ));
    bed.run_ms(5_000);
    assert_eq!(bed.caller().codes("quiet", "INVITE").last(), Some(&408));
    assert_eq!(
        bed.state(0),
        MemberState::Active,
        "one timeout with down_after = 1"
    );
    // A new call's INVITE timing out still counts.
    bed.call("new");
    bed.run_ms(5_000);
    assert_eq!(bed.state(0), MemberState::Down);
}
