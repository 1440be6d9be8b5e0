//! Where the block cache's parts are: per object version, by start offset.
//!
//! Parts of one object never overlap: a request for a range is cut into the parts that
//! cover it and the gaps between them ([`Piece`]), and only the gaps are fetched. Pending
//! parts are indexed like finished ones, so a reader finds a GET already on its way.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;

use super::object::ObjectId;
use super::part::Part;

/// What a look at the index found for a range: parts to wait for, gaps to fetch.
pub enum Piece {
    Have(Arc<Part>),
    Gap(Range<u64>),
}

/// The parts of every object version in the cache.
#[derive(Default)]
pub struct PartIndex {
    objects: HashMap<Arc<ObjectId>, BTreeMap<u64, Arc<Part>>>,
}

impl PartIndex {
    /// The parts and gaps that make up `range` of `obj`, in order.
    pub fn pieces(&self, obj: &ObjectId, range: Range<u64>) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let mut at = range.start;
        if let Some(parts) = self.objects.get(obj) {
            // The part that may cover `at` starts at or before it.
            let first = parts
                .range(..=at)
                .next_back()
                .map(|(s, _)| *s)
                .unwrap_or(at);
            for part in parts.range(first..range.end).map(|(_, p)| p) {
                if part.end() <= at {
                    continue;
                }
                if part.start > at {
                    pieces.push(Piece::Gap(at..part.start));
                }
                pieces.push(Piece::Have(part.clone()));
                at = part.end();
            }
        }
        if at < range.end {
            pieces.push(Piece::Gap(at..range.end));
        }
        pieces
    }

    pub fn insert(&mut self, obj: &Arc<ObjectId>, part: Arc<Part>) {
        self.objects
            .entry(obj.clone())
            .or_default()
            .insert(part.start, part);
    }

    /// Whether `part` is the part of `obj` at its start.
    pub fn holds(&self, obj: &ObjectId, part: &Arc<Part>) -> bool {
        self.objects
            .get(obj)
            .and_then(|parts| parts.get(&part.start))
            .is_some_and(|p| Arc::ptr_eq(p, part))
    }

    /// The finished parts of `obj` wholly inside `range`.
    pub fn finished_within(&self, obj: &ObjectId, range: Range<u64>) -> Vec<Arc<Part>> {
        let Some(parts) = self.objects.get(obj) else {
            return Vec::new();
        };
        parts
            .range(range.start..range.end)
            .map(|(_, p)| p)
            .filter(|p| p.end() <= range.end && !p.is_pending())
            .cloned()
            .collect()
    }

    /// Where the parts of `obj` start, in order.
    pub fn starts(&self, obj: &ObjectId) -> Vec<u64> {
        self.objects
            .get(obj)
            .map_or_else(Vec::new, |parts| parts.keys().copied().collect())
    }

    pub fn remove(&mut self, obj: &ObjectId, start: u64) {
        if let Some(parts) = self.objects.get_mut(obj) {
            parts.remove(&start);
            if parts.is_empty() {
                self.objects.remove(obj);
            }
        }
    }
}
