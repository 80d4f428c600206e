//! Who decides that a key has expired, for the command running on this thread.
//!
//! A primary (or a node on its own) reclaims an expired key when it meets one. A replica
//! does not: the primary decides, and sends a DEL when the key expires there, so a replica
//! whose clock runs ahead never loses a key the primary still has. Until that DEL arrives a
//! replica's clients see the key as gone ([`ExpiryMode::Hide`]), and the primary's own
//! stream sees it as it is ([`ExpiryMode::Keep`]), as Redis's `expireIfNeeded` does for
//! replicas and their master client. The mode is per thread because commands of both
//! kinds run on the same workers; the caller installs it before each command.

use std::cell::Cell;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryMode {
    /// An expired key is removed when met (and reported to the mutation seam).
    Reclaim,
    /// An expired key reads as absent but stays (a replica's clients).
    Hide,
    /// An expired key is served as if it had not expired (a replica applying its primary's
    /// stream: the primary decides).
    Keep,
}

thread_local! {
    static MODE: Cell<ExpiryMode> = const { Cell::new(ExpiryMode::Reclaim) };
}

/// The mode of the command running on this thread.
#[inline]
pub fn mode() -> ExpiryMode {
    MODE.with(Cell::get)
}

/// Installs the mode for the commands that run next on this thread.
#[inline]
pub fn set_mode(mode: ExpiryMode) {
    MODE.with(|m| m.set(mode));
}
