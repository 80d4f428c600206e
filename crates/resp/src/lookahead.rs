//! A read-only walk over the requests waiting in a buffer, ahead of the parser.
//!
//! A server that has a pipeline of commands in hand can start loading the memory the next
//! ones will touch (their keys' table slots and entries) before it runs the first: the cache
//! misses of a batch then overlap instead of queueing one behind the other. This walk finds
//! the second argument of each waiting command — the first key of nearly every command that
//! has one — without disturbing [`crate::RequestParser`]'s state.

/// Walks at most `max` complete multibulk requests at the front of `buf`, calling `each`
/// with where the second argument of every one that has one lies in `buf`.
///
/// Stops at the first request that is incomplete, inline or malformed: the parser, not this
/// walk, answers those. Returns how many requests it walked over and the bytes they span.
/// Nothing here is trusted for execution: a wrong guess only wastes a prefetch.
pub fn second_args(
    buf: &[u8],
    max: usize,
    mut each: impl FnMut(std::ops::Range<usize>),
) -> (usize, usize) {
    let mut pos = 0;
    let mut commands = 0;
    while commands < max {
        match one_request(buf, pos) {
            Some((end, second)) => {
                if let Some((from, to)) = second {
                    each(from..to);
                }
                pos = end;
                commands += 1;
            }
            None => break,
        }
    }
    (commands, pos)
}

/// The line at `pos` that starts with `marker`, as a length (`*N` or `$N`), and where the
/// line after it starts.
fn length_line(buf: &[u8], pos: usize, marker: u8) -> Option<(usize, usize)> {
    if *buf.get(pos)? != marker {
        return None;
    }
    let cr = pos + 1 + buf.get(pos + 1..)?.iter().position(|&c| c == b'\r')?;
    if buf.get(cr + 1) != Some(&b'\n') {
        return None;
    }
    let n = crate::number::parse_len(&buf[pos + 1..cr])?;
    Some((usize::try_from(n).ok()?, cr + 2))
}

/// One complete request at `pos`: where it ends, and the span of its second argument.
#[allow(clippy::type_complexity)]
fn one_request(buf: &[u8], pos: usize) -> Option<(usize, Option<(usize, usize)>)> {
    let (count, mut at) = length_line(buf, pos, b'*')?;
    if count == 0 {
        return None;
    }
    let mut second = None;
    for i in 0..count {
        let (len, start) = length_line(buf, at, b'$')?;
        let end = start.checked_add(len)?;
        if buf.get(end..end + 2)? != b"\r\n" {
            return None;
        }
        if i == 1 {
            second = Some((start, end));
        }
        at = end + 2;
    }
    Some((at, second))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(buf: &[u8], max: usize) -> (Vec<Vec<u8>>, usize, usize) {
        let mut seen = Vec::new();
        let (n, bytes) = second_args(buf, max, |a| seen.push(buf[a].to_vec()));
        (seen, n, bytes)
    }

    #[test]
    fn finds_second_arguments_of_complete_requests() {
        let buf = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$2\r\nbb\r\n";
        let (seen, n, bytes) = walk(buf, 16);
        assert_eq!(seen, vec![b"a".to_vec(), b"bb".to_vec()]);
        assert_eq!((n, bytes), (3, buf.len()));
    }

    #[test]
    fn stops_at_max_incomplete_inline_and_malformed() {
        let one = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        let mut two = one.to_vec();
        two.extend_from_slice(one);
        assert_eq!(walk(&two, 1).1, 1);
        for cut in 0..one.len() {
            let mut b = one.to_vec();
            b.extend_from_slice(&one[..cut]);
            let (_, n, bytes) = walk(&b, 16);
            assert_eq!((n, bytes), (1, one.len()), "cut at {cut}");
        }
        assert_eq!(walk(b"PING\r\n", 16).1, 0);
        assert_eq!(walk(b"*2\r\n$x\r\nGET\r\n", 16).1, 0);
        assert_eq!(walk(b"*1\r\n$3\r\nGETxx", 16).1, 0);
        assert_eq!(walk(b"*-1\r\n", 16).1, 0);
        assert_eq!(walk(b"*1\r\n$99999999999999999999\r\n", 16).1, 0);
        assert_eq!(walk(b"*1\r\n$9223372036854775807\r\n", 16).1, 0);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_stays_inside(buf in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let (_, _, bytes) = walk(&buf, 8);
            proptest::prop_assert!(bytes <= buf.len());
        }
    }
}
