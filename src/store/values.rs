//! A row's attribute values, packed.

use std::fmt;
use std::ops::Index;

use serde::Serialize;

/// The attribute values of a row, in attribute order, `""` when empty: every value end to end
/// in one string, and where each ends.
///
/// Two allocations a row instead of a vector of strings: a user of 20 short values takes about
/// 270 bytes this way against 500 for 20 inline strings in a vector, and the stored rows a
/// sync compares with are the largest thing it holds (25 MB less at 100k users, issue 6).
/// Values are read far more often than written; [`Values::set`] rebuilds the string.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Values {
    text: Box<str>,
    /// Where each value ends in `text`; a value starts where the one before it ends.
    ends: Box<[u32]>,
}

impl Values {
    /// `n` empty values.
    pub fn empty(n: usize) -> Values {
        Values { text: Box::default(), ends: vec![0; n].into_boxed_slice() }
    }

    /// How many values (the entity type's attribute count).
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no values at all (an entity type without attributes).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The value at `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        Some(&self.text[start..end])
    }

    /// Whether the value at `i` is `text` (never when there is no value at `i`): what a sync
    /// asks of every cell of a full template, compared inline since most values are a few
    /// bytes (a call to `memcmp` a cell was half of comparing a sheet with the stored rows,
    /// issue 6).
    #[inline]
    pub fn is(&self, i: usize, text: &str) -> bool {
        let Some(&end) = self.ends.get(i) else { return false };
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        let value = &self.text.as_bytes()[start..end as usize];
        value.len() == text.len() && same_bytes(value, text.as_bytes())
    }

    /// The values in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { values: self, front: 0, back: self.len() }
    }

    /// Replaces the value at `i`.
    ///
    /// # Panics
    ///
    /// If `i` is out of range, as indexing a vector does.
    pub fn set(&mut self, i: usize, value: &str) {
        let n = self.len();
        assert!(i < n, "value index {i} out of range for a row of {n} values");
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        let end = self.ends[i] as usize;
        let mut text = String::with_capacity(self.text.len() - (end - start) + value.len());
        text.push_str(&self.text[..start]);
        text.push_str(value);
        text.push_str(&self.text[end..]);
        for e in &mut self.ends[i..] {
            *e = offset(*e as usize - end + start + value.len());
        }
        self.text = text.into_boxed_str();
    }
}

impl Values {
    /// The values given, packed in a string of exactly their length: the iterator is walked
    /// twice, to measure, then to copy (growing the string as it went cost a tenth of
    /// comparing a sheet with the stored rows, issue 6).
    pub fn exact<'v>(values: impl Iterator<Item = &'v str> + Clone) -> Values {
        let (count, len) = values.clone().fold((0, 0), |(n, len), v| (n + 1, len + v.len()));
        let mut text = String::with_capacity(len);
        let mut ends = Vec::with_capacity(count);
        for v in values {
            text.push_str(v);
            ends.push(offset(text.len()));
        }
        Values { text: text.into_boxed_str(), ends: ends.into_boxed_slice() }
    }
}

impl Values {
    /// The values `text` holds end to end, each ending where `ends` says: what a CSV record
    /// gives, packed as it is read.
    ///
    /// # Panics
    ///
    /// If an end is out of order, past the text or inside a character (as slicing would), or
    /// if the last one leaves text out.
    pub(crate) fn packed(text: String, ends: Vec<u32>) -> Values {
        let mut start = 0;
        for &end in &ends {
            let end = end as usize;
            assert!(
                start <= end && text.is_char_boundary(end),
                "value ends {ends:?} do not fit a text of {} bytes",
                text.len()
            );
            start = end;
        }
        assert_eq!(start, text.len(), "value ends {ends:?} leave text out");
        Values { text: text.into_boxed_str(), ends: ends.into_boxed_slice() }
    }
}

/// Packs values given by attribute index, nearly always in order (as rows are stored): each
/// in-order value is appended, a value that comes back to an earlier attribute is set at the
/// end. A later value for the same attribute wins.
pub(crate) struct Builder {
    n: usize,
    text: String,
    ends: Vec<u32>,
    late: Vec<(usize, String)>,
}

impl Builder {
    /// For `n` values whose text is likely at most `capacity` bytes.
    pub fn new(n: usize, capacity: usize) -> Builder {
        Builder {
            n,
            text: String::with_capacity(capacity),
            ends: Vec::with_capacity(n),
            late: vec![],
        }
    }

    /// Sets the value at `i`; ignored when `i` is out of range.
    pub fn put(&mut self, i: usize, value: &str) {
        if i >= self.n {
            return;
        }
        if i < self.ends.len() {
            self.late.push((i, value.to_string()));
            return;
        }
        // The attributes skipped on the way are empty.
        let here = offset(self.text.len());
        self.ends.resize(i, here);
        self.text.push_str(value);
        self.ends.push(offset(self.text.len()));
    }

    /// The values, empty where none was put.
    pub fn finish(mut self) -> Values {
        let here = offset(self.text.len());
        self.ends.resize(self.n, here);
        // Copied out at its size: shrinking in place (`into_boxed_str`) lets the allocator keep
        // a block up to twice as large, which cost 8 MB at 100k stored rows (issue 6).
        let text: Box<str> = if self.text.len() < self.text.capacity() {
            Box::from(self.text.as_str())
        } else {
            self.text.into_boxed_str()
        };
        let mut values = Values { text, ends: self.ends.into_boxed_slice() };
        for (i, v) in self.late {
            values.set(i, &v);
        }
        values
    }
}

/// Whether two byte strings of the same length are equal, compared inline a word at a time
/// (overlapping at the end) when they are at most 64 bytes: a call to `memcmp` per value or
/// key was a third of a plan (issue 6). Longer ones by the slice comparison.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len();
    match n {
        0 => true,
        1..4 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..8 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=64 => {
            let mut at = 0;
            while at + 8 < n {
                if word(a, at) != word(b, at) {
                    return false;
                }
                at += 8;
            }
            word(a, n - 8) == word(b, n - 8)
        }
        _ => a == b,
    }
}

/// Whether two strings are equal, as `==` says, inline up to 64 bytes ([`same_bytes`]).
#[inline]
pub(crate) fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len() && same_bytes(a.as_bytes(), b.as_bytes())
}

/// The order of two strings, as `cmp` gives it: inline for strings of the same length from 4
/// to 16 bytes, as two words (overlapping at the end) read in big-endian order, which orders
/// them as bytes; the keys a plan walks are nearly all such (`00000042`), and a call to
/// `memcmp` each was a tenth of a plan (issue 6).
#[inline]
pub(crate) fn text_order(a: &str, b: &str) -> std::cmp::Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let n = x.len();
    if n == y.len() {
        let be = u64::from_be;
        let be32 = u32::from_be;
        match n {
            8..=16 => {
                return (be(word(x, 0)), be(word(x, n - 8)))
                    .cmp(&(be(word(y, 0)), be(word(y, n - 8))));
            }
            4..8 => {
                return (be32(half(x, 0)), be32(half(x, n - 4)))
                    .cmp(&(be32(half(y, 0)), be32(half(y, n - 4))));
            }
            _ => {}
        }
    }
    a.cmp(b)
}

/// The eight bytes of `s` at `at`, as they are in memory.
#[inline]
fn word(s: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(s[at..at + 8].try_into().unwrap_or_default())
}

/// The four bytes of `s` at `at`, as they are in memory.
#[inline]
fn half(s: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(s[at..at + 4].try_into().unwrap_or_default())
}

/// A position in a row's text as it is kept.
fn offset(at: usize) -> u32 {
    // A row's values come from cells of at most 32,767 characters each (Excel's limit) or from
    // SQLite values of at most 1 GB: they never reach 4 GiB.
    u32::try_from(at).expect("a row's values fit in 4 GiB")
}

impl<S: AsRef<str>> FromIterator<S> for Values {
    fn from_iter<I: IntoIterator<Item = S>>(values: I) -> Values {
        let values = values.into_iter();
        let mut text = String::new();
        let mut ends = Vec::with_capacity(values.size_hint().0);
        for v in values {
            text.push_str(v.as_ref());
            ends.push(offset(text.len()));
        }
        Values { text: text.into_boxed_str(), ends: ends.into_boxed_slice() }
    }
}

impl<S: AsRef<str>, const N: usize> From<[S; N]> for Values {
    fn from(values: [S; N]) -> Values {
        values.into_iter().collect()
    }
}

impl Index<usize> for Values {
    type Output = str;

    fn index(&self, i: usize) -> &str {
        match self.get(i) {
            Some(v) => v,
            None => panic!("value index {i} out of range for a row of {} values", self.len()),
        }
    }
}

/// The values in order, as [`Values::iter`] gives them.
#[derive(Clone)]
pub struct Iter<'v> {
    values: &'v Values,
    front: usize,
    back: usize,
}

impl<'v> Iterator for Iter<'v> {
    type Item = &'v str;

    fn next(&mut self) -> Option<&'v str> {
        if self.front == self.back {
            return None;
        }
        self.front += 1;
        self.values.get(self.front - 1)
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
        self.values.get(self.back)
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'v> IntoIterator for &'v Values {
    type Item = &'v str;
    type IntoIter = Iter<'v>;

    fn into_iter(self) -> Iter<'v> {
        self.iter()
    }
}

/// Ordered as the sequence of values, as a vector of them would be.
impl Ord for Values {
    fn cmp(&self, other: &Values) -> std::cmp::Ordering {
        self.iter().cmp(other.iter())
    }
}

impl PartialOrd for Values {
    fn partial_cmp(&self, other: &Values) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for Values {
    fn eq(&self, other: &[S; N]) -> bool {
        self.iter().eq(other.iter().map(AsRef::as_ref))
    }
}

impl fmt::Debug for Values {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A list of strings, as a vector of them would be.
impl Serialize for Values {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn values_read_back_as_they_were_given() {
        let v: Values = ["Ada", "", "Lovelace", "été"].into_iter().collect();
        assert_eq!(v.len(), 4);
        assert_eq!(v, ["Ada", "", "Lovelace", "été"]);
        assert_eq!(&v[3], "été");
        assert_eq!(v.get(4), None);
        assert_eq!(v.iter().rev().collect::<Vec<_>>(), ["été", "Lovelace", "", "Ada"]);
        assert_eq!(format!("{v:?}"), r#"["Ada", "", "Lovelace", "été"]"#);
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"["Ada","","Lovelace","été"]"#);
        assert_eq!(Values::empty(3), ["", "", ""]);
        assert!(Values::empty(0).is_empty());
        let exact = Values::exact(["Ada", "", "Lovelace", "été"].into_iter());
        assert_eq!(exact, v, "packed at their size, the same values");
        assert_eq!(exact.text.len(), "AdaLovelaceété".len());
        assert!(Values::exact(std::iter::empty()).is_empty());
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn indexing_past_the_end_panics_as_a_vector_does() {
        let _ = &Values::empty(2)[2];
    }

    #[test]
    fn a_builder_takes_values_in_any_order_and_the_last_one_wins() {
        let mut b = Builder::new(4, 0);
        b.put(1, "b");
        b.put(3, "d");
        b.put(0, "a");
        b.put(3, "D");
        b.put(9, "ignored");
        assert_eq!(b.finish(), ["a", "b", "", "D"]);
        assert_eq!(Builder::new(2, 8).finish(), ["", ""]);
    }

    #[test]
    fn a_value_is_the_text_it_holds_and_no_other() {
        let long = "a value longer than sixteen bytes";
        let v: Values = ["", "a", "abc", "abcd", "abcdefg", "abcdefgh", "0123456789abcdef", long]
            .into_iter()
            .collect();
        for (i, text) in v.iter().enumerate() {
            assert!(v.is(i, text), "{text:?}");
            // Each length compared, at each end and in the middle.
            for at in 0..text.len() {
                let mut other = text.as_bytes().to_vec();
                other[at] ^= 1;
                assert!(!v.is(i, std::str::from_utf8(&other).unwrap()), "{text:?} at {at}");
            }
            assert!(!v.is(i, &format!("{text}x")));
        }
        assert!(!v.is(8, ""), "past the end: no value");
    }

    #[test]
    fn texts_compare_and_order_as_strings_do() {
        let texts = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abce",
            "abcde",
            "abcdefg",
            "abcdefgh",
            "abcdefgi",
            "00000041",
            "00000042",
            "10000000",
            "0123456789abcdef",
            "0123456789abcdeg",
            "0123456789abcdefg",
            "é",
            "éa",
            "a\u{0}",
            "a\u{7f}",
            "a\u{80}",
        ];
        for a in texts {
            for b in texts {
                assert_eq!(same_text(a, b), a == b, "{a:?} {b:?}");
                assert_eq!(text_order(a, b), a.cmp(b), "{a:?} {b:?}");
            }
        }
    }

    proptest! {
        /// Packed values behave as the vector of strings they replace: reading, replacing any
        /// one of them, ordering and equality.
        #[test]
        fn packed_values_behave_as_a_vector_of_strings(
            a in prop::collection::vec(".{0,6}", 0..6),
            b in prop::collection::vec(".{0,6}", 0..6),
            at in any::<prop::sample::Index>(),
            new in ".{0,8}",
        ) {
            let (mut va, vb): (Values, Values) = (a.iter().collect(), b.iter().collect());
            prop_assert_eq!(va.iter().collect::<Vec<_>>(), a.iter().map(String::as_str).collect::<Vec<_>>());
            prop_assert_eq!(va.cmp(&vb), a.cmp(&b));
            prop_assert_eq!(va == vb, a == b);
            for (i, text) in a.iter().enumerate() {
                prop_assert!(va.is(i, text));
                prop_assert_eq!(va.is(i, &new), *text == new);
            }
            prop_assert!(!va.is(a.len(), ""));
            if !a.is_empty() {
                let i = at.index(a.len());
                let mut a = a.clone();
                va.set(i, &new);
                a[i] = new;
                prop_assert_eq!(va.iter().collect::<Vec<_>>(), a.iter().map(String::as_str).collect::<Vec<_>>());
                prop_assert_eq!(va, a.iter().collect::<Values>());
            }
        }

        /// Texts of the same length, whose bytes differ anywhere or nowhere, compare and order
        /// as strings do (up to 70 bytes: every inline path and the one past it).
        #[test]
        fn texts_of_one_length_compare_and_order_as_strings_do(
            a in "[a-c\u{0}\u{7f}\u{80}\u{ff}]{0,70}",
            at in any::<prop::sample::Index>(),
            to in prop::sample::select(vec!['a', 'b', 'c', '\u{0}', '\u{ff}']),
        ) {
            let mut b: Vec<char> = a.chars().collect();
            if !b.is_empty() {
                let i = at.index(b.len());
                b[i] = to;
            }
            let b: String = b.into_iter().collect();
            if a.len() == b.len() {
                prop_assert_eq!(same_text(&a, &b), a == b);
                prop_assert_eq!(text_order(&a, &b), a.cmp(&b));
            }
        }
    }
}
