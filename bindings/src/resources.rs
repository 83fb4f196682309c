//! The per-isolate resource table: integer ids that JavaScript holds for
//! Rust objects (a request body, a text decoder, a response channel).
//! Not for sharing between isolates: ids mean nothing elsewhere.

use std::any::Any;
use std::collections::HashMap;

use crate::error::BindingError;

/// Hashes sequential ids by multiplication: cheap, and spreads them over
/// the table (SipHash would cost more than the rest of a lookup).
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<IdHasher>>;

/// Maps resource ids to Rust objects of any type.
#[derive(Default)]
pub struct ResourceTable {
    next_id: u32,
    entries: IdMap<Box<dyn Any>>,
}

impl ResourceTable {
    /// Stores `value` and returns its id (never 0).
    pub fn add<T: 'static>(&mut self, value: T) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        while self.entries.contains_key(&self.next_id) {
            self.next_id = self.next_id.wrapping_add(1).max(1);
        }
        self.entries.insert(self.next_id, Box::new(value));
        self.next_id
    }

    /// A reference to resource `id` if it exists and has type `T`.
    pub fn get<T: 'static>(&self, id: u32) -> Result<&T, BindingError> {
        self.entries
            .get(&id)
            .and_then(|b| b.downcast_ref::<T>())
            .ok_or(BindingError::BadResource(id))
    }

    /// A mutable reference to resource `id` if it exists and has type `T`.
    pub fn get_mut<T: 'static>(&mut self, id: u32) -> Result<&mut T, BindingError> {
        self.entries
            .get_mut(&id)
            .and_then(|b| b.downcast_mut::<T>())
            .ok_or(BindingError::BadResource(id))
    }

    /// Removes resource `id` if it has type `T`, returning it.
    pub fn take<T: 'static>(&mut self, id: u32) -> Result<T, BindingError> {
        match self.entries.remove(&id) {
            Some(b) => match b.downcast::<T>() {
                Ok(v) => Ok(*v),
                Err(b) => {
                    self.entries.insert(id, b);
                    Err(BindingError::BadResource(id))
                }
            },
            None => Err(BindingError::BadResource(id)),
        }
    }

    /// Calls `f` for every resource of type `T`.
    pub fn for_each_mut<T: 'static>(&mut self, mut f: impl FnMut(u32, &mut T)) {
        for (id, entry) in &mut self.entries {
            if let Some(v) = entry.downcast_mut::<T>() {
                f(*id, v);
            }
        }
    }

    /// Drops resource `id` whatever its type. Returns whether it existed.
    pub fn close(&mut self, id: u32) -> bool {
        self.entries.remove(&id).is_some()
    }

    /// Number of live resources.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_access_and_take() {
        let mut t = ResourceTable::default();
        let a = t.add(5u32);
        let b = t.add(String::from("x"));
        assert_ne!(a, b);
        assert_eq!(*t.get_mut::<u32>(a).unwrap(), 5);
        assert!(t.get_mut::<u32>(b).is_err());
        assert!(t.take::<u32>(b).is_err());
        assert_eq!(t.take::<String>(b).unwrap(), "x");
        assert!(t.take::<String>(b).is_err());
        assert!(t.close(a));
        assert!(t.is_empty());
    }
}
