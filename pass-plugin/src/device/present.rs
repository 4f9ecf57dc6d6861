//! One host offload device's data environment: the present table.
//!
//! Each entry is a host byte range that is present on the device (a whole array or an
//! array section: OpenMP's list item), the device buffer holding it and its reference
//! count. A device buffer always spans the whole array the list item belongs to (so code in
//! a target region that reads past a mapped section reads device memory, never a stray
//! address), but only the list item's bytes are present and copied.
//!
//! OpenMP 5.2 (5.8.3, map clause): a list item already present has its count raised and is
//! copied in only with `always`; one that is absent is allocated with count 1 and copied
//! in for `to`/`tofrom`. At the end of a construct the count falls by one; at zero the
//! item is copied out for `from`/`tofrom` and deleted; `always from` copies out whatever
//! the count; `delete` drops the count to zero.

use std::collections::BTreeMap;

use super::buffer::Buffer;

/// A present list item.
#[derive(Debug)]
pub struct Entry {
    /// The host bytes of the list item: [begin, end).
    pub end: usize,
    /// The host array the item belongs to: where its device buffer starts, in host terms.
    alloc_host: usize,
    /// The device buffer (covering the whole host array).
    buffer: Buffer,
    refcount: u64,
}

impl Entry {
    /// The device address of host address `host` (inside the array).
    pub fn device_of(&self, host: usize) -> usize {
        self.buffer.data() as usize + (host - self.alloc_host)
    }

    /// A reference to the buffer for a view of it in compiled code (its MemInfo).
    pub fn share(&self) -> *mut u8 {
        self.buffer.share()
    }
}

/// Why a mapping was refused (reported to the user by the Python side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// The item overlaps a present item without lying inside it (OpenMP forbids extending
    /// a present mapping).
    PartlyPresent = -1,
    /// `map(present: ...)` of an item that is not present.
    NotPresent = -2,
    /// A device number that is neither an offload device nor the host.
    NoDevice = -3,
}

/// The present table of one device, keyed by each item's first host byte.
#[derive(Debug, Default)]
pub struct PresentTable {
    items: BTreeMap<usize, Entry>,
}

/// A host byte range [begin, end) and the array [alloc_begin, alloc_end) it lies in.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub begin: usize,
    pub end: usize,
    pub alloc_begin: usize,
    pub alloc_end: usize,
}

impl PresentTable {
    /// The present item holding host bytes [begin, end), if one holds all of them; an
    /// error if one holds only some.
    pub fn find(&self, begin: usize, end: usize) -> Result<Option<usize>, MapError> {
        // the last item starting at or before `begin`, and any starting inside the range
        let before = self.items.range(..=begin).next_back();
        if let Some((&key, e)) = before {
            if begin < e.end || (begin == key && begin == end) {
                return if end <= e.end {
                    Ok(Some(key))
                } else {
                    Err(MapError::PartlyPresent)
                };
            }
        }
        match self.items.range(begin..end).next() {
            Some(_) => Err(MapError::PartlyPresent),
            None => Ok(None),
        }
    }

    pub fn entry(&self, key: usize) -> &Entry {
        &self.items[&key]
    }

    /// Maps `span` at a construct's start: returns the key of its entry and whether the
    /// host bytes must be copied to the device (`to`: the caller's map type copies in).
    pub fn enter(&mut self, span: Span, to: bool, always: bool) -> Result<usize, MapError> {
        if let Some(key) = self.find(span.begin, span.end)? {
            let e = self.items.get_mut(&key).expect("found above");
            e.refcount += 1;
            if to && always {
                copy_to_device(e, span.begin, span.end);
            }
            return Ok(key);
        }
        let size = (span.alloc_end - span.alloc_begin).max(1);
        let mut e = Entry {
            end: span.end,
            alloc_host: span.alloc_begin,
            buffer: Buffer::new(size),
            refcount: 1,
        };
        if to {
            copy_to_device(&mut e, span.begin, span.end);
        }
        self.items.insert(span.begin, e);
        Ok(span.begin)
    }

    /// Ends one mapping of list item [begin, end) of the entry at `key`: the count falls
    /// by one (to zero with `delete`); at zero the list item is copied back (`from`) and
    /// the entry removed; `always from` copies back the list item whatever the count.
    pub fn exit(
        &mut self,
        key: usize,
        item: (usize, usize),
        from: bool,
        always: bool,
        delete: bool,
    ) {
        let Some(e) = self.items.get_mut(&key) else {
            return; // not present: nothing to do (OpenMP: exit of an absent item is a no-op)
        };
        e.refcount = if delete {
            0
        } else {
            e.refcount.saturating_sub(1)
        };
        let last = e.refcount == 0;
        // (what comes back is the list item: a section of a present array copies only its
        // own bytes, whether the count reached zero or `always` asks)
        if from && !delete && (last || always) {
            copy_to_host(e, item.0, item.1);
        }
        if last {
            self.items.remove(&key);
        }
    }

    /// `target update to/from`: copies host bytes [begin, end) of a present item.
    pub fn update(&mut self, begin: usize, end: usize, to: bool) -> Result<(), MapError> {
        let Some(key) = self.find(begin, end)? else {
            return Ok(()); // OpenMP: an update of an absent item does nothing
        };
        let e = self.items.get_mut(&key).expect("found above");
        if to {
            copy_to_device(e, begin, end);
        } else {
            copy_to_host(e, begin, end);
        }
        Ok(())
    }

    pub fn refcount(&self, key: usize) -> u64 {
        self.items.get(&key).map_or(0, |e| e.refcount)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

fn copy_to_device(e: &mut Entry, begin: usize, end: usize) {
    let dst = e.device_of(begin) as *mut u8;
    // SAFETY: [begin, end) lies in the host array the caller mapped (alive while it is
    // mapped, as in C), and the buffer covers that whole array.
    unsafe { std::ptr::copy_nonoverlapping(begin as *const u8, dst, end - begin) };
}

fn copy_to_host(e: &Entry, begin: usize, end: usize) {
    let src = e.device_of(begin) as *const u8;
    // SAFETY: as in copy_to_device, the other way.
    unsafe { std::ptr::copy_nonoverlapping(src, begin as *mut u8, end - begin) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(a: &[f64], lo: usize, hi: usize) -> Span {
        let base = a.as_ptr() as usize;
        Span {
            begin: base + 8 * lo,
            end: base + 8 * hi,
            alloc_begin: base,
            alloc_end: base + 8 * a.len(),
        }
    }

    #[test]
    fn copies_in_on_first_mapping_and_out_when_the_count_returns_to_zero() {
        let mut host = vec![1.0f64; 4];
        let mut t = PresentTable::default();
        let s = span(&host, 0, 4);
        let k = t.enter(s, true, false).unwrap();
        let k2 = t.enter(s, true, false).unwrap(); // present: count 2, no copy
        assert_eq!(k, k2);
        let dev = t.entry(k).device_of(s.begin) as *mut f64;
        unsafe { *dev = 5.0 };
        host[1] = 7.0;
        let item = (s.begin, s.end);
        t.exit(k, item, true, false, false); // count 1: nothing copied
        assert_eq!(host, [1.0, 7.0, 1.0, 1.0]);
        t.exit(k, item, true, false, false); // count 0: the device copy comes back
        assert_eq!(host, [5.0, 1.0, 1.0, 1.0]);
        assert!(t.is_empty());
    }

    #[test]
    fn sections_are_found_inside_and_refused_across() {
        let host = vec![0.0f64; 10];
        let mut t = PresentTable::default();
        let k = t.enter(span(&host, 2, 6), false, false).unwrap();
        let s = span(&host, 3, 5);
        assert_eq!(t.find(s.begin, s.end), Ok(Some(k)));
        let s = span(&host, 5, 8);
        assert_eq!(t.find(s.begin, s.end), Err(MapError::PartlyPresent));
        let s = span(&host, 0, 3);
        assert_eq!(t.find(s.begin, s.end), Err(MapError::PartlyPresent));
        let s = span(&host, 6, 10);
        assert_eq!(t.find(s.begin, s.end), Ok(None));
    }

    #[test]
    fn always_from_copies_only_its_section_while_present() {
        let mut host = vec![1.0f64; 6];
        let mut t = PresentTable::default();
        let whole = span(&host, 0, 6);
        let k = t.enter(whole, true, false).unwrap();
        let part = span(&host, 0, 2);
        assert_eq!(t.enter(part, false, false), Ok(k));
        for i in 0..6 {
            unsafe { *(t.entry(k).device_of(whole.begin) as *mut f64).add(i) = 5.0 };
        }
        host[3] = 2.0;
        t.exit(k, (part.begin, part.end), true, true, false); // count 1: only a[0:2]
        assert_eq!(host, [5.0, 5.0, 1.0, 2.0, 1.0, 1.0]);
        t.exit(k, (whole.begin, whole.end), false, false, false);
        assert!(t.is_empty());
    }

    #[test]
    fn delete_drops_the_item_without_copying() {
        let mut host = vec![1.0f64; 2];
        let mut t = PresentTable::default();
        let s = span(&host, 0, 2);
        let k = t.enter(s, true, false).unwrap();
        t.enter(s, true, false).unwrap();
        unsafe { *(t.entry(k).device_of(s.begin) as *mut f64) = 9.0 };
        t.exit(k, (s.begin, s.end), true, false, true);
        host[0] += 0.0;
        assert_eq!(host, [1.0, 1.0]);
        assert!(t.is_empty());
    }
}
