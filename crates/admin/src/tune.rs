//! The settings `params.set` changes while the daemon runs, with their ranges: the media
//! timeouts, the session cap (0 drains: no new session, calls in progress continue, as
//! rtpengine's `maxsessions 0`; `"unlimited"` lifts the cap) and the log level.

use serde_json::{json, Value};

use crate::proto::{ErrorCode, ErrorObject};

/// The keys `params.set` takes (as `params.get` names them).
pub const SETTABLE: [&str; 7] = [
    "general.log_level",
    "media.timeout_secs",
    "media.hold_timeout_secs",
    "media.offer_timeout_secs",
    "media.final_timeout_secs",
    "media.delete_delay_secs",
    "media.max_sessions",
];

/// The log levels `general.log_level` takes.
pub const LOG_LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];

/// A day, the longest no-RTP and offer timeouts.
const DAY: u64 = 86_400;

/// `value` checked for `key`, in the shape `params.get` shows it.
pub fn check(key: &str, value: &Value) -> Result<Value, ErrorObject> {
    let invalid = |m: String| ErrorObject::new(ErrorCode::InvalidParams, m);
    let int_in = |lo: u64, hi: u64| match value.as_u64() {
        Some(n) if (lo..=hi).contains(&n) => Ok(json!(n)),
        _ => Err(invalid(format!(
            "{key} takes a whole number in {lo}..={hi}, not {value}"
        ))),
    };
    match key {
        "general.log_level" => match value.as_str() {
            Some(l) if LOG_LEVELS.contains(&l) => Ok(json!(l)),
            _ => Err(invalid(format!(
                "{key} takes one of {}, not {value}",
                LOG_LEVELS.join(", ")
            ))),
        },
        "media.timeout_secs" | "media.hold_timeout_secs" | "media.offer_timeout_secs" => {
            int_in(1, DAY)
        }
        "media.final_timeout_secs" => int_in(0, config::MAX_FINAL_TIMEOUT_SECS),
        "media.delete_delay_secs" => int_in(0, 3600),
        "media.max_sessions" => match value {
            Value::String(s) if s == "unlimited" => Ok(json!("unlimited")),
            _ => int_in(0, u64::from(u32::MAX)).map_err(|_| {
                invalid(format!(
                    "{key} takes a number (0 drains: no new session) or \"unlimited\", not {value}"
                ))
            }),
        },
        _ => Err(ErrorObject::new(
            ErrorCode::NotFound,
            format!(
                "{key:?} cannot be set at run time; these can: {}",
                SETTABLE.join(", ")
            ),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_their_ranges() {
        assert_eq!(check("media.timeout_secs", &json!(30)).unwrap(), 30);
        assert_eq!(check("media.max_sessions", &json!(0)).unwrap(), 0);
        assert_eq!(
            check("media.max_sessions", &json!("unlimited")).unwrap(),
            "unlimited"
        );
        assert_eq!(
            check("general.log_level", &json!("debug")).unwrap(),
            "debug"
        );
        let code = |k: &str, v: Value| check(k, &v).unwrap_err().code;
        assert_eq!(code("media.timeout_secs", json!(0)), -32602);
        assert_eq!(code("media.timeout_secs", json!("30")), -32602);
        assert_eq!(code("media.delete_delay_secs", json!(3601)), -32602);
        assert_eq!(code("media.max_sessions", json!(-1)), -32602);
        assert_eq!(code("general.log_level", json!("loud")), -32602);
        assert_eq!(code("sip.listen", json!("127.0.0.1:5060")), 1001);
    }
}
