//! A reload's `[[interface]]` entries: checked against this host, planned against the
//! running relay addresses (`media::relays`), applied to the engine (and by it, to the
//! workers), and described for the reload's reply.

use std::net::{IpAddr, UdpSocket};

use control::SharedEngine;
use media::relays::{self, Relays, Wanted};

/// Why the DPDK backend cannot take new relay addresses while it runs.
const DPDK_GROWTH: &str = "needs a restart: on the DPDK backend the ports answer ARP/ND for \
    the relay addresses and steer their port ranges as set up at start, so new interfaces, \
    moved addresses and grown ranges wait for a restart (shrinking or removing an interface \
    applies live)";

/// The local addresses of `new`'s interfaces that `current` does not have must be this host's
/// (a UDP socket binds to each) on the socket backend: otherwise the whole file is refused,
/// naming the entry. (On DPDK the ports, not the host, own the relay addresses.)
pub fn check_host(
    current: &config::Config,
    new: &config::Config,
    dpdk: bool,
) -> Result<(), String> {
    if dpdk {
        return Ok(());
    }
    let known = |ip: IpAddr| current.interfaces.iter().any(|i| i.address == ip);
    for (i, iface) in new.interfaces.iter().enumerate() {
        if known(iface.address) {
            continue;
        }
        if let Err(e) = UdpSocket::bind((iface.address, 0)) {
            return Err(format!(
                "interface[{i}].address: {} is not an address of this host (cannot bind: {e})",
                iface.address
            ));
        }
    }
    Ok(())
}

/// What a reload of `[[interface]]` did: one line per relay address it changed.
pub type Outcome = Vec<String>;

/// Applies `wanted` (the file's entries) to the engine: new relay addresses join the layout,
/// the others open or close their ports to new sessions. `Err`: refused, nothing changed.
pub fn apply(
    engine: &SharedEngine,
    dpdk: bool,
    wanted: &[config::Interface],
) -> Result<Outcome, String> {
    let wanted: Vec<Wanted> = wanted.iter().map(to_wanted).collect();
    let now = engine.lock().relays();
    let next = relays::plan(&now, &wanted).map_err(|e| format!("needs a restart: {e}"))?;
    if next == now {
        return Ok(Vec::new());
    }
    if dpdk && next.ranges.len() > now.ranges.len() {
        return Err(DPDK_GROWTH.to_owned());
    }
    let outcome = describe(&now, &next);
    engine
        .change(|e| e.set_relays(next))
        .map_err(|e| format!("the engine refused the relay addresses: {e}"))?;
    Ok(outcome)
}

fn to_wanted(i: &config::Interface) -> Wanted {
    Wanted {
        iface: media::Interface {
            name: i.name.clone(),
            address: i.address,
            advertised: i.advertised,
        },
        ports: dataplane::AddrRange {
            port_min: i.port_min,
            port_max: i.port_max,
        },
    }
}

/// One line per relay address whose ports or advertised address changed from `now` to `next`.
fn describe(now: &Relays, next: &Relays) -> Outcome {
    let mut out = Vec::new();
    for (a, range) in next.ranges.iter().enumerate() {
        let i = &next.interfaces[a];
        let at = format!("interface {:?} on {}", i.name, i.address);
        let ports = |r: dataplane::AddrRange| format!("ports {}-{}", r.port_min, r.port_max);
        let (was, is) = (now.open.get(a).copied().flatten(), next.open[a]);
        let line = match (a < now.ranges.len(), was, is) {
            (false, _, _) => format!("{at}: {} added", ports(*range)),
            (true, w, i) if w == i => {
                match now.interfaces[a].advertised != next.interfaces[a].advertised {
                    true => format!("{at}: new sessions advertise {}", next.interfaces[a].sdp()),
                    false => continue,
                }
            }
            (true, _, None) => format!(
                "{at}: {} take no new sessions; the sessions on them run to their end",
                ports(*range)
            ),
            (true, _, Some(o)) if o == *range => format!("{at}: {} open again", ports(o)),
            (true, _, Some(o)) => format!(
                "{at}: only {} of {} take new sessions; the sessions on the others run to \
                 their end",
                ports(o),
                ports(*range)
            ),
        };
        out.push(line);
    }
    out
}

/// The address an interface writes into SDP.
trait Sdp {
    fn sdp(&self) -> IpAddr;
}

impl Sdp for media::Interface {
    fn sdp(&self) -> IpAddr {
        self.advertised.unwrap_or(self.address)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const FILE: &str = "[[interface]]\nname = \"ext\"\naddress = \"127.0.0.1\"\n\
        port_min = 30000\nport_max = 30099\n";

    fn cfg(text: &str) -> config::Config {
        config::parse(text).unwrap()
    }

    /// An engine over `cfg`'s interfaces, one worker.
    fn engine(cfg: &config::Config) -> SharedEngine {
        let ranges = cfg
            .interfaces
            .iter()
            .map(|i| dataplane::AddrRange {
                port_min: i.port_min,
                port_max: i.port_max,
            })
            .collect();
        let layout = Arc::new(dataplane::PortLayout::new(ranges, 1).unwrap());
        let e = media::Engine::new(
            cfg.media_engine(std::time::Instant::now(), true),
            layout,
            Box::new(media::VirtualBinder),
            Vec::new(),
        );
        SharedEngine::new(e)
    }

    #[test]
    fn dpdk_refuses_new_relay_addresses_and_changes_nothing() {
        let old = cfg(FILE);
        let e = engine(&old);
        let before = e.lock().relays();
        let grown = cfg(&FILE.replace("30099", "30199"));
        let why = apply(&e, true, &grown.interfaces).unwrap_err();
        assert!(
            why.starts_with("needs a restart: on the DPDK backend"),
            "{why}"
        );
        assert_eq!(e.lock().relays(), before);
        // The socket backend takes it.
        let done = apply(&e, false, &grown.interfaces).unwrap();
        assert_eq!(
            done,
            ["interface \"ext\" on 127.0.0.1: ports 30100-30199 added"]
        );
        assert_eq!(e.lock().layout().ranges().len(), 2);
    }

    #[test]
    fn dpdk_applies_a_shrunk_range_and_says_what_became_of_the_ports() {
        let e = engine(&cfg(FILE));
        let shrunk = cfg(&FILE.replace("30099", "30049"));
        let done = apply(&e, true, &shrunk.interfaces).unwrap();
        assert_eq!(
            done,
            [
                "interface \"ext\" on 127.0.0.1: only ports 30000-30049 of ports 30000-30099 \
              take new sessions; the sessions on the others run to their end"
            ]
        );
        assert_eq!(e.lock().free_pairs(0), 25);
        assert!(apply(&e, true, &shrunk.interfaces).unwrap().is_empty());
    }

    #[test]
    fn an_address_the_host_lacks_is_refused_on_the_socket_backend_only() {
        let old = cfg(FILE);
        let absent = FILE
            .replace("ext", "far")
            .replace("127.0.0.1", "192.0.2.77");
        let new = cfg(&format!("{FILE}{absent}"));
        let why = check_host(&old, &new, false).unwrap_err();
        assert!(
            why.starts_with("interface[1].address: 192.0.2.77 is not an address of this host"),
            "{why}"
        );
        assert!(check_host(&old, &new, true).is_ok());
        assert!(check_host(&old, &old, false).is_ok());
    }
}
