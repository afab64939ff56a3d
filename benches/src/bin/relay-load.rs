//! `relay-load`: end-to-end RTP relay throughput through rtpengine's ng protocol.
//!
//! Sets calls up with ng offer/answer, sends RTP through the relay in both directions from
//! loopback endpoints (or endpoints on `--local`, to a relay in `--relay-net`), reports
//! sent/received/loss/rate per step, searches for the highest rate with loss under a
//! threshold, and deletes every call; `--idle-calls` and `hold` add calls nobody sends on.
//! See `relay-load --help`.
#![forbid(unsafe_code)]

use anyhow::{bail, Context, Result};
use benches::calls::{self, Call, CallIds};
use benches::cli::{self, Args, Command};
use benches::idle::IdleCalls;
use benches::ngclient::NgClient;
use benches::report;
use benches::runner::{RunConfig, Runner, StepReport};
use benches::search::{self, SearchOutcome};
use std::io::Write;
use std::time::{Duration, Instant};

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", cli::USAGE);
        return;
    }
    let args = match cli::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("relay-load: {e}\n\n{}", cli::USAGE);
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("relay-load: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<()> {
    if args.command == Command::Ping {
        return ping(args);
    }
    benches::sys::raise_nofile_limit().context("raising the open-file limit")?;
    let (idle, held) = set_up_idle(args);
    let result = held.and_then(|()| match args.command {
        Command::Hold => wait_for_stdin_eof(),
        _ => busy(args),
    });
    if let Some(idle) = idle {
        delete_idle(idle);
    }
    result
}

/// Sets up `--idle-calls` calls (if any); returns them, to be deleted, even when the set-up
/// failed part way.
fn set_up_idle(args: &Args) -> (Option<IdleCalls>, Result<()>) {
    let (Some(addr), n) = (args.ng, args.idle_calls) else {
        return (None, Ok(()));
    };
    if n == 0 {
        return (None, Ok(()));
    }
    let (idle, result) = IdleCalls::set_up(addr, args.scope, n, args.ng_timeout, args.ng_attempts);
    let result = match result {
        Ok(took) => {
            println!(
                "HELD {n} idle calls (set up in {} ms, {:.0} calls/s)",
                took.as_millis(),
                f64::from(n) / took.as_secs_f64().max(1e-9)
            );
            let _ = std::io::stdout().flush();
            Ok(())
        }
        Err(e) => {
            Err(e).with_context(|| format!("setting up {n} idle calls ({} offered)", idle.len()))
        }
    };
    (Some(idle), result)
}

/// Deletes the idle calls and says how it went.
fn delete_idle(idle: IdleCalls) {
    let n = idle.len();
    match idle.delete() {
        Ok(p) => {
            println!(
                "deleted {} of {n} idle calls in {} ms",
                p.ok,
                p.took.as_millis()
            );
            if let Some((i, e)) = p.failed.first() {
                eprintln!(
                    "relay-load: {} idle deletes failed, first idle call {i}: {e}",
                    p.failed.len()
                );
            }
        }
        Err(e) => eprintln!("relay-load: deleting the idle calls: {e}"),
    }
}

/// Blocks until standard input reaches its end (the caller closed it, or exited).
fn wait_for_stdin_eof() -> Result<()> {
    let mut sink = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink).context("reading stdin")?;
    Ok(())
}

/// The busy calls' steps.
fn busy(args: &Args) -> Result<()> {
    let mut ng = match args.ng {
        Some(addr) => Some(NgClient::connect(
            addr,
            args.scope,
            args.ng_timeout,
            args.ng_attempts,
        )?),
        None => None,
    };
    drive(args, ng.as_mut())
}

/// Every step gets calls of its own: set up before it, deleted after it. A relay that
/// degraded a stream under overload in one step then cannot drag the next one down, and each
/// step sees exactly the ng traffic of a fresh set of calls.
fn one_step(args: &Args, ng: Option<&mut NgClient>, step: u32, rate: u64) -> Result<StepReport> {
    let started = Instant::now();
    let mut ng = ng;
    let (calls, ids, setup) = set_up(ng.as_deref_mut(), args);
    let setup_ms = started.elapsed().as_millis();
    let result = setup.and_then(|()| {
        let mut runner = Runner::new(calls, args.threads, args.ng.is_some(), run_config(args))
            .context("creating the traffic engines")?;
        Ok(runner.step(step, rate)?)
    });
    if let Some(ng) = ng {
        let failures = calls::delete_all(ng, &ids);
        if let Some((id, e)) = failures.first() {
            eprintln!(
                "relay-load: step {step}: {} of {} deletes failed, first {id}: {e}",
                failures.len(),
                ids.len()
            );
        }
    }
    if step == 1 {
        println!("(call setup for step 1: {setup_ms} ms)");
    }
    result
}

/// Sets up every call; on failure returns the calls set up so far (to be deleted) and the error.
fn set_up(ng: Option<&mut NgClient>, args: &Args) -> (Vec<Call>, Vec<CallIds>, Result<()>) {
    let mut calls = Vec::with_capacity(args.calls as usize);
    let mut ids = Vec::new();
    let mut ng = ng;
    for i in 0..args.calls {
        let call = match ng.as_deref_mut() {
            Some(ng) => calls::establish_relayed(ng, i, args.buffers, args.scope),
            None => calls::establish_direct(i, args.buffers, args.scope.local),
        };
        match call {
            Ok(c) => {
                ids.extend(c.ids.clone());
                calls.push(c);
            }
            Err(e) => {
                if ng.is_some() {
                    // The failed call may exist on the relay after its offer: delete it too.
                    ids.push(calls::call_ids(i));
                }
                return (calls, ids, Err(e).context("setting up calls"));
            }
        }
    }
    (calls, ids, Ok(()))
}

fn run_config(args: &Args) -> RunConfig {
    RunConfig {
        packet_len: args.size,
        burst: args.burst,
        gso: args.gso,
        warmup: args.warmup,
        measure: args.duration,
        drain: args.drain,
        relay_pid: args.relay_pid,
    }
}

fn drive(args: &Args, mut ng: Option<&mut NgClient>) -> Result<()> {
    let mode = if args.ng.is_some() { "relay" } else { "direct" };
    println!(
        "{}: mode {mode}, {} calls, {} streams, {}-byte RTP, warm-up {:.1}s + measure {:.1}s + drain {} ms per step, {} thread(s), burst {}{}{}, fresh calls every step",
        args.label,
        args.calls,
        u64::from(args.calls) * 2,
        args.size,
        args.warmup.as_secs_f64(),
        args.duration.as_secs_f64(),
        args.drain.as_millis(),
        args.threads,
        args.burst,
        if args.gso { " (UDP GSO)" } else { " (sendmmsg)" },
        args.relay_pid
            .map_or_else(String::new, |p| format!(", relay pid {p}"))
    );
    println!("{}\n{}", report::LEGEND, report::step_header());
    let mut step = 0u32;
    let outcome = match (args.command, args.rate) {
        (Command::Run, Some(rate)) => {
            let r = one_step(args, ng.as_deref_mut(), 1, rate)?;
            let v = search::verdict(&args.search, &search::Measured::probe(&r));
            print_row(&report::step_row(&r, Some(v)));
            println!("{}", report::step_line(&r));
            SearchOutcome {
                best: (v == search::Verdict::Pass).then_some(0),
                tool_limited: v == search::Verdict::ToolLimited,
                reached_max: false,
                steps: vec![(v, r)],
            }
        }
        (Command::Search, _) => search::search(
            &args.search,
            |rate| {
                step += 1;
                one_step(args, ng.as_deref_mut(), step, rate)
            },
            |v, r| {
                print_row(&report::step_row(r, Some(v)));
                println!("{}", report::step_line(r));
            },
        )?,
        _ => bail!("nothing to do"),
    };
    print!("{}", report::summary(&args.label, mode, &outcome));
    Ok(())
}

fn print_row(row: &str) {
    println!("{row}");
    let _ = std::io::stdout().flush();
}

fn ping(args: &Args) -> Result<()> {
    let Some(addr) = args.ng else {
        bail!("ping needs --ng");
    };
    let deadline = Instant::now() + args.wait;
    let mut ng = NgClient::connect(addr, args.scope, Duration::from_millis(200), 1)?;
    // Bounded by the deadline: each attempt takes at least its 200 ms timeout or a pause.
    loop {
        match ng.ping() {
            Ok(()) => {
                println!("ng at {addr} answers ping");
                return Ok(());
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| format!("no ping answer from {addr}"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}
