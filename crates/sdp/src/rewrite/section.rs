//! Rewriting of one media section (an m-line and the lines up to the next one).

use std::net::IpAddr;

use super::out::{push_display, Out};
use super::{connection_line, MediaRewrite, MuxRewrite, RtcpRewrite};
use crate::fields::{self, AttrKind};
use crate::lines::{split_attr, Line};
use crate::model::MediaDescription;
use crate::SdpError;

/// State of the media section being rewritten.
pub(super) struct Section<'r, 'a> {
    md: &'r MediaDescription<'a>,
    plan: &'r MediaRewrite,
    strip_ice: bool,
    /// The "rtcp slot" (where `a=rtcp` is written or inserted, followed by an added
    /// `a=rtcp-mux`) has been filled.
    slot_done: bool,
    /// The section's first `a=rtcp` line has gone by.
    seen_rtcp: bool,
    /// The new direction attribute has been written.
    dir_done: bool,
    /// End-of-section insertions are done.
    finished: bool,
}

impl<'r, 'a> Section<'r, 'a> {
    /// A section described by `md`, to be changed as `plan` says.
    pub fn new(md: &'r MediaDescription<'a>, plan: &'r MediaRewrite, strip_ice: bool) -> Self {
        Section {
            md,
            plan,
            strip_ice,
            slot_done: false,
            seen_rtcp: false,
            dir_done: false,
            finished: false,
        }
    }

    /// A disabled stream (port 0) is answered with port 0 and left alone (RFC 3264 §6, §8.2).
    fn enabled(&self) -> bool {
        self.md.port != 0
    }

    /// Writes the m-line with the new port (its `/count`, proto and formats kept).
    pub fn m_line<'b>(
        &self,
        out: &mut Out<'b>,
        line: &Line<'b>,
        value: &'b [u8],
    ) -> Result<(), SdpError> {
        if !self.enabled() {
            out.raw(line);
            return Ok(());
        }
        let (_, port) = fields::media(value, line.num)?;
        let buf = out.start();
        buf.extend_from_slice(b"m=");
        buf.extend_from_slice(value.get(..port.start).unwrap_or_default());
        push_display(buf, self.plan.port);
        buf.extend_from_slice(value.get(port.end..).unwrap_or_default());
        out.end(line.eol);
        Ok(())
    }

    /// A line of the section other than the m-line.
    pub fn line<'b>(
        &mut self,
        out: &mut Out<'b>,
        line: &Line<'b>,
        ty: u8,
        value: &'b [u8],
    ) -> Result<(), SdpError> {
        if !self.enabled() {
            out.raw(line);
            return Ok(());
        }
        match ty {
            b'c' => connection_line(out, line, value, self.plan.addr)?,
            b'a' => self.attribute(out, line, value),
            _ => out.raw(line),
        }
        Ok(())
    }

    fn attribute<'b>(&mut self, out: &mut Out<'b>, line: &Line<'b>, value: &'b [u8]) {
        // Without an a=rtcp line of its own, the slot is before the first a= line.
        if self.md.rtcp.is_none() {
            self.fill_slot(out);
        }
        match fields::classify(split_attr(value).0) {
            AttrKind::Rtcp if !self.seen_rtcp => {
                self.seen_rtcp = true;
                match self.plan.rtcp {
                    RtcpRewrite::Keep => out.raw(line),
                    RtcpRewrite::Remove => {}
                    RtcpRewrite::Port(port) => {
                        let addr = self.md.rtcp.and_then(|r| r.addr).map(|_| self.plan.addr);
                        write_rtcp(out, port, addr);
                        out.end(line.eol);
                    }
                }
                self.fill_slot(out);
            }
            // RFC 3605 allows one a=rtcp per section: drop repeats unless keeping.
            AttrKind::Rtcp => {
                if self.plan.rtcp == RtcpRewrite::Keep {
                    out.raw(line);
                }
            }
            AttrKind::RtcpMux => {
                if self.plan.rtcp_mux != MuxRewrite::Remove {
                    out.raw(line);
                }
            }
            AttrKind::Direction(_) => match self.plan.direction {
                None => out.raw(line),
                Some(dir) => {
                    // RFC 3264 §5.1: one direction attribute; replace the first, drop repeats.
                    if !self.dir_done {
                        self.dir_done = true;
                        let buf = out.start();
                        buf.extend_from_slice(b"a=");
                        buf.extend_from_slice(dir.as_str().as_bytes());
                        out.end(line.eol);
                    }
                }
            },
            AttrKind::Ice if self.strip_ice => {}
            _ => out.raw(line),
        }
    }

    /// Writes what goes into the rtcp slot: an inserted `a=rtcp` (when the section has none)
    /// and an added `a=rtcp-mux` (when absent).
    fn fill_slot(&mut self, out: &mut Out<'_>) {
        if self.slot_done {
            return;
        }
        self.slot_done = true;
        if let (None, RtcpRewrite::Port(port)) = (self.md.rtcp, self.plan.rtcp) {
            write_rtcp(out, port, None);
            out.end(&[]);
        }
        if self.plan.rtcp_mux == MuxRewrite::Add && !self.md.rtcp_mux {
            out.insert(&[b"a=rtcp-mux"]);
        }
    }

    /// End of the section: whatever was not placed yet goes here.
    pub fn finish(&mut self, out: &mut Out<'_>) {
        if self.finished || !self.enabled() {
            return;
        }
        self.finished = true;
        self.fill_slot(out);
        if let (Some(dir), false) = (self.plan.direction, self.dir_done) {
            self.dir_done = true;
            out.insert(&[b"a=", dir.as_str().as_bytes()]);
        }
    }
}

/// Starts an `a=rtcp:PORT [IN IP4|IP6 addr]` line (RFC 3605 §2.1); the caller ends it.
fn write_rtcp(out: &mut Out<'_>, port: u16, addr: Option<IpAddr>) {
    let buf = out.start();
    buf.extend_from_slice(b"a=rtcp:");
    push_display(&mut *buf, port);
    if let Some(addr) = addr {
        buf.extend_from_slice(b" IN ");
        buf.extend_from_slice(fields::addrtype(addr).as_bytes());
        buf.push(b' ');
        push_display(buf, addr);
    }
}
