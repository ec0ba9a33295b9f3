//! The ids of the batches not yet complete, for `flush()` and `close()`.
//!
//! Batch ids are handed out in increasing order and each is added once and removed once, so
//! the set is a window of bits from the oldest incomplete id. A `BTreeSet` did the same with a
//! node allocation every few batches, which showed in the allocation count per record.

use std::collections::VecDeque;

/// A set of `u64` ids, one bit each from a base aligned to 64. Its memory spans the oldest
/// incomplete id to the newest (a batch retried for minutes while a million newer ones
/// complete holds 125 KiB).
#[derive(Debug, Default)]
pub(crate) struct IdWindow {
    /// The id of bit 0 of `words[0]`; a multiple of 64.
    base: u64,
    /// Invariant: empty, or the first and last words are non-zero.
    words: VecDeque<u64>,
    count: usize,
}

impl IdWindow {
    /// Adds `id`; returns false if it was present.
    pub(crate) fn insert(&mut self, id: u64) -> bool {
        let aligned = id & !63;
        if self.words.is_empty() {
            self.base = aligned;
        }
        while aligned < self.base {
            self.words.push_front(0);
            self.base -= 64;
        }
        let idx = ((id - self.base) / 64) as usize;
        if self.words.len() <= idx {
            self.words.resize(idx + 1, 0);
        }
        let bit = 1u64 << (id % 64);
        let word = &mut self.words[idx];
        if *word & bit != 0 {
            return false;
        }
        *word |= bit;
        self.count += 1;
        true
    }

    /// Removes `id`; returns false if it was absent.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        let Some(offset) = id.checked_sub(self.base) else {
            return false;
        };
        let bit = 1u64 << (id % 64);
        let Some(word) = usize::try_from(offset / 64)
            .ok()
            .and_then(|i| self.words.get_mut(i))
        else {
            return false;
        };
        if *word & bit == 0 {
            return false;
        }
        *word &= !bit;
        self.count -= 1;
        while self.words.front() == Some(&0) {
            self.words.pop_front();
            self.base += 64;
        }
        while self.words.back() == Some(&0) {
            self.words.pop_back();
        }
        true
    }

    /// The smallest id present.
    pub(crate) fn first(&self) -> Option<u64> {
        self.words
            .front()
            .map(|w| self.base + u64::from(w.trailing_zeros()))
    }

    /// How many ids are present.
    pub(crate) fn len(&self) -> usize {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::IdWindow;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn window_follows_the_oldest_id() {
        let mut w = IdWindow::default();
        assert_eq!(w.first(), None);
        for id in 100..300 {
            assert!(w.insert(id));
        }
        assert!(!w.insert(150), "already present");
        for id in 100..299 {
            assert!(w.remove(id));
        }
        assert!(!w.remove(100), "already removed");
        assert_eq!((w.first(), w.len()), (Some(299), 1));
        // Only the words between the oldest and newest id are kept.
        assert_eq!(w.words.len(), 1);
        assert!(w.remove(299));
        assert_eq!((w.first(), w.len(), w.words.len()), (None, 0, 0));
    }

    proptest! {
        /// Any sequence of inserts and removes (in any order, some ids thousands apart) agrees
        /// with a BTreeSet.
        #[test]
        fn behaves_as_a_btreeset(ops in proptest::collection::vec((any::<bool>(), 0u64..2000), 0..400)) {
            let mut w = IdWindow::default();
            let mut set = BTreeSet::new();
            for (insert, id) in ops {
                let id = if id > 1900 { id * 50 } else { id };
                if insert {
                    prop_assert_eq!(w.insert(id), set.insert(id));
                } else {
                    prop_assert_eq!(w.remove(id), set.remove(&id));
                }
                prop_assert_eq!(w.first(), set.first().copied());
                prop_assert_eq!(w.len(), set.len());
            }
        }
    }
}
