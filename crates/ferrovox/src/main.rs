//! `ferrovox`: the Ferrovox appliance daemon.
//!
//! ```text
//! ferrovox --config FILE        run
//! ferrovox check-config FILE    validate FILE and exit (0 = valid)
//! ```
#![forbid(unsafe_code)]

mod run;
mod sip;

use anyhow::Context;
use std::process::ExitCode;

const USAGE: &str =
    "usage: ferrovox --config FILE | ferrovox check-config FILE | ferrovox --version";

/// CPUs of the host (not of this process's affinity mask: the daemon may be started under
/// `taskset` and pin its threads itself): the highest id in `/sys/devices/system/cpu/online`
/// plus one, else what the scheduler lets this process use.
fn host_cpus() -> usize {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").ok();
    let max = online.as_deref().and_then(|s| {
        s.trim()
            .split(',')
            .filter_map(|r| r.rsplit('-').next()?.trim().parse::<usize>().ok())
            .max()
    });
    max.map(|m| m + 1)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn load(path: &str) -> anyhow::Result<config::Config> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    let cfg = config::parse(&text).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
    let cpus = host_cpus();
    config::validate_host(&cfg, &config::HostFacts { cpus })
        .map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
    Ok(cfg)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--config", path] | ["-c", path] => load(path).and_then(|cfg| run::run(cfg, path)),
        ["check-config", path] => load(path).map(|_| println!("{path}: ok")),
        ["--version"] | ["-V"] => {
            println!("ferrovox {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        ["--help"] | ["-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrovox: {e:#}");
            ExitCode::FAILURE
        }
    }
}
