//! What `/proc` says about the run: CPU time of a process (`/proc/<pid>/stat`, proc(5)) and
//! per-socket receive drops (`/proc/net/udp`), so a loss can be placed on the relay's sockets
//! or on the tool's own.

use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// User + system CPU time of every thread of process `pid` (`self` for this process).
pub fn cpu_time(pid: &str) -> io::Result<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = parse_stat_ticks(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("/proc/{pid}/stat: unexpected format"),
        )
    })?;
    let hz = crate::sys::clock_ticks_per_sec();
    Ok(Duration::from_nanos(
        ticks.saturating_mul(1_000_000_000) / hz.max(1),
    ))
}

/// utime + stime in clock ticks from the text of `/proc/<pid>/stat`. The command name (field
/// 2) may hold spaces and parentheses, so fields are counted after its last `)`: state is field
/// 3, utime field 14, stime field 15.
fn parse_stat_ticks(text: &str) -> Option<u64> {
    let after = text.get(text.rfind(')')? + 1..)?;
    let mut fields = after.split_ascii_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime.saturating_add(stime))
}

/// Receive-queue drops summed over the IPv4 UDP sockets bound to `addrs` in this process's
/// network namespace; `None` when none of them is there (a relay in another namespace, or one
/// that binds no socket per port).
pub fn udp_drops(addrs: &HashSet<SocketAddrV4>) -> io::Result<Option<u64>> {
    let text = std::fs::read_to_string("/proc/net/udp")?;
    Ok(sum_drops(&text, addrs))
}

/// Parses `/proc/net/udp`: `sl local_address rem_address st tx_queue:rx_queue tr:tm->when
/// retrnsmt uid timeout inode ref pointer drops`, addresses as `HEXIP:HEXPORT` with the IP in
/// host byte order (0100007F is 127.0.0.1 on little-endian hosts).
fn sum_drops(text: &str, addrs: &HashSet<SocketAddrV4>) -> Option<u64> {
    let mut total = None;
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let (Some(local), Some(drops)) = (fields.get(1), fields.last()) else {
            continue;
        };
        let Some((ip, port)) = local.split_once(':') else {
            continue;
        };
        let (Ok(port), Ok(ip)) = (u16::from_str_radix(port, 16), u32::from_str_radix(ip, 16))
        else {
            continue;
        };
        let ip = Ipv4Addr::from(ip.to_ne_bytes());
        if addrs.contains(&SocketAddrV4::new(ip, port)) {
            let n: u64 = drops.parse().unwrap_or(0);
            total = Some(total.unwrap_or(0u64).saturating_add(n));
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_name() {
        let line = "1234 (rtp (engine) x) S 1 2 3 4 5 6 7 8 9 10 250 31 0 0 20 0 5 0";
        assert_eq!(parse_stat_ticks(line), Some(281));
        assert_eq!(parse_stat_ticks("1234 (x) S 1 2"), None);
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn own_cpu_time_reads() {
        // Burn CPU until at least one clock tick is counted (10 ms on most kernels); on a box
        // busy with other work that takes more wall time, so wait up to 5 s of it.
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while cpu_time("self").unwrap() == Duration::ZERO
            && start.elapsed() < Duration::from_secs(5)
        {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        assert!(cpu_time("self").unwrap() > Duration::ZERO);
        assert!(cpu_time("0").is_err());
    }

    #[test]
    fn drops_parse() {
        let lo = format!("{:08X}", u32::from_ne_bytes([127, 0, 0, 1]));
        let text = format!(
            "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
             1: {lo}:4E20 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 5\n\
             2: {lo}:4E22 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 7\n\
             3: 00000000:4E20 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 100\n\
             junk\n"
        );
        let at = |port| SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
        let ports: HashSet<SocketAddrV4> = [at(0x4E20)].into_iter().collect();
        assert_eq!(sum_drops(&text, &ports), Some(5));
        let both: HashSet<SocketAddrV4> = [at(0x4E20), at(0x4E22)].into_iter().collect();
        assert_eq!(sum_drops(&text, &both), Some(12));
        let wildcard = [SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0x4E20)];
        assert_eq!(sum_drops(&text, &wildcard.into_iter().collect()), Some(100));
        let absent = [SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 0x4E20)];
        assert_eq!(sum_drops(&text, &absent.into_iter().collect()), None);
        assert!(udp_drops(&ports).is_ok());
    }
}
