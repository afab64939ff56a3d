//! A reload's `[[interface]]` entries applied to the running engine ([`crate::relays`] plans
//! them): new relay addresses join the layout (the workers get it first, by command), and
//! each relay address opens the ports new sessions may take.

use super::Engine;
use crate::relays::{RelayError, Relays};
use dataplane::{FlowCommand, PortLayout};
use std::sync::Arc;

impl Engine {
    /// The relay addresses in layout order: their interfaces, layout ranges, and the ports
    /// new sessions may take.
    pub fn relays(&self) -> Relays {
        let n = self.layout.ranges().len();
        Relays {
            interfaces: self.cfg.interfaces.clone(),
            ranges: self.layout.ranges().to_vec(),
            open: (0..n)
                .map(|a| self.alloc.open(u16::try_from(a).unwrap_or(u16::MAX)))
                .collect(),
        }
    }

    /// The port layout the engine allocates by (the workers run the same).
    pub fn layout(&self) -> Arc<PortLayout> {
        self.layout.clone()
    }

    /// Runs on `next` (a plan from [`Engine::relays`]): relay addresses appended to the
    /// layout are sent to every worker (`FlowCommand::Layout`, ahead of any install on them),
    /// and new sessions take ports only where `next.open` says. Sessions running on closed
    /// ports keep them until they end. Refused, changing nothing, when `next` does not keep
    /// the running ranges as they are.
    pub fn set_relays(&mut self, next: Relays) -> Result<(), RelayError> {
        let running = self.layout.ranges();
        let same = next.ranges.len() == running.len();
        if next.ranges.get(..running.len()) != Some(running)
            || next.interfaces.len() != next.ranges.len()
            || next.open.len() != next.ranges.len()
        {
            return Err(RelayError::Moved);
        }
        if !same {
            let workers = self.layout.workers();
            let layout = Arc::new(PortLayout::new(next.ranges.clone(), workers)?);
            for w in 0..workers {
                self.commands
                    .push_back((w, FlowCommand::Layout(layout.clone())));
            }
            self.layout = layout;
        }
        self.alloc.reopen(&self.layout, next.open);
        for i in &next.interfaces {
            if !self.names.contains(&i.name) {
                self.names.push(i.name.clone());
            }
        }
        self.cfg.interfaces = next.interfaces;
        Ok(())
    }

    /// Whether interface `names[i]` takes new sessions (one of its relay addresses is open).
    pub(super) fn name_open(&self, i: usize) -> bool {
        let Some(name) = self.names.get(i) else {
            return false;
        };
        self.cfg
            .interfaces
            .iter()
            .enumerate()
            .any(|(a, x)| &x.name == name && self.alloc.is_open(u16::try_from(a).unwrap_or(0)))
    }
}
