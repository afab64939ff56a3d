//! What the proxy received by kind, and how its calls ended: bounded counters for metrics
//! (a fixed set of method names, the six response classes; nothing per Call-ID or source).

/// The methods counted by name (RFC 3261 §27.4 and the extensions the proxy meets), in
/// counter order; every other method is counted as `"other"`, the last slot.
pub const METHODS: [&str; 15] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "PRACK",
    "UPDATE",
    "INFO",
    "REFER",
    "SUBSCRIBE",
    "NOTIFY",
    "MESSAGE",
    "PUBLISH",
    "other",
];

/// Response classes (RFC 3261 §21), in counter order.
pub const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];

/// Counts of SIP traffic (monotonic; one writer, the proxy).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TrafficCounters {
    /// Requests received and parsed, by method ([`METHODS`] order; the method name is
    /// case-sensitive, RFC 3261 §7.1).
    pub requests: [u64; METHODS.len()],
    /// Responses received and parsed, by class ([`CLASSES`] order).
    pub responses: [u64; CLASSES.len()],
    /// Initial INVITEs answered 2xx by a member (the first 2xx of each call).
    pub calls_answered: u64,
    /// Initial INVITEs that ended upstream with a final non-2xx (forwarded or made here:
    /// refused, no route, every member failed, cancelled), by class ([`CLASSES`] order).
    pub calls_failed: [u64; CLASSES.len()],
}

/// The [`CLASSES`] index of `code`, if it is a status code (100..=699).
fn class(code: u16) -> Option<usize> {
    (100..700)
        .contains(&code)
        .then(|| usize::from(code / 100 - 1))
}

impl TrafficCounters {
    /// Counts a request with method `name`.
    pub(crate) fn request(&mut self, name: &str) {
        let i = METHODS
            .iter()
            .position(|m| *m == name)
            .unwrap_or(METHODS.len() - 1);
        if let Some(n) = self.requests.get_mut(i) {
            *n += 1;
        }
    }

    /// Counts a response with status `code`.
    pub(crate) fn response(&mut self, code: u16) {
        if let Some(n) = class(code).and_then(|i| self.responses.get_mut(i)) {
            *n += 1;
        }
    }

    /// Counts a call that ended upstream with final `code`.
    pub(crate) fn call_failed(&mut self, code: u16) {
        if let Some(n) = class(code).and_then(|i| self.calls_failed.get_mut(i)) {
            *n += 1;
        }
    }

    /// Requests by method name.
    pub fn requests_by_method(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        METHODS.iter().copied().zip(self.requests.iter().copied())
    }

    /// Responses by class name.
    pub fn responses_by_class(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        CLASSES.iter().copied().zip(self.responses.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_classes_land_in_their_slots() {
        let mut t = TrafficCounters::default();
        for m in ["INVITE", "INVITE", "BYE", "invite", "FOO"] {
            t.request(m);
        }
        for c in [100, 180, 200, 487, 603, 99, 700] {
            t.response(c);
        }
        t.call_failed(503);
        let by: Vec<_> = t.requests_by_method().filter(|(_, n)| *n > 0).collect();
        assert_eq!(by, [("INVITE", 2), ("BYE", 1), ("other", 2)]);
        let by: Vec<_> = t.responses_by_class().filter(|(_, n)| *n > 0).collect();
        assert_eq!(by, [("1xx", 2), ("2xx", 1), ("4xx", 1), ("6xx", 1)]);
        assert_eq!(t.calls_failed, [0, 0, 0, 0, 1, 0]);
    }
}
