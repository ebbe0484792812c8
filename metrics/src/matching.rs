//! Maximum bipartite matching that picks the *same* maximum matching as
//! mir_eval.
//!
//! Precision, recall and F only depend on the size of a maximum matching,
//! but the average overlap ratio and the velocity metric depend on *which*
//! maximum matching is found. mir_eval uses David Eppstein's Hopcroft-Karp
//! variant (greedy start, layered BFS, backward DFS) over Python dicts whose
//! iteration order is insertion order. We keep the same vertex orders so the
//! tie-breaking, and therefore every derived number, is identical.
//!
//! Orientation follows mir_eval: the left side ("u") are estimated notes,
//! the right side ("v") reference notes.

/// Candidate edges in the order mir_eval would build them: `np.where` over a
/// (ref x est) hit matrix yields pairs in row-major order, and the graph dict
/// is keyed by estimate in order of first appearance.
#[derive(Debug, Default)]
pub(crate) struct HitGraph {
    n_ref: usize,
    /// Estimates in order of first appearance (dict key order).
    order: Vec<usize>,
    /// For each estimate, the reference indices it hits, ascending.
    adj: Vec<Vec<usize>>,
}

impl HitGraph {
    pub(crate) fn new(n_ref: usize, n_est: usize) -> Self {
        Self {
            n_ref,
            order: Vec::new(),
            adj: vec![Vec::new(); n_est],
        }
    }

    /// Add all hits of reference `ref_i`. Must be called with `ref_i`
    /// ascending and `est_hits` ascending, as a row-major scan would.
    pub(crate) fn push_row(&mut self, ref_i: usize, est_hits: &[usize]) {
        for &j in est_hits {
            if self.adj[j].is_empty() {
                self.order.push(j);
            }
            self.adj[j].push(ref_i);
        }
    }

    /// Maximum matching as `(ref, est)` pairs sorted by reference index.
    pub(crate) fn maximum_matching(&self) -> Vec<(usize, usize)> {
        let mate = self.hopcroft_karp();
        mate.iter()
            .enumerate()
            .filter_map(|(v, u)| u.map(|u| (v, u)))
            .collect()
    }

    /// Returns, for each reference `v`, the estimate it is matched to.
    fn hopcroft_karp(&self) -> Vec<Option<usize>> {
        let n_est = self.adj.len();
        let mut mate: Vec<Option<usize>> = vec![None; self.n_ref];

        // Greedy start: each estimate (in key order) takes its first free ref.
        for &u in &self.order {
            if let Some(&v) = self.adj[u].iter().find(|&&v| mate[v].is_none()) {
                mate[v] = Some(u);
            }
        }

        let mut pred = vec![Pred::Absent; n_est];
        let mut preds: Vec<Option<Vec<usize>>> = vec![None; self.n_ref];
        let mut slot = vec![usize::MAX; self.n_ref];
        loop {
            // Layer 0: the free estimates, in key order.
            pred.iter_mut().for_each(|p| *p = Pred::Absent);
            for &u in &self.order {
                pred[u] = Pred::Free;
            }
            for u in mate.iter().flatten() {
                pred[*u] = Pred::Absent;
            }
            preds.iter_mut().for_each(|p| *p = None);
            let mut layer: Vec<usize> = self
                .order
                .iter()
                .copied()
                .filter(|&u| pred[u] == Pred::Free)
                .collect();
            let mut unmatched: Vec<usize> = Vec::new();

            while !layer.is_empty() && unmatched.is_empty() {
                // New right-hand layer, keyed by v in first-seen order.
                let mut new_layer: Vec<(usize, Vec<usize>)> = Vec::new();
                for &u in &layer {
                    for &v in &self.adj[u] {
                        if preds[v].is_none() {
                            if slot[v] == usize::MAX {
                                slot[v] = new_layer.len();
                                new_layer.push((v, Vec::new()));
                            }
                            new_layer[slot[v]].1.push(u);
                        }
                    }
                }
                layer.clear();
                for (v, us) in new_layer {
                    slot[v] = usize::MAX;
                    preds[v] = Some(us);
                    match mate[v] {
                        Some(u) => {
                            layer.push(u);
                            pred[u] = Pred::Via(v);
                        }
                        None => unmatched.push(v),
                    }
                }
            }

            if unmatched.is_empty() {
                return mate;
            }
            for &v in &unmatched {
                augment_from(v, &mut pred, &mut preds, &mut mate);
            }
        }
    }
}

/// `pred[u]` of the layered search: not in the structure, in the first
/// layer (free), or reached through reference `v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pred {
    Absent,
    Free,
    Via(usize),
}

/// Backward alternating-path search from a free reference, consuming the
/// layer structure as it goes (each vertex is tried at most once per phase).
/// Iterative, so long augmenting paths cannot overflow the stack, but it
/// visits vertices in exactly the order of the recursive formulation.
fn augment_from(
    root: usize,
    pred: &mut [Pred],
    preds: &mut [Option<Vec<usize>>],
    mate: &mut [Option<usize>],
) -> bool {
    struct Frame {
        v: usize,
        candidates: Vec<usize>,
        next: usize,
        via_u: usize,
    }
    let Some(candidates) = preds[root].take() else {
        return false;
    };
    let mut stack = vec![Frame {
        v: root,
        candidates,
        next: 0,
        via_u: usize::MAX,
    }];
    while let Some(top) = stack.last_mut() {
        let mut descend = None;
        while top.next < top.candidates.len() {
            let u = top.candidates[top.next];
            top.next += 1;
            let pu = std::mem::replace(&mut pred[u], Pred::Absent);
            match pu {
                Pred::Absent => continue,
                Pred::Free => {
                    // Path found: flip it from this frame down to the root.
                    top.via_u = u;
                    for frame in stack.iter().rev() {
                        mate[frame.v] = Some(frame.via_u);
                    }
                    return true;
                }
                Pred::Via(pv) => {
                    top.via_u = u;
                    if let Some(c) = preds[pv].take() {
                        descend = Some(Frame {
                            v: pv,
                            candidates: c,
                            next: 0,
                            via_u: usize::MAX,
                        });
                        break;
                    }
                }
            }
        }
        match descend {
            Some(frame) => stack.push(frame),
            None => {
                stack.pop();
            }
        }
    }
    false
}

/// Indices of values sorted ascending, for window queries by binary search.
#[derive(Debug)]
pub(crate) struct SortedIndex {
    values: Vec<f64>,
    indices: Vec<usize>,
}

impl SortedIndex {
    pub(crate) fn new(values: impl Iterator<Item = f64>) -> Self {
        let mut pairs: Vec<(f64, usize)> = values.enumerate().map(|(i, v)| (v, i)).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let (values, indices) = pairs.into_iter().unzip();
        Self { values, indices }
    }

    /// Original indices whose value lies in `[lo, hi]` (unordered).
    pub(crate) fn within(&self, lo: f64, hi: f64) -> &[usize] {
        let start = self.values.partition_point(|&x| x < lo);
        let end = self.values.partition_point(|&x| x <= hi);
        if start >= end {
            &[]
        } else {
            &self.indices[start..end]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(n_ref: usize, n_est: usize, rows: &[&[usize]]) -> HitGraph {
        let mut g = HitGraph::new(n_ref, n_est);
        for (i, row) in rows.iter().enumerate() {
            g.push_row(i, row);
        }
        g
    }

    #[test]
    fn finds_maximum_where_greedy_fails() {
        // ref0 hits est0 and est1; ref1 hits only est0. Greedy (est0 -> ref0)
        // leaves ref1 unmatched; a maximum matching has size 2.
        let g = graph(2, 2, &[&[0, 1], &[0]]);
        assert_eq!(g.maximum_matching(), vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn long_chain_needs_augmenting_path() {
        // est k (k < n-1) hits ref k and ref k+1; est n-1 hits only ref 0.
        // Key order is est0, est(n-1), est1, ...: greedy gives est0 -> ref0
        // and leaves est(n-1) free, so one augmenting path of length n must
        // shift every estimate by one reference.
        let n = 2000;
        let mut g = HitGraph::new(n, n);
        for i in 0..n {
            let row: Vec<usize> = match i {
                0 => vec![0, n - 1],
                i if i == n - 1 => vec![n - 2],
                i => vec![i - 1, i],
            };
            g.push_row(i, &row);
        }
        let m = g.maximum_matching();
        assert_eq!(m.len(), n);
        assert_eq!(m[0], (0, n - 1));
        assert!(m[1..].iter().all(|&(r, e)| e + 1 == r));
    }

    #[test]
    fn sorted_index_window_is_inclusive() {
        let s = SortedIndex::new([0.3, 0.1, 0.2, 0.2].into_iter());
        let mut w = s.within(0.1, 0.2).to_vec();
        w.sort_unstable();
        assert_eq!(w, vec![1, 2, 3]);
        assert!(s.within(0.31, 0.5).is_empty());
    }
}
