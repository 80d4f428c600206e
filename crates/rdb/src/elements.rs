//! The elements of a collection as read from a snapshot: every element's bytes in one buffer
//! with their end offsets. A loader reads millions of small elements; one buffer per value
//! instead of one allocation per element halves the work of parsing and of building the
//! keyspace's own forms (and the cross-thread frees a loader that builds on another thread
//! would pay for each element).

use std::fmt;

/// Byte strings in order, stored back to back.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Elements {
    data: Vec<u8>,
    /// `ends[i]` is where element `i` ends in `data`; it starts where `i - 1` ends.
    ends: Vec<usize>,
}

impl Elements {
    /// Room for `count` elements of `bytes` bytes in all (callers bound untrusted counts).
    pub fn with_capacity(count: usize, bytes: usize) -> Elements {
        Elements {
            data: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(count),
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn push(&mut self, e: &[u8]) {
        self.data.extend_from_slice(e);
        self.ends.push(self.data.len());
    }

    /// Appends an integer as its decimal text, as Redis shows packed integers.
    pub fn push_int(&mut self, n: i64) {
        self.push(itoa::Buffer::new().format(n).as_bytes());
    }

    /// Appends an element written by `fill` into the shared buffer (no copy of its own).
    pub(crate) fn push_with<E>(
        &mut self,
        fill: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let at = self.data.len();
        match fill(&mut self.data) {
            Ok(()) => {
                self.ends.push(self.data.len());
                Ok(())
            }
            Err(e) => {
                self.data.truncate(at);
                Err(e)
            }
        }
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.data[start..end])
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            elements: self,
            front: 0,
            back: self.len(),
        }
    }

    /// Each element as a vector of its own (tests and callers that keep elements apart).
    pub fn to_vecs(&self) -> Vec<Vec<u8>> {
        self.iter().map(<[u8]>::to_vec).collect()
    }

    /// Appends every element of `other`.
    pub fn extend_from(&mut self, other: &Elements) {
        let base = self.data.len();
        self.data.extend_from_slice(&other.data);
        self.ends.extend(other.ends.iter().map(|e| e + base));
    }
}

impl<E: AsRef<[u8]>> FromIterator<E> for Elements {
    fn from_iter<I: IntoIterator<Item = E>>(iter: I) -> Elements {
        let mut out = Elements::default();
        for e in iter {
            out.push(e.as_ref());
        }
        out
    }
}

impl From<Vec<Vec<u8>>> for Elements {
    fn from(v: Vec<Vec<u8>>) -> Elements {
        v.iter().collect()
    }
}

impl fmt::Debug for Elements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

/// Elements front to back (also from the back: a list is read both ways).
#[derive(Clone)]
pub struct Iter<'a> {
    elements: &'a Elements,
    front: usize,
    back: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.front == self.back {
            return None;
        }
        self.front += 1;
        self.elements.get(self.front - 1)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        self.elements.get(self.back)
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// A hash's field/value pairs: fields and values alternate in one [`Elements`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pairs(Elements);

impl Pairs {
    /// Pairs from alternating fields and values; `None` for an odd count.
    pub fn from_alternating(e: Elements) -> Option<Pairs> {
        e.len().is_multiple_of(2).then_some(Pairs(e))
    }

    pub fn with_capacity(pairs: usize, bytes: usize) -> Pairs {
        Pairs(Elements::with_capacity(pairs * 2, bytes))
    }

    pub fn len(&self) -> usize {
        self.0.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn push(&mut self, field: &[u8], value: &[u8]) {
        self.0.push(field);
        self.0.push(value);
    }

    pub(crate) fn elements_mut(&mut self) -> &mut Elements {
        &mut self.0
    }

    pub fn iter(&self) -> PairIter<'_> {
        PairIter(self.0.iter())
    }

    pub fn to_vecs(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect()
    }
}

impl<F: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(F, V)> for Pairs {
    fn from_iter<I: IntoIterator<Item = (F, V)>>(iter: I) -> Pairs {
        let mut out = Pairs::default();
        for (f, v) in iter {
            out.push(f.as_ref(), v.as_ref());
        }
        out
    }
}

impl From<Vec<(Vec<u8>, Vec<u8>)>> for Pairs {
    fn from(v: Vec<(Vec<u8>, Vec<u8>)>) -> Pairs {
        v.iter().map(|(f, v)| (f, v)).collect()
    }
}

impl fmt::Debug for Pairs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

#[derive(Clone)]
pub struct PairIter<'a>(Iter<'a>);

impl<'a> Iterator for PairIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        Some((self.0.next()?, self.0.next()?))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.0.len() / 2;
        (n, Some(n))
    }
}

impl ExactSizeIterator for PairIter<'_> {}

/// A sorted set's members with their scores, in the order read.
#[derive(Clone, Default, PartialEq)]
pub struct Scored {
    members: Elements,
    scores: Vec<f64>,
}

impl Scored {
    pub fn with_capacity(count: usize, bytes: usize) -> Scored {
        Scored {
            members: Elements::with_capacity(count, bytes),
            scores: Vec::with_capacity(count),
        }
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn push(&mut self, member: &[u8], score: f64) {
        self.members.push(member);
        self.scores.push(score);
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], f64)> + Clone + '_ {
        self.members.iter().zip(self.scores.iter().copied())
    }

    pub fn to_vecs(&self) -> Vec<(Vec<u8>, f64)> {
        self.iter().map(|(m, s)| (m.to_vec(), s)).collect()
    }
}

impl<M: AsRef<[u8]>> FromIterator<(M, f64)> for Scored {
    fn from_iter<I: IntoIterator<Item = (M, f64)>>(iter: I) -> Scored {
        let mut out = Scored::default();
        for (m, s) in iter {
            out.push(m.as_ref(), s);
        }
        out
    }
}

impl From<Vec<(Vec<u8>, f64)>> for Scored {
    fn from(v: Vec<(Vec<u8>, f64)>) -> Scored {
        v.iter().map(|(m, s)| (m, *s)).collect()
    }
}

impl fmt::Debug for Scored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(m, s)| (String::from_utf8_lossy(m), s)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_keep_order_and_bounds() {
        let mut e = Elements::default();
        for x in [&b"a"[..], b"", b"bcd", b""] {
            e.push(x);
        }
        e.push_int(-42);
        assert_eq!(e.len(), 5);
        assert_eq!(e.get(2), Some(&b"bcd"[..]));
        assert_eq!(e.get(5), None);
        assert_eq!(
            e.to_vecs(),
            vec![
                b"a".to_vec(),
                vec![],
                b"bcd".to_vec(),
                vec![],
                b"-42".to_vec()
            ]
        );
        assert_eq!(e.iter().next_back(), Some(&b"-42"[..]));
        assert_eq!(e.iter().len(), 5);
        let failed: Result<(), ()> = e.push_with(|d| {
            d.extend_from_slice(b"partial");
            Err(())
        });
        assert!(failed.is_err());
        assert_eq!(e.len(), 5);
        let mut f = Elements::from(vec![b"x".to_vec()]);
        f.extend_from(&e);
        assert_eq!(f.get(1), Some(&b"a"[..]));
        assert_eq!(f.get(5), Some(&b"-42"[..]));
        let p = Pairs::from_alternating(f.clone()).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p.iter().next(), Some((&b"x"[..], &b"a"[..])));
        assert_eq!(p.iter().len(), 3);
        f.push(b"y");
        assert!(Pairs::from_alternating(f).is_none());
    }
}
