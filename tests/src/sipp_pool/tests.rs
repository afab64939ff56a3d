//! Unit tests of the sipp pool parsers, the scenario choices and the report logic.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use super::*;

/// The header line sipp 3.6.1 writes with `-trace_stat`.
const HEADER: &str =
    "StartTime;LastResetTime;CurrentTime;ElapsedTime(P);ElapsedTime(C);TargetRate;\
CallRate(P);CallRate(C);IncomingCall(P);IncomingCall(C);OutgoingCall(P);OutgoingCall(C);\
TotalCallCreated;CurrentCall;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);\
FailedCannotSendMessage(P);FailedCannotSendMessage(C);FailedMaxUDPRetrans(P);\
FailedMaxUDPRetrans(C);FailedTcpConnect(P);FailedTcpConnect(C);FailedTcpClosed(P);\
FailedTcpClosed(C);FailedUnexpectedMessage(P);FailedUnexpectedMessage(C);\
FailedCallRejected(P);FailedCallRejected(C);FailedCmdNotSent(P);FailedCmdNotSent(C);\
FailedRegexpDoesntMatch(P);FailedRegexpDoesntMatch(C);FailedRegexpShouldntMatch(P);\
FailedRegexpShouldntMatch(C);FailedRegexpHdrNotFound(P);FailedRegexpHdrNotFound(C);\
FailedOutboundCongestion(P);FailedOutboundCongestion(C);FailedTimeoutOnRecv(P);\
FailedTimeoutOnRecv(C);FailedTimeoutOnSend(P);FailedTimeoutOnSend(C);\
FailedTestDoesntMatch(P);FailedTestDoesntMatch(C);FailedTestShouldntMatch(P);\
FailedTestShouldntMatch(C);FailedStrcmpDoesntMatch(P);FailedStrcmpDoesntMatch(C);\
FailedStrcmpShouldntMatch(P);FailedStrcmpShouldntMatch(C);OutOfCallMsgs(P);OutOfCallMsgs(C);\
DeadCallMsgs(P);DeadCallMsgs(C);Retransmissions(P);Retransmissions(C);AutoAnswered(P);\
AutoAnswered(C);Warnings(P);Warnings(C);FatalErrors(P);FatalErrors(C);WatchdogMajor(P);\
WatchdogMajor(C);WatchdogMinor(P);WatchdogMinor(C);CallLength(P);CallLength(C);\
CallLengthStDev(P);CallLengthStDev(C);";

/// A data line in sipp's shape: timestamps with tabs, durations, rates, `;` at the end;
/// counters from `values`, every other counter 0.
fn row(values: &[(&str, u64)]) -> String {
    let mut out = String::new();
    for name in HEADER.split(';').filter(|n| !n.is_empty()) {
        let field = if name.ends_with("Time") {
            "2026-11-22\t04:03:18.427562\t1795320198.427562".to_owned()
        } else if name.starts_with("ElapsedTime") {
            "00:00:01".to_owned()
        } else if name.starts_with("CallLength") {
            "00:00:00:008000".to_owned()
        } else if name.starts_with("CallRate") {
            "9.79021".to_owned()
        } else {
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(0, |(_, v)| *v)
                .to_string()
        };
        out.push_str(&field);
        out.push(';');
    }
    out
}

#[test]
fn stat_csv_gives_the_last_line_counters() {
    let text = format!(
        "{HEADER}\n{}\n{}\n",
        row(&[("TotalCallCreated", 3), ("SuccessfulCall(C)", 1)]),
        row(&[
            ("TotalCallCreated", 7),
            ("CurrentCall", 1),
            ("SuccessfulCall(C)", 5),
            ("FailedCall(C)", 1),
            ("FailedMaxUDPRetrans(C)", 1),
            ("Retransmissions(C)", 4),
            ("AutoAnswered(C)", 2),
            ("OutOfCallMsgs(C)", 3),
            // Periodic columns must not be mistaken for the cumulative ones.
            ("SuccessfulCall(P)", 99),
        ])
    );
    assert_eq!(
        parse_stat_csv(&text).unwrap(),
        CallStats {
            created: 7,
            current: 1,
            successful: 5,
            failed: 1,
            failed_max_retrans: 1,
            failed_unexpected: 0,
            failed_timeout_on_recv: 0,
            retransmissions: 4,
            auto_answered: 2,
            out_of_call: 3,
        }
    );
}

#[test]
fn stat_csv_skips_a_line_cut_short() {
    let full = row(&[("SuccessfulCall(C)", 4)]);
    let cut = &row(&[("SuccessfulCall(C)", 9)])[..200];
    let text = format!("{HEADER}\n{full}\n{cut}");
    assert_eq!(parse_stat_csv(&text).unwrap().successful, 4);
}

#[test]
fn stat_csv_errors_name_what_is_missing() {
    assert_eq!(parse_stat_csv(""), Err(StatsError::NoHeader));
    assert_eq!(
        parse_stat_csv(&format!("{HEADER}\n")),
        Err(StatsError::NoData)
    );
    assert_eq!(
        parse_stat_csv("StartTime;TotalCallCreated;\nx;1;\n"),
        Err(StatsError::MissingColumn("CurrentCall"))
    );
    assert_eq!(
        parse_stat_csv(&format!("{HEADER}\nnot;a;row\n")),
        Err(StatsError::NoData)
    );
}

#[test]
fn member_log_lists_invites_and_byes_in_order() {
    let log =
        "INVITE 1-77@127.0.0.1\nACK 1-77@127.0.0.1\nINVITE 2-77@127.0.0.1\nBYE 1-77@127.0.0.1\n\
               UNSUPPORTED code 999: -set code 404|480|486|500|503|603\n\
               \nINVITE\nBYE 2-77@127.0.0.1";
    let calls = parse_member_log(log);
    assert_eq!(calls.invites, ["1-77@127.0.0.1", "2-77@127.0.0.1"]);
    // The last line has no newline (a member killed mid-write) and still counts.
    assert_eq!(calls.byes, ["1-77@127.0.0.1", "2-77@127.0.0.1"]);
    assert_eq!(calls.acks, ["1-77@127.0.0.1"]);
    assert_eq!(parse_member_log(""), MemberCalls::default());
}

fn member(invites: &[&str], byes: &[&str]) -> MemberCalls {
    MemberCalls {
        invites: invites.iter().map(|s| s.to_string()).collect(),
        byes: byes.iter().map(|s| s.to_string()).collect(),
        acks: Vec::new(),
    }
}

#[test]
fn pool_calls_find_members_and_misrouted_byes() {
    let mut restarted = member(&["c"], &[]);
    restarted.extend(member(&["e"], &["e"]));
    let pool = PoolCalls {
        members: vec![
            member(&["a", "b"], &["a", "b"]),
            // "b" failed over from member 0 to member 1; its BYE went to member 0.
            member(&["b", "d"], &["d", "c"]),
            restarted,
        ],
    };
    assert_eq!(pool.invites_per_member(), [2, 2, 2]);
    assert_eq!(pool.byes_per_member(), [2, 2, 1]);
    assert_eq!(pool.invite_members("b"), [0, 1]);
    assert_eq!(pool.bye_members("c"), [1]);
    assert!(pool.bye_members("x").is_empty());
    assert_eq!(pool.misrouted_byes(), [("c".to_owned(), 1)]);
}

#[test]
fn member_scenarios_are_checked_before_any_spawn() {
    let (xml, args) = MemberScenario::Answer.prepare().unwrap();
    assert_eq!(xml, UAS_ANSWER);
    assert!(args.is_empty());
    let (xml, args) = MemberScenario::Reject {
        code: 503,
        retry_after: Some(30),
    }
    .prepare()
    .unwrap();
    assert_eq!(xml, UAS_REJECT);
    assert_eq!(args, ["-set", "code", "503", "-set", "retry_after", "30"]);
    assert!(matches!(
        MemberScenario::Reject {
            code: 487,
            retry_after: None
        }
        .prepare(),
        Err(PoolError::UnsupportedRejectCode(487))
    ));
    assert!(matches!(
        MemberScenario::Reject {
            code: 486,
            retry_after: Some(5)
        }
        .prepare(),
        Err(PoolError::RetryAfterNeeds503(486))
    ));
    // Member::start refuses it without spawning anything (the program does not even exist).
    let dir = tempfile::tempdir().unwrap();
    let err = Member::start(
        Path::new("/nonexistent/sipp"),
        dir.path(),
        MemberSpec::rejecting(5999, 302, None),
    )
    .unwrap_err();
    assert!(err.to_string().contains("cannot send 302"), "{err}");
}

#[test]
fn every_supported_code_has_its_scenario_branch() {
    for code in REJECT_CODES {
        assert!(
            UAS_REJECT.contains(&format!("<label id=\"reject_{code}\"/>")),
            "no branch for {code}"
        );
        assert!(UAS_REJECT.contains(&format!("SIP/2.0 {code} ")));
        assert!(UAS_REJECT.contains(&format!("value=\"{code}\"")));
    }
    assert!(UAS_REJECT.contains("Retry-After: [$retry_after]"));
    for code in EXPECT_CODES {
        let xml = CallScenario::Refused(code).xml().unwrap();
        assert!(xml.contains(&format!("<recv response=\"{code}\"/>")));
        // The ACK of a non-2xx reuses the INVITE's branch (RFC 3261 17.1.1.3).
        assert!(xml.contains("branch=[branch-4]"));
    }
    assert!(matches!(
        CallScenario::Refused(480).xml(),
        Err(PoolError::UnsupportedExpectCode(480))
    ));
    assert_eq!(CallScenario::Answered.xml().unwrap(), UAC_CALL);
}

#[test]
fn a_report_succeeds_only_when_sipp_and_the_counters_agree() {
    let good = UacReport {
        exit_code: Some(0),
        timed_out: false,
        stats: CallStats {
            created: 10,
            successful: 10,
            ..CallStats::default()
        },
        expected: 10,
    };
    assert!(good.all_succeeded());
    assert!(good
        .summary()
        .starts_with("exit 0 (all calls successful); 10 of 10"));
    let short = UacReport {
        stats: CallStats {
            successful: 9,
            ..good.stats
        },
        ..good.clone()
    };
    assert!(!short.all_succeeded());
    let failed = UacReport {
        exit_code: Some(1),
        stats: CallStats {
            failed: 1,
            ..good.stats
        },
        ..good.clone()
    };
    assert!(!failed.all_succeeded());
    assert!(failed.summary().contains("at least one call failed"));
    let late = UacReport {
        timed_out: true,
        exit_code: None,
        ..good.clone()
    };
    assert!(!late.all_succeeded());
    assert!(late.summary().starts_with("killed after the wait ran out"));
    assert_eq!(exit_meaning(254), "fatal error binding a socket");
}
