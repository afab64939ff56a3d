//! What the admin socket reads of the proxy beyond the dispatcher.

use crate::Proxy;

impl Proxy {
    /// Whether OPTIONS sent to this element are answered 503 (`[sip] draining`).
    pub fn is_draining(&self) -> bool {
        self.draining
    }
}
