//! Command line of `relay-load`.

use crate::rtp;
use crate::scope::{Ipv4Net, Scope};
use crate::search::SearchConfig;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use thiserror::Error;

/// Usage text.
pub const USAGE: &str = "\
relay-load: RTP relay throughput through rtpengine's ng protocol, on loopback unless told

USAGE:
  relay-load ping    --ng ADDR [--wait SECS]
  relay-load run     (--ng ADDR | --direct) --rate PPS [OPTIONS]
  relay-load search  (--ng ADDR | --direct) [OPTIONS] [SEARCH OPTIONS]
  relay-load ceiling [OPTIONS] [SEARCH OPTIONS]     (= search --direct: the tool's own ceiling)
  relay-load hold    --ng ADDR --idle-calls N [--local IP --relay-net CIDR]
                     (sets up N idle calls, prints HELD, deletes them when stdin closes)

TARGET:
  --ng ADDR          ng control address of the relay (in --relay-net), e.g. 127.0.0.1:2223
  --direct           no relay: each call's two endpoints send to each other
  --local IP         address the tool's endpoints bind to and its SDP names [127.0.0.1]
  --relay-net CIDR   relay addresses accepted (ng, rewritten SDP), /8 at the widest
                                                                  [127.0.0.0/8]

OPTIONS:
  --calls N          calls (2 streams each)                       [100]
  --idle-calls N     also hold N calls nobody sends on (no socket each), set up
                     before the first step and deleted after the last  [0]
  --threads N        traffic threads                              [1]
  --size BYTES       RTP packet size incl. 12-byte header         [172]
  --burst N          packets per send to one stream, max 64       [4]
  --gso on|off       send each burst as one UDP GSO send          [on]
  --warmup SECS      per step, sent but not counted               [1]
  --duration SECS    measured window per step                     [3]
  --drain MS         receive-only time after each step            [300]
  --buffers BYTES    endpoint socket buffer size                  [4194304]
  --relay-pid PID    charge this process's CPU time to the relay
  --label TEXT       name printed with the results                [relay]
  --ng-timeout MS    per ng request attempt                       [1000]
  --ng-attempts N    sends per ng request                         [3]

SEARCH OPTIONS:
  --start PPS        first rate                                   [20000]
  --max PPS          highest rate                                 [5000000]
  --min PPS          lowest rate                                  [1000]
  --loss PCT         a step passes with loss below this           [0.1]
  --precision F      stop bisecting at this ratio - 1             [0.05]
  --max-steps N      at most this many steps                      [16]

Rates are aggregate packets per second over every stream of every call.";

/// Why the command line is not usable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ArgError {
    /// No command or an unknown one.
    #[error("unknown or missing command {0:?} (ping, run, search, ceiling, hold)")]
    Command(String),
    /// An option this command does not know.
    #[error("unknown option {0:?}")]
    Unknown(String),
    /// An option without its value.
    #[error("option {0} needs a value")]
    MissingValue(String),
    /// A value that does not parse or is out of range.
    #[error("option {option}: {reason}")]
    BadValue {
        /// The option.
        option: String,
        /// What is wrong.
        reason: String,
    },
    /// A required option is absent, or two exclude each other.
    #[error("{0}")]
    Usage(String),
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Wait until the ng server answers `ping`.
    Ping,
    /// One step at a fixed rate.
    Run,
    /// Search for the highest passing rate.
    Search,
    /// Hold idle calls until standard input closes.
    Hold,
}

/// The parsed command line.
#[derive(Debug, Clone)]
pub struct Args {
    /// The command.
    pub command: Command,
    /// ng address; `None` means direct endpoint-to-endpoint traffic.
    pub ng: Option<SocketAddr>,
    /// The tool's address and the relay network.
    pub scope: Scope,
    /// How long `ping` keeps trying.
    pub wait: Duration,
    /// Number of calls.
    pub calls: u32,
    /// Idle calls held beside them.
    pub idle_calls: u32,
    /// Traffic threads.
    pub threads: usize,
    /// Packet size.
    pub size: usize,
    /// Burst per stream.
    pub burst: usize,
    /// UDP GSO sends.
    pub gso: bool,
    /// Warm-up per step.
    pub warmup: Duration,
    /// Measured window per step.
    pub duration: Duration,
    /// Drain per step.
    pub drain: Duration,
    /// Endpoint socket buffers.
    pub buffers: usize,
    /// Relay process id.
    pub relay_pid: Option<u32>,
    /// Label in the output.
    pub label: String,
    /// ng request timeout per attempt.
    pub ng_timeout: Duration,
    /// ng sends per request.
    pub ng_attempts: u32,
    /// Rate for `run`.
    pub rate: Option<u64>,
    /// Search parameters.
    pub search: SearchConfig,
}

fn num<T>(opt: &str, v: &str, lo: T, hi: T) -> Result<T, ArgError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let bad = |reason: String| ArgError::BadValue {
        option: opt.to_owned(),
        reason,
    };
    let n: T = v
        .parse()
        .map_err(|_| bad(format!("{v:?} is not a number")))?;
    if n < lo || n > hi {
        return Err(bad(format!("{v} is outside {lo}..={hi}")));
    }
    Ok(n)
}

fn secs(opt: &str, v: &str, lo: f64, hi: f64) -> Result<Duration, ArgError> {
    let s: f64 = num(opt, v, lo, hi)?;
    Ok(Duration::from_secs_f64(s))
}

/// Parses the arguments after the program name.
pub fn parse(argv: &[String]) -> Result<Args, ArgError> {
    let mut it = argv.iter();
    let (command, mut direct) = match it.next().map(String::as_str) {
        Some("ping") => (Command::Ping, false),
        Some("run") => (Command::Run, false),
        Some("search") => (Command::Search, false),
        Some("ceiling") => (Command::Search, true),
        Some("hold") => (Command::Hold, false),
        other => return Err(ArgError::Command(other.unwrap_or("").to_owned())),
    };
    let mut a = Args::defaults(command, direct);
    while let Some(opt) = it.next() {
        if opt == "--direct" {
            direct = true;
            continue;
        }
        if !opt.starts_with("--") {
            return Err(ArgError::Unknown(opt.clone()));
        }
        let v = it
            .next()
            .ok_or_else(|| ArgError::MissingValue(opt.clone()))?;
        a.set(opt, v)?;
    }
    a.check(direct)?;
    Ok(a)
}

impl Args {
    /// Every option at its default.
    fn defaults(command: Command, direct: bool) -> Self {
        Args {
            command,
            ng: None,
            scope: Scope::default(),
            wait: Duration::from_secs(10),
            calls: 100,
            idle_calls: 0,
            threads: 1,
            size: rtp::G711_20MS_PACKET,
            burst: 4,
            gso: true,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(3),
            drain: Duration::from_millis(300),
            buffers: 4 << 20,
            relay_pid: None,
            label: if direct { "load-tool" } else { "relay" }.to_owned(),
            ng_timeout: Duration::from_millis(1000),
            ng_attempts: 3,
            rate: None,
            search: SearchConfig::default(),
        }
    }

    /// Option `o` set to `v`.
    fn set(&mut self, o: &str, v: &str) -> Result<(), ArgError> {
        match o {
            "--ng" => {
                let addr: SocketAddr = v.parse().map_err(|_| ArgError::BadValue {
                    option: o.to_owned(),
                    reason: format!("{v:?} is not IP:PORT"),
                })?;
                self.ng = Some(addr);
            }
            "--local" => {
                self.scope.local = v.parse::<Ipv4Addr>().map_err(|_| ArgError::BadValue {
                    option: o.to_owned(),
                    reason: format!("{v:?} is not an IPv4 address"),
                })?;
            }
            "--relay-net" => {
                self.scope.relay_net = v.parse::<Ipv4Net>().map_err(|e| ArgError::BadValue {
                    option: o.to_owned(),
                    reason: e.to_string(),
                })?;
            }
            "--wait" => self.wait = secs(o, v, 0.0, 600.0)?,
            "--calls" => self.calls = num(o, v, 1, 20_000)?,
            "--idle-calls" => self.idle_calls = num(o, v, 0, 1_000_000)?,
            "--threads" => self.threads = num(o, v, 1, 64)?,
            "--size" => self.size = num(o, v, rtp::MIN_PACKET, 1400)?,
            "--burst" => self.burst = num(o, v, 1, crate::sys::MAX_BATCH)?,
            "--gso" => {
                self.gso = match v {
                    "on" => true,
                    "off" => false,
                    _ => {
                        return Err(ArgError::BadValue {
                            option: o.to_owned(),
                            reason: format!("{v:?} is not on or off"),
                        })
                    }
                }
            }
            "--warmup" => self.warmup = secs(o, v, 0.0, 60.0)?,
            "--duration" => self.duration = secs(o, v, 0.1, 600.0)?,
            "--drain" => self.drain = Duration::from_millis(num(o, v, 0, 10_000)?),
            "--buffers" => self.buffers = num(o, v, 4096, 256 << 20)?,
            "--relay-pid" => self.relay_pid = Some(num(o, v, 1, u32::MAX)?),
            "--label" => v.clone_into(&mut self.label),
            "--ng-timeout" => self.ng_timeout = Duration::from_millis(num(o, v, 1, 60_000)?),
            "--ng-attempts" => self.ng_attempts = num(o, v, 1, 20)?,
            "--rate" => self.rate = Some(num(o, v, 1, 50_000_000)?),
            "--start" => self.search.start_pps = num(o, v, 1, 50_000_000)?,
            "--max" => self.search.max_pps = num(o, v, 1, 50_000_000)?,
            "--min" => self.search.min_pps = num(o, v, 1, 50_000_000)?,
            "--loss" => self.search.max_loss_pct = num(o, v, 0.0, 100.0)?,
            "--precision" => self.search.precision = num(o, v, 0.001, 1.0)?,
            "--max-steps" => self.search.max_steps = num(o, v, 1, 100)?,
            _ => return Err(ArgError::Unknown(o.to_owned())),
        }
        Ok(())
    }

    /// The options against each other and the command.
    fn check(&self, direct: bool) -> Result<(), ArgError> {
        if let Some(addr) = self.ng.filter(|addr| !self.scope.accepts(*addr)) {
            return Err(ArgError::BadValue {
                option: "--ng".to_owned(),
                reason: format!(
                    "{addr} is outside the relay network {}",
                    self.scope.relay_net
                ),
            });
        }
        if self.search.min_pps > self.search.max_pps {
            return Err(ArgError::Usage("--min is above --max".to_owned()));
        }
        match (self.command, direct, self.ng.is_some()) {
            (Command::Ping, true, _) => {
                return Err(ArgError::Usage("ping needs --ng, not --direct".to_owned()))
            }
            (_, true, true) => {
                return Err(ArgError::Usage(
                    "--ng and --direct exclude each other".to_owned(),
                ))
            }
            (_, false, false) => {
                return Err(ArgError::Usage(
                    "--ng ADDR or --direct is required".to_owned(),
                ))
            }
            _ => {}
        }
        if self.idle_calls > 0 && self.ng.is_none() {
            return Err(ArgError::Usage("--idle-calls needs --ng".to_owned()));
        }
        if self.command == Command::Hold && self.idle_calls == 0 {
            return Err(ArgError::Usage("hold needs --idle-calls N".to_owned()));
        }
        if self.command == Command::Run && self.rate.is_none() {
            return Err(ArgError::Usage("run needs --rate PPS".to_owned()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_search() {
        let a = parse(&args(
            "search --ng 127.0.0.1:2223 --calls 50 --duration 2.5 --relay-pid 42 --loss 0.5",
        ))
        .unwrap();
        assert_eq!(a.command, Command::Search);
        assert_eq!(a.ng, Some("127.0.0.1:2223".parse().unwrap()));
        assert_eq!(a.calls, 50);
        assert_eq!(a.duration, Duration::from_millis(2500));
        assert_eq!(a.relay_pid, Some(42));
        assert_eq!(a.search.max_loss_pct, 0.5);
    }

    #[test]
    fn local_and_relay_net() {
        let a = parse(&args(
            "run --ng 10.77.0.1:2223 --rate 10 --local 10.77.0.2 --relay-net 10.77.0.0/24",
        ))
        .unwrap();
        assert_eq!(a.scope.local, Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(a.scope.relay_net.to_string(), "10.77.0.0/24");
        assert_eq!(a.ng, Some("10.77.0.1:2223".parse().unwrap()));
        let d = parse(&args("run --ng 127.0.0.1:2223 --rate 10")).unwrap();
        assert_eq!(d.scope, Scope::default());
        assert_eq!(d.idle_calls, 0);
        let h = parse(&args("hold --ng 127.0.0.1:2223 --idle-calls 100000")).unwrap();
        assert_eq!((h.command, h.idle_calls), (Command::Hold, 100_000));
    }

    #[test]
    fn ceiling_is_direct_search() {
        let a = parse(&args("ceiling --calls 10")).unwrap();
        assert_eq!(a.command, Command::Search);
        assert!(a.ng.is_none());
        assert_eq!(a.label, "load-tool");
    }

    #[test]
    fn rejects() {
        let bad = [
            "",
            "fly",
            "run --ng 127.0.0.1:1",
            "search",
            "search --ng 10.0.0.1:2223",
            "search --ng 10.0.0.1:2223 --relay-net 10.1.0.0/16",
            "search --ng [::1]:2223",
            "search --ng 10.0.0.1:2223 --relay-net 0.0.0.0/0",
            "search --ng 10.0.0.1:2223 --relay-net 10.0.0.1/24",
            "search --direct --local ::1",
            "search --direct --local here",
            "search --ng nowhere",
            "search --direct --ng 127.0.0.1:1",
            "ping --direct",
            "search --direct --calls 0",
            "search --direct --calls",
            "search --direct --size 20",
            "search --direct --bogus 1",
            "search --direct stray",
            "search --direct --min 10 --max 5",
            "search --direct --gso maybe",
            "search --direct --idle-calls 5",
            "hold --ng 127.0.0.1:1",
            "hold --direct --idle-calls 5",
            "run --ng 127.0.0.1:1 --rate 1 --idle-calls 1000001",
        ];
        for b in bad {
            assert!(parse(&args(b)).is_err(), "accepted {b:?}");
        }
    }
}
