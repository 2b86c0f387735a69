//! A queue that holds its first item inline: a socket's inbox and send queue hold one item
//! most of the time and none while idle, so a `VecDeque` that allocated on the first push
//! (and kept its capacity) cost every idle connection a few hundred bytes.

use std::collections::VecDeque;

/// First in, first out; allocates only while more than one item is queued at once (and keeps
/// that capacity afterwards, as a `VecDeque` would).
#[derive(Debug)]
pub(crate) struct Fifo<T> {
    /// The front item; `None` only when the queue is empty.
    first: Option<T>,
    /// Items after the front.
    rest: VecDeque<T>,
}

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Self {
            first: None,
            rest: VecDeque::new(),
        }
    }
}

impl<T> Fifo<T> {
    /// Appends `item`.
    pub(crate) fn push_back(&mut self, item: T) {
        match self.first {
            None => self.first = Some(item),
            Some(_) => self.rest.push_back(item),
        }
    }

    /// Takes the front item.
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let front = self.first.take();
        self.first = self.rest.pop_front();
        front
    }

    /// The front item.
    pub(crate) fn front(&self) -> Option<&T> {
        self.first.as_ref()
    }

    /// The front item, to change in place.
    pub(crate) fn front_mut(&mut self) -> Option<&mut T> {
        self.first.as_mut()
    }

    /// True when nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Number of items queued.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    /// Every item, front first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.first.iter().chain(self.rest.iter())
    }

    /// Drops every item.
    pub(crate) fn clear(&mut self) {
        self.first = None;
        self.rest.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::Fifo;

    #[test]
    fn keeps_order_and_allocates_only_past_one() {
        let mut q = Fifo::default();
        assert!(q.is_empty());
        q.push_back(1);
        assert_eq!(q.rest.capacity(), 0);
        q.push_back(2);
        q.push_back(3);
        assert_eq!(q.len(), 3);
        assert_eq!(q.iter().copied().collect::<Vec<_>>(), [1, 2, 3]);
        *q.front_mut().unwrap() = 10;
        assert_eq!(q.pop_front(), Some(10));
        assert_eq!(q.front(), Some(&2));
        assert_eq!(q.pop_front(), Some(2));
        q.push_back(4);
        assert_eq!(q.pop_front(), Some(3));
        assert_eq!(q.pop_front(), Some(4));
        assert_eq!(q.pop_front(), None);
        assert!(q.is_empty());
        q.push_back(5);
        q.clear();
        assert!(q.is_empty());
        assert_eq!(q.iter().count(), 0);
    }
}
