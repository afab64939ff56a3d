//! Value checks shared by the sections: ranges, durations, choices, addresses.
//!
//! Each helper takes the key path it checks so that its error names it.

use std::net::IpAddr;
use std::time::Duration;

use serde::de::{DeserializeOwned, IntoDeserializer};

use crate::error::{key, ConfigError};

/// Reason used for a required key that is absent.
pub(crate) const MISSING: &str = "required key is missing";

/// `value` as a `T`, if it lies in `min..=max`.
pub(crate) fn int_in<T: TryFrom<i64>>(
    path: &str,
    value: i64,
    min: i64,
    max: i64,
) -> Result<T, ConfigError> {
    if value < min || value > max {
        return Err(key(
            path,
            format!("must be between {min} and {max}, got {value}"),
        ));
    }
    // The bounds given by every caller fit in `T`, so this conversion cannot fail; an error
    // (rather than a panic) keeps it harmless should a caller ever pass wider bounds.
    T::try_from(value).map_err(|_| key(path, format!("{value} does not fit this setting")))
}

/// An optional integer key in `min..=max`, or `default` when absent.
pub(crate) fn opt_int_in<T: TryFrom<i64>>(
    path: &str,
    value: Option<i64>,
    min: i64,
    max: i64,
    default: T,
) -> Result<T, ConfigError> {
    match value {
        Some(v) => int_in(path, v, min, max),
        None => Ok(default),
    }
}

/// An optional `*_secs` key in `min..=max` seconds, or `default` when absent.
pub(crate) fn secs_in(
    path: &str,
    value: Option<i64>,
    min: i64,
    max: i64,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match value {
        Some(v) => int_in::<u64>(path, v, min, max).map(Duration::from_secs),
        None => Ok(default),
    }
}

/// One of the string choices of enum `T` (its serde names), or `default` when absent.
pub(crate) fn choice<T: DeserializeOwned>(
    path: &str,
    value: Option<&str>,
    default: T,
) -> Result<T, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        value.into_deserializer();
    T::deserialize(de).map_err(|e| {
        let msg = e.to_string();
        // serde says "unknown variant"; operators know these as values.
        let msg = match msg.strip_prefix("unknown variant") {
            Some(rest) => format!("unknown value{rest}"),
            None => msg,
        };
        key(path, msg)
    })
}

/// A required key: its value, or a "missing" error naming it.
pub(crate) fn required<T>(path: &str, value: Option<T>) -> Result<T, ConfigError> {
    value.ok_or_else(|| key(path, MISSING))
}

/// An IP address for a local or advertised endpoint: it must parse and be a concrete unicast
/// address (not `0.0.0.0`/`::`, not multicast), since it is bound to or written into SDP.
pub(crate) fn unicast_ip(path: &str, text: &str) -> Result<IpAddr, ConfigError> {
    let ip: IpAddr = text.parse().map_err(|_| {
        key(
            path,
            format!(
                "{text:?} is not an IP address (expected e.g. \"192.0.2.1\" or \"2001:db8::1\")"
            ),
        )
    })?;
    if ip.is_unspecified() {
        return Err(key(
            path,
            format!("{ip} is the unspecified address; name a concrete local address"),
        ));
    }
    if ip.is_multicast() {
        return Err(key(path, format!("{ip} is a multicast address")));
    }
    Ok(ip)
}
