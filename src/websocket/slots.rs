//! How many sockets are open, per client address and in total. A socket holds a [`Slot`] for
//! its whole life; dropping it (however the connection ends) gives the place back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::config::WebSocketLimits;
use crate::rate_limit::limited_address;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// `WS_MAX_CONNECTIONS_PER_IP` sockets are open from this address (IPv6: its /64).
    Address,
    /// `WS_MAX_CONNECTIONS` sockets are open.
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
    pub fn new(limits: &WebSocketLimits) -> Self {
        Self {
            per_address: limits.max_connections_per_ip,
            total: limits.max_connections,
            open: Mutex::default(),
        }
    }

    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Full> {
        let address = limited_address(ip);
        let mut open = self
            .open
            .lock()
            .expect("slot counts are never left half-updated");
        if open.total >= self.total {
            return Err(Full::Server);
        }
        let from_address = open.by_address.entry(address).or_default();
        if *from_address >= self.per_address {
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
        Arc::new(ConnectionSlots::new(&WebSocketLimits {
            max_subscriptions: 1,
            max_connections_per_ip: per_address,
            max_connections: total,
        }))
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
