//! How many connections are open, per client address and in total: TCP connections (by socket
//! peer) and WebSockets (by client address). A connection holds a [`Slot`] for its whole life;
//! dropping it (however the connection ends) gives the place back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::limited_address;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The address (IPv6: its /64) has as many connections open as it may.
    Address,
    /// The server has as many connections open as it accepts.
    Server,
}

pub struct ConnectionSlots {
    per_address: usize,
    total: usize,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One open socket's place.
pub struct Slot {
    slots: Arc<ConnectionSlots>,
    address: IpAddr,
}

impl ConnectionSlots {
    pub fn new(per_address: usize, total: usize) -> Self {
        Self {
            per_address,
            total,
            open: Mutex::default(),
        }
    }

    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Full> {
        self.acquire_with(ip, self.per_address)
    }

    /// A place counted in the total only: for a peer that many clients share (a trusted proxy).
    pub fn acquire_shared(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Full> {
        self.acquire_with(ip, usize::MAX)
    }

    fn acquire_with(self: &Arc<Self>, ip: IpAddr, per_address: usize) -> Result<Slot, Full> {
        let address = limited_address(ip);
        let mut open = self
            .open
            .lock()
            .expect("slot counts are never left half-updated");
        if open.total >= self.total {
            return Err(Full::Server);
        }
        let from_address = open.by_address.entry(address).or_default();
        if *from_address >= per_address {
            return Err(Full::Address);
        }
        *from_address += 1;
        open.total += 1;
        Ok(Slot {
            slots: Arc::clone(self),
            address,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .slots
            .open
            .lock()
            .expect("slot counts are never left half-updated");
        open.total -= 1;
        if let Some(count) = open.by_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.by_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(per_address: usize, total: usize) -> Arc<ConnectionSlots> {
        Arc::new(ConnectionSlots::new(per_address, total))
    }

    #[test]
    fn places_are_bounded_per_address_and_in_total_and_given_back() {
        let slots = slots(2, 3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = slots.acquire(a).unwrap();
        let _second = slots.acquire(a).unwrap();
        assert_eq!(slots.acquire(a).err(), Some(Full::Address));
        let _third = slots.acquire(b).unwrap();
        assert_eq!(slots.acquire(b).err(), Some(Full::Server));
        drop(first);
        assert!(slots.acquire(a).is_ok());
        // A shared peer is bounded by the total only.
        let shared = self::slots(1, 3);
        let _one = shared.acquire_shared(a).unwrap();
        let _two = shared.acquire_shared(a).unwrap();
        assert_eq!(shared.acquire(a).err(), Some(Full::Address));
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        let slots = slots(1, 10);
        let _one = slots.acquire("2001:db8::1".parse().unwrap()).unwrap();
        assert_eq!(
            slots.acquire("2001:db8::2".parse().unwrap()).err(),
            Some(Full::Address)
        );
        assert!(slots.acquire("2001:db8:0:1::1".parse().unwrap()).is_ok());
    }
}
