//! Kamailio in front of the relay: the template `kamailio/kamailio.cfg`, rendered per run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::ports::port_is_free;
use crate::process::{wait_for, Process};

/// The config template (placeholders `@@NAME@@`).
pub const TEMPLATE: &str = include_str!("../kamailio/kamailio.cfg");

/// Flags Kamailio passes to `rtpengine_offer`: the ordinary anchoring flags, and the caller
/// on the `external` interface, the callee on `internal` (first and second `direction=`).
pub const OFFER_FLAGS: &str =
    "replace-origin replace-session-connection ICE=remove direction=external direction=internal";
/// Flags Kamailio passes to `rtpengine_answer` (the interfaces are known from the offer).
pub const ANSWER_FLAGS: &str = "replace-origin replace-session-connection ICE=remove";

/// The values a rendered config needs.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Kamailio's module directory.
    pub modules: PathBuf,
    /// UDP port Kamailio listens on (127.0.0.1).
    pub sip_port: u16,
    /// UDP port of the UAS that every call goes to (127.0.0.1).
    pub uas_port: u16,
    /// The relay's ng address.
    pub ng: SocketAddr,
    /// Flags for `rtpengine_offer`.
    pub offer_flags: String,
    /// Flags for `rtpengine_answer`.
    pub answer_flags: String,
}

impl ProxyConfig {
    /// The template with every placeholder replaced; an error if any is left or a value
    /// would break out of its quoted string.
    pub fn render(&self, template: &str) -> Result<String> {
        let modules = self.modules.to_string_lossy().into_owned();
        let values = [
            ("@@MPATH@@", modules),
            ("@@SIP_PORT@@", self.sip_port.to_string()),
            ("@@UAS_PORT@@", self.uas_port.to_string()),
            ("@@NG_SOCK@@", format!("udp:{}", self.ng)),
            ("@@OFFER_FLAGS@@", self.offer_flags.clone()),
            ("@@ANSWER_FLAGS@@", self.answer_flags.clone()),
        ];
        let mut text = template.to_owned();
        for (key, value) in &values {
            if value.contains(['"', '\n', '\\']) {
                return Err(Error::Render {
                    file: "kamailio.cfg".into(),
                    reason: format!(
                        "the value for {key} may not contain quotes, backslashes or newlines: \
                         {value:?}"
                    ),
                });
            }
            text = text.replace(key, value);
        }
        if let Some(at) = text.find("@@") {
            let rest: String = text.chars().skip(at).take(30).collect();
            return Err(Error::Render {
                file: "kamailio.cfg".into(),
                reason: format!("placeholder left unrendered: {rest:?}"),
            });
        }
        Ok(text)
    }
}

/// A running Kamailio.
#[derive(Debug)]
pub struct Proxy {
    process: Process,
}

impl Proxy {
    /// Renders the config into `dir`, starts Kamailio in the foreground (`-DD -E`) with two
    /// workers and small memory pools, and waits at most `limit` until its SIP port is bound.
    pub fn start(kamailio: &Path, cfg: &ProxyConfig, dir: &Path, limit: Duration) -> Result<Proxy> {
        let path = dir.join("kamailio.cfg");
        std::fs::write(&path, cfg.render(TEMPLATE)?)
            .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
        let mut cmd = Command::new(kamailio);
        cmd.current_dir(dir)
            .args(["-DD", "-E", "-m", "64", "-M", "8", "-f"])
            .arg(&path)
            .arg("-P")
            .arg(dir.join("kamailio.pid"))
            .arg("-Y")
            .arg(dir)
            .arg("-w")
            .arg(dir);
        let mut process = Process::spawn("kamailio", cmd, &dir.join("kamailio.log"))?;
        let port = cfg.sip_port;
        wait_for(
            &format!("kamailio to listen on 127.0.0.1:{port}"),
            limit,
            || {
                process.ensure_running()?;
                Ok((!port_is_free(port)).then_some(()))
            },
        )?;
        Ok(Proxy { process })
    }

    /// The process guard.
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    fn cfg() -> ProxyConfig {
        ProxyConfig {
            modules: PathBuf::from("/m"),
            sip_port: 5060,
            uas_port: 5064,
            ng: "127.0.0.1:2223".parse().unwrap(),
            offer_flags: OFFER_FLAGS.to_owned(),
            answer_flags: ANSWER_FLAGS.to_owned(),
        }
    }

    #[test]
    fn renders_every_placeholder() {
        let text = cfg().render(TEMPLATE).unwrap();
        assert!(text.contains("listen=udp:127.0.0.1:5060"));
        assert!(text.contains("\"udp:127.0.0.1:2223\""));
        assert!(text.contains("sip:127.0.0.1:5064"));
        assert!(text.contains(&format!("rtpengine_offer(\"{OFFER_FLAGS}\")")));
        assert!(text.contains(&format!("rtpengine_answer(\"{ANSWER_FLAGS}\")")));
        assert!(text.contains("rtpengine_delete()"));
    }

    #[test]
    fn refuses_leftovers_and_quote_injection() {
        assert!(cfg().render("x @@OTHER@@").is_err());
        let mut bad = cfg();
        bad.offer_flags = "a\") ; exit; (\"".to_owned();
        assert!(bad.render(TEMPLATE).is_err());
    }
}
