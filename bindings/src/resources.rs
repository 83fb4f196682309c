//! The per-isolate resource tables: integer ids that JavaScript holds for
//! Rust objects (a request body, a text decoder, a response channel), and
//! for the requests in flight.
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

/// Values of one type by id (never 0), stored inline without a box or a
/// hash: the value with id `n` lives at `n` modulo the (power-of-two)
/// capacity, beside its id, so a stale id finds nothing rather than a
/// newer value. Ids count up, so the values in flight at one time (a
/// thread's requests in one isolate) almost always fall in distinct
/// places; an id whose place is taken is skipped, and a table half full
/// doubles. For what every request adds and takes: `ResourceTable` costs
/// an allocation and two hash lookups more per value.
pub struct IdTable<T> {
    next_id: u32,
    places: Vec<Option<(u32, T)>>,
    len: usize,
}

impl<T> Default for IdTable<T> {
    fn default() -> Self {
        IdTable {
            next_id: 0,
            places: Vec::new(),
            len: 0,
        }
    }
}

/// Places in a table that has any.
const ID_TABLE_MIN: usize = 16;

impl<T> IdTable<T> {
    /// Where value `id` lives (0 while the table has no places: no
    /// lookup finds anything there).
    fn place(&self, id: u32) -> usize {
        id as usize & self.places.len().wrapping_sub(1)
    }

    /// Stores `value` and returns its id.
    pub fn add(&mut self, value: T) -> u32 {
        self.add_with(|| value)
    }

    /// Stores the value `make` returns and returns its id. The value is
    /// made where it is stored: a large one is not copied twice on its
    /// way in, as it is when passed to [`IdTable::add`].
    pub fn add_with(&mut self, make: impl FnOnce() -> T) -> u32 {
        if self.places.is_empty() || self.len * 2 >= self.places.len() {
            self.grow();
        }
        loop {
            self.next_id = self.next_id.wrapping_add(1).max(1);
            let place = self.place(self.next_id);
            let entry = &mut self.places[place];
            if entry.is_none() {
                // The place is empty: `replace` returns `None`.
                entry.replace((self.next_id, make()));
                self.len += 1;
                return self.next_id;
            }
        }
    }

    /// Doubles the places; ids apart modulo the old size stay apart.
    fn grow(&mut self) {
        let size = (self.places.len() * 2).max(ID_TABLE_MIN);
        let old = std::mem::replace(&mut self.places, (0..size).map(|_| None).collect());
        for (id, value) in old.into_iter().flatten() {
            let place = self.place(id);
            self.places[place] = Some((id, value));
        }
    }

    /// Value `id`, if it is there.
    pub fn get(&self, id: u32) -> Option<&T> {
        match self.places.get(self.place(id))? {
            Some((held, value)) if *held == id => Some(value),
            _ => None,
        }
    }

    /// Value `id`, mutably, if it is there.
    pub fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        let place = self.place(id);
        match self.places.get_mut(place)? {
            Some((held, value)) if *held == id => Some(value),
            _ => None,
        }
    }

    /// Removes value `id` and returns it, if it is there.
    pub fn take(&mut self, id: u32) -> Option<T> {
        let place = self.place(id);
        let place = self.places.get_mut(place)?;
        if !matches!(place, Some((held, _)) if *held == id) {
            return None;
        }
        self.len -= 1;
        place.take().map(|(_, value)| value)
    }

    /// Calls `f` for every value.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(u32, &mut T)) {
        for (id, value) in self.places.iter_mut().flatten() {
            f(*id, value);
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_tables_keep_every_value_apart_and_forget_taken_ids() {
        let mut t = IdTable::default();
        assert_eq!(t.get(1), None);
        // One value that stays while thousands come and go, as a request
        // with long waitUntil work among short ones does.
        let old = t.add(-1i64);
        let mut live = Vec::new();
        for i in 0..5000i64 {
            live.push((t.add(i), i));
            if live.len() > 40 {
                let (id, v) = live.remove(0);
                assert_eq!(t.take(id), Some(v));
                assert_eq!(t.get(id), None, "a taken id finds nothing");
            }
        }
        assert_eq!(t.get(old), Some(&-1));
        for (id, v) in &live {
            assert_eq!(t.get(*id), Some(v));
        }
        assert_eq!(t.len(), live.len() + 1);
        let mut seen = 0;
        t.for_each_mut(|_, _| seen += 1);
        assert_eq!(seen, t.len());
        assert!(t.places.len() <= 128, "grew to {} places for 42 values", t.places.len());
    }

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
