//! `ferrovox`: the Ferrovox appliance daemon.
//!
//! ```text
//! ferrovox run --config FILE    run (also: ferrovox --config FILE)
//! ferrovox check-config FILE    validate FILE and exit (0 = valid)
//! ```
//!
//! Exit status: 0 done, 1 failure (the reason on one line), 2 usage.
#![forbid(unsafe_code)]

mod admin;
mod interfaces;
mod journal;
mod logging;
mod metrics;
mod ng;
mod notify;
mod reload;
mod run;
mod service;
mod sip;
mod tune;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Ferrovox: SIP load balancer and RTP media relay.
#[derive(Debug, Parser)]
#[command(name = "ferrovox", version, args_conflicts_with_subcommands = true)]
struct Cli {
    /// Runs the appliance with this config file (the same as `ferrovox run --config FILE`).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the appliance until SIGTERM or SIGINT; SIGHUP re-reads the file and applies what
    /// can change live (what needs a restart is logged as such).
    Run {
        /// The config file.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Checks a config file against the schema and this host, then exits (0: valid).
    CheckConfig {
        /// The config file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

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

/// Reads and checks the config at `path`, against the schema and against this host's CPUs.
fn load(path: &Path) -> anyhow::Result<config::Config> {
    let p = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {p}"))?;
    let cfg = config::parse(&text).map_err(|e| anyhow::anyhow!("{p}: {e}"))?;
    let cpus = host_cpus();
    config::validate_host(&cfg, &config::HostFacts { cpus })
        .map_err(|e| anyhow::anyhow!("{p}: {e}"))?;
    Ok(cfg)
}

fn main() -> ExitCode {
    // Usage errors exit with 2; --help and --version with 0.
    let cli = Cli::parse();
    let result = match (cli.command, cli.config) {
        (Some(Command::Run { config }), _) | (None, Some(config)) => {
            load(&config).and_then(|cfg| run::run(cfg, &config))
        }
        (Some(Command::CheckConfig { file }), _) => {
            load(&file).map(|_| println!("{}: ok", file.display()))
        }
        (None, None) => Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "give a command, or --config FILE to run",
            )
            .exit(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrovox: {e:#}");
            ExitCode::FAILURE
        }
    }
}
