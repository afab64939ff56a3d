//! The media engine's settings come out of the config whole: every field the daemon used to
//! copy by hand.

use std::time::{Duration, Instant};

const TEXT: &str = r#"
[ng]
cookie_cache_secs = 45

[media]
latching = "immediate"
strict_source = true
offer_timeout_secs = 20
final_timeout_secs = 7200
delete_delay_secs = 5
max_sessions = 100

[[interface]]
name = "external"
address = "127.0.0.1"
advertised = "192.0.2.10"
port_min = 30000
port_max = 30099

[[interface]]
name = "internal"
address = "127.0.0.2"
port_min = 40000
port_max = 40099
"#;

#[test]
fn every_engine_setting_comes_from_its_key() {
    let cfg = config::parse(TEXT).expect("the test config parses");
    let epoch = Instant::now();
    let e = cfg.media_engine(epoch, true);
    assert_eq!(e.interfaces.len(), 2);
    assert_eq!(e.interfaces[0].name, "external");
    assert_eq!(
        e.interfaces[0].address,
        std::net::IpAddr::from([127, 0, 0, 1])
    );
    assert_eq!(
        e.interfaces[0].advertised,
        Some(std::net::IpAddr::from([192, 0, 2, 10]))
    );
    assert_eq!(e.interfaces[1].advertised, None);
    assert_eq!(e.latching, config::LatchMode::Immediate);
    assert!(e.strict_source);
    assert_eq!(e.offer_timeout, Duration::from_secs(20));
    assert_eq!(e.final_timeout, Some(Duration::from_secs(7200)));
    assert_eq!(e.delete_delay, Duration::from_secs(5));
    assert_eq!(e.max_sessions, 100);
    assert_eq!(e.cookie_ttl, Duration::from_secs(45));
    assert!(e.fastpath);
    assert_eq!(e.epoch, epoch);
}

#[test]
fn no_session_cap_is_zero_for_the_engine() {
    let text = TEXT.replace("max_sessions = 100", "max_sessions = 0");
    let cfg = config::parse(&text).expect("the test config parses");
    assert_eq!(cfg.media_engine(Instant::now(), false).max_sessions, 0);
}
