//! The connection limit every front door applies: [`ConnectionSlots`];
//! and [`stopped`], the shutdown signal their accept loops stop on.
//!
//! A door takes a slot before it accepts a connection and the connection
//! holds it until it ends, so at most `max_connections` connections per
//! door are served at once; the rest wait in the kernel's backlog instead
//! of being accepted and left unserved. At shutdown the door waits, for at
//! most `shutdown_timeout`, until every slot is back: that is how it knows
//! the requests in flight are done.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// `max_connections` slots, one per connection being served.
pub struct ConnectionSlots {
    slots: Arc<Semaphore>,
    max: u32,
}

/// One connection's slot: given back when dropped.
pub type ConnectionSlot = OwnedSemaphorePermit;

impl ConnectionSlots {
    /// At least one slot, and no more than a semaphore can count.
    pub fn new(max_connections: usize) -> Self {
        let max = u32::try_from(max_connections.clamp(1, Semaphore::MAX_PERMITS))
            .unwrap_or(u32::MAX)
            .max(1);
        Self {
            slots: Arc::new(Semaphore::new(max as usize)),
            max,
        }
    }

    /// Waits for a free slot. `None` only if the slots were closed, which
    /// nothing does: a door treats it as the end of its accept loop.
    pub async fn take(&self) -> Option<ConnectionSlot> {
        Arc::clone(&self.slots).acquire_owned().await.ok()
    }

    /// Waits until every connection has given its slot back, for at most
    /// `timeout`; true when they all did.
    pub async fn drained(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.slots.acquire_many(self.max))
            .await
            .is_ok_and(|acquired| acquired.is_ok())
    }
}

/// Resolves once the shutdown signal `stop` is (or was already) given: an
/// accept loop selects on it to stop accepting.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_holds_its_slot_until_it_ends() {
        let slots = ConnectionSlots::new(2);
        let first = slots.take().await.expect("a free slot");
        let second = slots.take().await.expect("a free slot");
        let third = tokio::time::timeout(Duration::from_millis(50), slots.take()).await;
        assert!(
            third.is_err(),
            "a third connection waits while two are served"
        );
        assert!(!slots.drained(Duration::from_millis(20)).await);
        drop(first);
        drop(second);
        assert!(slots.drained(Duration::from_millis(20)).await);
    }

    #[test]
    fn zero_means_one() {
        assert_eq!(ConnectionSlots::new(0).max, 1);
        assert_eq!(ConnectionSlots::new(usize::MAX).max, u32::MAX);
    }
}
