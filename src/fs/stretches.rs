//! Lists of byte stretches of one object: merged, in order, never overlapping or adjoining.

use std::ops::Range;

/// Adds `range` to `list`, merging it with every stretch it touches or adjoins.
pub fn merge(list: &mut Vec<Range<u64>>, range: Range<u64>) {
    let (mut start, mut end) = (range.start, range.end);
    list.retain(|r| {
        let apart = r.end < start || r.start > end;
        if !apart {
            start = start.min(r.start);
            end = end.max(r.end);
        }
        apart
    });
    let at = list.partition_point(|r| r.start < start);
    list.insert(at, start..end);
}

/// The pieces of `range` outside every stretch of `list`, in order.
pub fn outside(range: Range<u64>, list: &[Range<u64>]) -> Vec<Range<u64>> {
    let mut out = Vec::new();
    let mut at = range.start;
    for r in list {
        if r.end <= at || r.start >= range.end {
            continue;
        }
        if r.start > at {
            out.push(at..r.start);
        }
        at = r.end;
    }
    if at < range.end {
        out.push(at..range.end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretches_merge_in_any_order_and_cut_ranges() {
        let mut list = Vec::new();
        for r in [(10, 20), (30, 40), (20, 30), (0, 5), (50, 60)] {
            merge(&mut list, r.0..r.1);
        }
        assert_eq!(list, vec![0..5, 10..40, 50..60]);
        assert_eq!(outside(0..100, &list), vec![5..10, 40..50, 60..100]);
        assert_eq!(outside(12..35, &list), Vec::<Range<u64>>::new());
        assert_eq!(outside(3..55, &list), vec![5..10, 40..50]);
        assert_eq!(outside(70..80, &list), vec![70..80]);
    }
}
