//! `ferrovoxctl`: the command-line client of the Ferrovox admin socket, in the spirit of
//! `kamcmd` and `rtpengine-ctl`.
//!
//! ```text
//! ferrovoxctl members list                       # a table of every member
//! ferrovoxctl members set-state sip:10.0.0.5 draining
//! ferrovoxctl members add --set pool sip:10.0.0.9:5060 --weight 2
//! ferrovoxctl members remove 7 --force
//! ferrovoxctl health | version | uptime | params | reload | workers
//! ferrovoxctl calls list | show CALL-ID | terminate CALL-ID | terminate --member sip:10.0.0.5
//! ferrovoxctl params set media.max_sessions 0   # drain: no new session
//! ferrovoxctl params diff | revert [KEY]
//! ferrovoxctl top                                # live view, refreshed every second
//! ferrovoxctl --json members list                # the same as JSON, for scripts
//! ferrovoxctl completions bash > /etc/bash_completion.d/ferrovoxctl
//! ```
//!
//! Exit status: 0 done; 1 the daemon answered with an error (printed on stderr with its
//! code); 2 usage error; 3 the daemon cannot be reached (no socket, no permission, no answer
//! in time, connection closed); 4 `reload` applied the file only in part (the keys that need
//! a restart are listed with their reasons).
#![forbid(unsafe_code)]

mod cli;
mod show;
mod show_calls;
mod top;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use admin::{Client, ClientError, ErrorObject};
use clap::{CommandFactory, Parser};
use serde_json::{json, Value};

use cli::{CallCmd, Cli, Command, MemberCmd, ParamCmd};

/// Exit status: the daemon answered with an error.
const EXIT_DAEMON_ERROR: u8 = 1;
/// Exit status: usage error (also what clap exits with).
const EXIT_USAGE: u8 = 2;
/// Exit status: the daemon cannot be reached.
const EXIT_UNREACHABLE: u8 = 3;
/// Exit status: a reload applied the file only in part.
const EXIT_PARTIAL: u8 = 4;

/// Why a command did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The daemon said no.
    Daemon(ErrorObject),
    /// The command line was wrong in a way clap could not see.
    Usage(String),
    /// No answer.
    Unreachable(ClientError),
    /// A reload left keys unapplied (they need a restart); how many.
    Partial(usize),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Unreachable(e)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = &cli.command {
        let mut cmd = Cli::command();
        clap_complete::generate(*shell, &mut cmd, "ferrovoxctl", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Daemon(e)) => {
            eprintln!("ferrovoxctl: error {}: {}", e.code, e.message);
            ExitCode::from(EXIT_DAEMON_ERROR)
        }
        Err(Failure::Usage(m)) => {
            eprintln!("ferrovoxctl: {m}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Unreachable(e)) => {
            eprintln!("ferrovoxctl: {e}");
            ExitCode::from(EXIT_UNREACHABLE)
        }
        Err(Failure::Partial(n)) => {
            eprintln!("ferrovoxctl: {n} change(s) not applied: they need a restart");
            ExitCode::from(EXIT_PARTIAL)
        }
    }
}

/// The socket to talk to: `--socket`, else `[admin] socket` of `--config`, else the default.
fn socket_path(cli: &Cli) -> Result<PathBuf, Failure> {
    if let Some(p) = &cli.socket {
        return Ok(p.clone());
    }
    if let Some(file) = &cli.config {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", file.display())))?;
        let cfg =
            config::parse(&text).map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
        return Ok(admin::socket::find_path(&cfg.admin.socket));
    }
    Ok(PathBuf::from(config::DEFAULT_ADMIN_SOCKET))
}

/// One call; the daemon's error becomes [`Failure::Daemon`].
pub(crate) fn call(client: &mut Client, method: &str, params: Value) -> Result<Value, Failure> {
    client.call(method, params)?.map_err(Failure::Daemon)
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let path = socket_path(cli)?;
    let mut client = Client::connect(&path, Duration::from_secs(cli.timeout))?;
    let c = &mut client;
    let (value, kind) = match &cli.command {
        Command::Version => (call(c, "version", Value::Null)?, show::Kind::Version),
        Command::Uptime => (call(c, "uptime", Value::Null)?, show::Kind::Uptime),
        Command::Health => (call(c, "health", Value::Null)?, show::Kind::Health),
        Command::Params { command } => params(c, command.as_ref())?,
        Command::Calls { command } => calls(c, command)?,
        Command::Workers => (call(c, "workers", Value::Null)?, show::Kind::Workers),
        Command::Top { interval, count } => {
            return top::run(c, Duration::from_secs(*interval), *count)
        }
        Command::Reload => (call(c, "reload", Value::Null)?, show::Kind::Reload),
        Command::Members { command } => members(c, command)?,
        Command::Ha { command } => {
            let method = match command {
                cli::HaCmd::Status => "ha.status",
                cli::HaCmd::Promote => "ha.promote",
                cli::HaCmd::Demote => "ha.demote",
            };
            (call(c, method, Value::Null)?, show::Kind::Ha)
        }
        Command::Completions { .. } => return Ok(()),
    };
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        print!("{}", show::render(kind, &value));
    }
    if let Command::Reload = cli.command {
        let refused = value["changes"]
            .as_array()
            .map_or(0, |c| c.iter().filter(|c| c["applied"] != true).count());
        if refused > 0 {
            return Err(Failure::Partial(refused));
        }
    }
    Ok(())
}

/// The `members` subcommands.
fn members(c: &mut Client, cmd: &MemberCmd) -> Result<(Value, show::Kind), Failure> {
    match cmd {
        MemberCmd::List { set, page_size } => {
            let all = list_all(c, set.as_deref(), *page_size)?;
            Ok((Value::Array(all), show::Kind::Members))
        }
        MemberCmd::SetState { member, state, set } => {
            let mut p = member_params(c, member, set.as_deref())?;
            p["state"] = json!(state);
            Ok((call(c, "members.set_state", p)?, show::Kind::Member))
        }
        MemberCmd::Add {
            uri,
            set,
            weight,
            priority,
            max_calls,
            state,
        } => {
            let mut p = json!({"set": set, "uri": uri});
            let opt = |v: Option<Value>, p: &mut Value, k: &str| {
                if let Some(v) = v {
                    p[k] = v;
                }
            };
            opt(weight.map(|w| json!(w)), &mut p, "weight");
            opt(priority.map(|w| json!(w)), &mut p, "priority");
            opt(max_calls.map(|w| json!(w)), &mut p, "max_calls");
            opt(state.as_ref().map(|s| json!(s)), &mut p, "state");
            Ok((call(c, "members.add", p)?, show::Kind::Member))
        }
        MemberCmd::Remove { member, set, force } => {
            let mut p = member_params(c, member, set.as_deref())?;
            p["force"] = json!(force);
            Ok((call(c, "members.remove", p)?, show::Kind::Removed))
        }
    }
}

/// The `params` subcommands (none: `params.get`).
fn params(c: &mut Client, cmd: Option<&ParamCmd>) -> Result<(Value, show::Kind), Failure> {
    match cmd {
        None => Ok((call(c, "params.get", Value::Null)?, show::Kind::Params)),
        Some(ParamCmd::Set { key, value }) => {
            // A number is sent as one; anything else as a string.
            let v = value
                .parse::<u64>()
                .map_or_else(|_| json!(value), |n| json!(n));
            let p = json!({"key": key, "value": v});
            Ok((call(c, "params.set", p)?, show::Kind::ParamSet))
        }
        Some(ParamCmd::Diff) => Ok((call(c, "params.diff", Value::Null)?, show::Kind::ParamDiff)),
        Some(ParamCmd::Revert { key }) => {
            let p = key.as_ref().map_or(json!({}), |k| json!({ "key": k }));
            Ok((call(c, "params.revert", p)?, show::Kind::ParamDiff))
        }
    }
}

/// The `calls` subcommands.
fn calls(c: &mut Client, cmd: &CallCmd) -> Result<(Value, show::Kind), Failure> {
    match cmd {
        CallCmd::List { page_size } => {
            let all = pages(c, "calls.list", json!({}), *page_size)?;
            Ok((Value::Array(all), show::Kind::Calls))
        }
        CallCmd::Show { call_id } => {
            let v = call(c, "calls.show", json!({ "call_id": call_id }))?;
            Ok((v, show::Kind::Call))
        }
        CallCmd::Terminate {
            call_id,
            member,
            set,
            reason,
        } => {
            let mut p = match (call_id, member) {
                (Some(id), _) => json!({ "call_id": id }),
                (None, Some(m)) => {
                    let named = member_params(c, m, set.as_deref())?;
                    match named.get("id") {
                        Some(id) => json!({ "member": id }),
                        None => named,
                    }
                }
                (None, None) => return Err(Failure::Usage("give a Call-ID or --member".into())),
            };
            if let Some(r) = reason {
                p["reason"] = json!(r);
            }
            Ok((call(c, "calls.terminate", p)?, show::Kind::Terminated))
        }
    }
}

/// Every item of a paged list, following the cursor page by page.
fn pages(c: &mut Client, method: &str, base: Value, page: u32) -> Result<Vec<Value>, Failure> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut p = base.clone();
        p["limit"] = json!(page);
        if let Some(cur) = &cursor {
            p["cursor"] = json!(cur);
        }
        let v = call(c, method, p)?;
        if let Some(list) = v["items"].as_array() {
            items.extend(list.iter().cloned());
        }
        match v["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(items),
        }
    }
}

/// Every member (of `set`), following the cursor page by page.
pub(crate) fn list_all(
    c: &mut Client,
    set: Option<&str>,
    page: u32,
) -> Result<Vec<Value>, Failure> {
    let base = set.map_or(json!({}), |s| json!({ "set": s }));
    pages(c, "members.list", base, page)
}

/// The params that name `member`: a number is an id; a URI goes with `--set`, or without it
/// is looked up among every set's members and must name exactly one.
fn member_params(c: &mut Client, member: &str, set: Option<&str>) -> Result<Value, Failure> {
    if let Ok(id) = member.parse::<u32>() {
        if set.is_some() {
            return Err(Failure::Usage(
                "--set goes with a URI, not with an id".into(),
            ));
        }
        return Ok(json!({ "id": id }));
    }
    if let Some(s) = set {
        return Ok(json!({"set": s, "uri": member}));
    }
    let found: Vec<Value> = list_all(c, None, admin::method::MAX_PAGE)?
        .into_iter()
        .filter(|m| m["uri"].as_str() == Some(member))
        .collect();
    match found.as_slice() {
        [one] => Ok(json!({ "id": one["id"] })),
        [] => Err(Failure::Daemon(ErrorObject::new(
            admin::ErrorCode::NotFound,
            format!("no member {member}"),
        ))),
        many => Err(Failure::Usage(format!(
            "{member} is a member of {} sets; say which with --set",
            many.len()
        ))),
    }
}
