//! Steering: each relay port's frames to the receive queue of the worker that owns it.
//!
//! The data plane's owner of UDP port `p` of relay address `a` (range starting at the even
//! port `min`) is `((p - min) / 2) mod W` for `W` workers. With `W = 2^k` that is a mask
//! match on the port: writing `p = 2q + c` (`c` the RTP/RTCP bit) and `min = 2m`,
//!
//! ```text
//! (p - min) / 2 = q - m,  so  owner(p) = (q - m) mod W = ((q mod W) - (m mod W)) mod W
//! ```
//!
//! and `q mod W` is bits `1..=k` of `p`. Worker `w` therefore owns exactly the ports with
//! `(p >> 1) & (W - 1) == (w + m) & (W - 1)`: one `rte_flow` rule per worker and relay address,
//! matching the destination address exactly and the UDP destination port under the mask
//! `(W - 1) << 1` with the value `((w + m) & (W - 1)) << 1`, whose action is that worker's
//! queue. Ports outside the range match some rule too; the relay drops them there (no session
//! owns them). Other worker counts have no mask form and take the fallback.
//!
//! The fallback, when a port refuses the rules (or the configuration asks for it): RSS spreads
//! frames over the queues (the redirection table is set evenly where the device has one) and
//! every frame on a wrong queue is handed to its owner over that worker's inbox ring
//! ([`super::handoff`]): correct, counted, but one more ring pass for `(W - 1) / W` of the
//! frames.

use super::{strerror, DpdkError, EthPort};
use std::ffi::CStr;
use std::net::IpAddr;

// rte_flow item and action types (rte_flow.h; bindgen gives them as constants of a C enum).
const ITEM_END: dpdk_sys::rte_flow_item_type = dpdk_sys::RTE_FLOW_ITEM_TYPE_END;
const ITEM_ETH: dpdk_sys::rte_flow_item_type = dpdk_sys::RTE_FLOW_ITEM_TYPE_ETH;
const ITEM_IPV4: dpdk_sys::rte_flow_item_type = dpdk_sys::RTE_FLOW_ITEM_TYPE_IPV4;
const ITEM_IPV6: dpdk_sys::rte_flow_item_type = dpdk_sys::RTE_FLOW_ITEM_TYPE_IPV6;
const ITEM_UDP: dpdk_sys::rte_flow_item_type = dpdk_sys::RTE_FLOW_ITEM_TYPE_UDP;
const ACTION_END: dpdk_sys::rte_flow_action_type = dpdk_sys::RTE_FLOW_ACTION_TYPE_END;
const ACTION_QUEUE: dpdk_sys::rte_flow_action_type = dpdk_sys::RTE_FLOW_ACTION_TYPE_QUEUE;

/// One steering rule: UDP to `addr` whose destination port `p` has `p & port_mask ==
/// port_value` goes to receive queue `queue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SteerRule {
    /// The relay address (exact match).
    pub addr: IpAddr,
    /// The bits of the UDP destination port that must equal `port_value`'s.
    pub port_mask: u16,
    /// The value of those bits.
    pub port_value: u16,
    /// The receive queue (= worker index).
    pub queue: u16,
}

impl SteerRule {
    /// Whether UDP destination port `port` matches (the address aside).
    pub fn matches_port(&self, port: u16) -> bool {
        port & self.port_mask == self.port_value
    }
}

/// The rules sending every port of relay address `addr` (range starting at the even port
/// `port_min`) to its owner among `workers` workers; `None` when `workers` is not a power of
/// two (no mask form: see the module text). One worker needs no rules (an empty list).
pub fn owner_rules(addr: IpAddr, port_min: u16, workers: u16) -> Option<Vec<SteerRule>> {
    if workers <= 1 {
        return Some(Vec::new());
    }
    if !workers.is_power_of_two() {
        return None;
    }
    let low = workers - 1;
    let m = (port_min >> 1) & low;
    Some(
        (0..workers)
            .map(|w| SteerRule {
                addr,
                port_mask: low << 1,
                port_value: ((w + m) & low) << 1,
                queue: w,
            })
            .collect(),
    )
}

/// Rules installed on a port; removed when dropped (before the port itself closes, since the
/// value holds the port).
#[derive(Debug)]
pub struct FlowRules {
    port: std::sync::Arc<EthPort>,
    flows: Vec<*mut dpdk_sys::rte_flow>,
}

// SAFETY: the flow handles are opaque tokens of the port's driver, used only to destroy the
// rules (once, in Drop); rte_flow calls may come from any thread that does not race another
// rte_flow call on the same port, and nothing else uses these handles.
unsafe impl Send for FlowRules {}
// SAFETY: shared access exposes only the count; no call is made through `&self`.
unsafe impl Sync for FlowRules {}

impl FlowRules {
    /// Number of rules installed.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// True when no rule is installed.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}

impl Drop for FlowRules {
    fn drop(&mut self) {
        for &f in self.flows.iter().rev() {
            let mut err = flow_error();
            // SAFETY: `f` was returned by rte_flow_create on this port, which is still open
            // (this value holds it), and is destroyed once.
            unsafe { dpdk_sys::rte_flow_destroy(self.port.id(), f, &mut err) };
        }
    }
}

fn flow_error() -> dpdk_sys::rte_flow_error {
    dpdk_sys::rte_flow_error {
        type_: 0,
        cause: std::ptr::null(),
        message: std::ptr::null(),
    }
}

/// The driver's reason for a refused rule: its message when it gave one, else `rc`'s text.
fn flow_reason(rc: i32, err: &dpdk_sys::rte_flow_error) -> String {
    let errno = if rc < 0 { rc } else { super::last_errno() };
    let base = strerror(errno);
    if err.message.is_null() {
        return base;
    }
    // SAFETY: a non-NULL message is a NUL-terminated string of the driver (static or kept in
    // the port's private data), valid now.
    let msg = unsafe { CStr::from_ptr(err.message) }.to_string_lossy();
    if msg.eq_ignore_ascii_case(&base) {
        return base;
    }
    format!("{msg} ({base})")
}

/// The driver refused a rule: its reason, as `rte_flow_error` and errno give it (carried into
/// [`DpdkError::Flow`] with the port and the rule).
#[derive(Debug)]
struct Refused(String);

/// The pattern and action of one rule, kept together so the pointers in the item and action
/// arrays stay valid for the calls that read them.
struct RuleSpec {
    v4: [dpdk_sys::rte_flow_item_ipv4; 2],
    v6: [dpdk_sys::rte_flow_item_ipv6; 2],
    udp: [dpdk_sys::rte_flow_item_udp; 2],
    queue: dpdk_sys::rte_flow_action_queue,
}

impl RuleSpec {
    fn new(r: &SteerRule) -> Self {
        // SAFETY: these are plain C structs of integers and byte arrays (headers and a queue
        // index): all-zero is a valid value, meaning "match nothing in particular" for masks.
        let mut s: Self = unsafe { std::mem::zeroed() };
        match r.addr {
            IpAddr::V4(a) => {
                s.v4[0].hdr.dst_addr = u32::from_ne_bytes(a.octets());
                s.v4[1].hdr.dst_addr = u32::MAX;
            }
            IpAddr::V6(a) => {
                s.v6[0].hdr.dst_addr = a.octets();
                s.v6[1].hdr.dst_addr = [0xff; 16];
            }
        }
        // rte_be16_t: network byte order in memory.
        s.udp[0].hdr.dst_port = u16::from_ne_bytes(r.port_value.to_be_bytes());
        s.udp[1].hdr.dst_port = u16::from_ne_bytes(r.port_mask.to_be_bytes());
        s.queue.index = r.queue;
        s
    }

    /// Validates, then creates the rule on `port`.
    fn install(&self, port: u16, v6: bool) -> Result<*mut dpdk_sys::rte_flow, Refused> {
        let mut attr = dpdk_sys::rte_flow_attr {
            group: 0,
            priority: 0,
            _bitfield_align_1: [],
            _bitfield_1: Default::default(),
        };
        attr.set_ingress(1);
        let item = |type_, spec: *const std::ffi::c_void, mask: *const std::ffi::c_void| {
            dpdk_sys::rte_flow_item {
                type_,
                spec,
                last: std::ptr::null(),
                mask,
            }
        };
        let none = std::ptr::null();
        let l3 = if v6 {
            item(
                ITEM_IPV6,
                (&self.v6[0] as *const dpdk_sys::rte_flow_item_ipv6).cast(),
                (&self.v6[1] as *const dpdk_sys::rte_flow_item_ipv6).cast(),
            )
        } else {
            item(
                ITEM_IPV4,
                (&self.v4[0] as *const dpdk_sys::rte_flow_item_ipv4).cast(),
                (&self.v4[1] as *const dpdk_sys::rte_flow_item_ipv4).cast(),
            )
        };
        let pattern = [
            item(ITEM_ETH, none, none),
            l3,
            item(
                ITEM_UDP,
                (&self.udp[0] as *const dpdk_sys::rte_flow_item_udp).cast(),
                (&self.udp[1] as *const dpdk_sys::rte_flow_item_udp).cast(),
            ),
            item(ITEM_END, none, none),
        ];
        let actions = [
            dpdk_sys::rte_flow_action {
                type_: ACTION_QUEUE,
                conf: (&self.queue as *const dpdk_sys::rte_flow_action_queue).cast(),
            },
            dpdk_sys::rte_flow_action {
                type_: ACTION_END,
                conf: none,
            },
        ];
        let mut err = flow_error();
        // SAFETY: a started port; attr, pattern (END-terminated) and actions (END-terminated)
        // and everything their pointers reach live through both calls; `err` is a valid
        // out-pointer.
        let rc = unsafe {
            dpdk_sys::rte_flow_validate(port, &attr, pattern.as_ptr(), actions.as_ptr(), &mut err)
        };
        if rc != 0 {
            return Err(Refused(flow_reason(rc, &err)));
        }
        // SAFETY: as above.
        let f = unsafe {
            dpdk_sys::rte_flow_create(port, &attr, pattern.as_ptr(), actions.as_ptr(), &mut err)
        };
        if f.is_null() {
            return Err(Refused(flow_reason(0, &err)));
        }
        Ok(f)
    }
}

/// Installs `rules` on `port`, all or none: the first rule the driver refuses removes the
/// ones already made and is returned as [`DpdkError::Flow`].
pub fn install_rules(
    port: &std::sync::Arc<EthPort>,
    rules: &[SteerRule],
) -> Result<FlowRules, DpdkError> {
    let mut done = FlowRules {
        port: port.clone(),
        flows: Vec::with_capacity(rules.len()),
    };
    for r in rules {
        if r.queue >= port.queues() {
            return Err(DpdkError::Flow {
                port: port.id(),
                rule: describe(r),
                reason: format!("queue {} but the port has {}", r.queue, port.queues()),
            });
        }
        let spec = RuleSpec::new(r);
        match spec.install(port.id(), r.addr.is_ipv6()) {
            Ok(f) => done.flows.push(f),
            Err(Refused(reason)) => {
                return Err(DpdkError::Flow {
                    port: port.id(),
                    rule: describe(r),
                    reason,
                })
            }
        }
    }
    Ok(done)
}

/// A rule as text, for errors and logs.
pub fn describe(r: &SteerRule) -> String {
    format!(
        "udp dst {} port & {:#06x} == {:#06x} -> queue {}",
        r.addr, r.port_mask, r.port_value, r.queue
    )
}

/// How a port's frames reach their owners, as decided at start.
#[derive(Debug)]
pub enum Steered {
    /// One queue: nothing to steer.
    Single,
    /// `rte_flow` rules send each relay port to its owner's queue.
    Flow(FlowRules),
    /// RSS spreads frames (`reta`: the redirection table was set evenly over the queues; false
    /// when the device has none or refused it) and the hand-off ring corrects wrong queues.
    /// `reason` says why (the refused rule and the driver's reason, or the configuration).
    Fallback {
        /// Redirection table programmed.
        reta: bool,
        /// Why the rules are not used.
        reason: String,
    },
}

impl Steered {
    /// True when frames may land on a wrong queue (and are handed off).
    pub fn degraded(&self) -> bool {
        matches!(self, Steered::Fallback { .. })
    }
}

/// What to do about steering on a port (see the module text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SteerMode {
    /// Rules required: a refusal is an error.
    Flow,
    /// Rules where the port takes them, else the fallback.
    Auto,
    /// The fallback without trying rules.
    Rss,
}

/// Sets up steering on `port` for `rules` (all relay addresses of the port, for every
/// worker): see [`SteerMode`]. With one queue nothing is done. Rules that cannot be expressed
/// (a worker count that is not a power of two) are given as `rules = None`.
pub fn steer_port(
    port: &std::sync::Arc<EthPort>,
    rules: Option<&[SteerRule]>,
    mode: SteerMode,
) -> Result<Steered, DpdkError> {
    if port.queues() <= 1 {
        return Ok(Steered::Single);
    }
    let attempt = match (mode, rules) {
        (SteerMode::Rss, _) => Err("steering = \"rss\" in the configuration".to_owned()),
        (_, None) => Err(format!(
            "{} queues: rte_flow steering needs a power-of-two worker count",
            port.queues()
        )),
        (_, Some(rules)) => install_rules(port, rules).map_err(|e| e.to_string()),
    };
    match attempt {
        Ok(f) => Ok(Steered::Flow(f)),
        Err(reason) if mode == SteerMode::Flow => Err(DpdkError::Steering {
            port: port.id(),
            driver: port.driver().to_owned(),
            reason,
        }),
        Err(reason) => Ok(Steered::Fallback {
            reta: port.spread_reta(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data plane's owner function (crates/dataplane layout: pair mod workers).
    fn owner(port: u16, port_min: u16, workers: u16) -> u16 {
        ((port - port_min) / 2) % workers
    }

    #[test]
    fn one_rule_per_worker_matches_exactly_the_owned_ports() {
        let addr: IpAddr = [192, 0, 2, 1].into();
        for workers in [2u16, 4, 8, 16] {
            for port_min in [2u16, 1024, 1026, 1030, 30000, 49152, 65534] {
                let rules = owner_rules(addr, port_min, workers).expect("power of two");
                assert_eq!(rules.len(), usize::from(workers));
                for port in port_min..=u16::MAX {
                    let hits: Vec<u16> = rules
                        .iter()
                        .filter(|r| r.matches_port(port))
                        .map(|r| r.queue)
                        .collect();
                    assert_eq!(
                        hits,
                        vec![owner(port, port_min, workers)],
                        "port {port} min {port_min} workers {workers}"
                    );
                }
            }
        }
    }

    #[test]
    fn no_rules_for_one_worker_and_no_mask_for_three() {
        let addr: IpAddr = "2001:db8::1".parse().expect("address");
        assert_eq!(owner_rules(addr, 1024, 1), Some(Vec::new()));
        assert_eq!(owner_rules(addr, 1024, 3), None);
        assert_eq!(owner_rules(addr, 1024, 6), None);
    }

    #[test]
    fn rules_read_as_text() {
        let r = SteerRule {
            addr: [10, 0, 0, 1].into(),
            port_mask: 0x6,
            port_value: 0x2,
            queue: 1,
        };
        assert_eq!(
            describe(&r),
            "udp dst 10.0.0.1 port & 0x0006 == 0x0002 -> queue 1"
        );
    }
}
