//! A deep leaf's distinct background patterns, searchable by the row's missing features.
//!
//! A row with missing features `M` meets exactly the entries `q` with `q & M == 0`. The entries
//! are sorted by `q`, so they form a binary trie over the bits from the highest down; the trie is
//! built once per leaf (path-compressed, in preorder, each node with the AND and the OR of its
//! entries and the index just past its subtree), so that a row's search is one forward loop
//! with no binary search and no stack: a node whose AND meets `M` is skipped whole, a node whose
//! OR misses `M` is taken whole, anything else is entered. A row then costs about the entries it
//! meets and the nodes around them, however long the list.

/// Ranges of at most this many entries are scanned rather than split further.
const SCAN: usize = 8;

#[derive(Debug, Clone, Copy)]
struct Node {
    /// AND and OR of the node's entries.
    all: u64,
    any: u64,
    lo: u32,
    hi: u32,
    /// Index of the first node after this node's subtree (`index + 1` for a scanned range).
    next: u32,
}

/// Distinct patterns `q` in increasing order, their weights and bit counts, and the trie.
#[derive(Debug, Clone, Default)]
pub struct PatternList {
    q: Vec<u64>,
    w: Vec<f64>,
    pop: Vec<u8>,
    nodes: Vec<Node>,
}

impl PatternList {
    /// From distinct patterns in increasing order with their weights.
    pub fn new(entries: &[(u64, f64)]) -> PatternList {
        debug_assert!(entries.windows(2).all(|e| e[0].0 < e[1].0));
        let q: Vec<u64> = entries.iter().map(|e| e.0).collect();
        let w = entries.iter().map(|e| e.1).collect();
        let pop = q.iter().map(|v| v.count_ones() as u8).collect();
        let nodes = build_nodes(&q);
        PatternList { q, w, pop, nodes }
    }

    pub fn len(&self) -> usize {
        self.q.len()
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Words of memory per entry, trie included (to size groups of trees).
    pub const WORDS_PER_ENTRY: usize = 3;

    /// Calls `visit(q, w, |q|)` for every entry with `q & missing == 0`, in increasing `q`.
    #[inline]
    pub fn for_each_inside(&self, missing: u64, mut visit: impl FnMut(u64, f64, usize)) {
        let nodes = &self.nodes[..];
        let mut i = 0;
        while i < nodes.len() {
            let node = nodes[i];
            let next = node.next as usize;
            if node.all & missing != 0 {
                i = next;
                continue;
            }
            let (lo, hi) = (node.lo as usize, node.hi as usize);
            if node.any & missing == 0 {
                for e in lo..hi {
                    visit(self.q[e], self.w[e], self.pop[e] as usize);
                }
                i = next;
                continue;
            }
            if next == i + 1 {
                for e in lo..hi {
                    if self.q[e] & missing == 0 {
                        visit(self.q[e], self.w[e], self.pop[e] as usize);
                    }
                }
            }
            // Into the first child (preorder), or past a scanned range.
            i += 1;
        }
    }
}

/// The trie's nodes in preorder, by an explicit stack (never recursion).
fn build_nodes(q: &[u64]) -> Vec<Node> {
    enum Frame {
        Enter(usize, usize),
        Exit(usize),
    }
    let mut nodes = Vec::with_capacity(q.len() / 2 + 1);
    if q.is_empty() {
        return nodes;
    }
    let mut stack = vec![Frame::Enter(0, q.len())];
    while let Some(frame) = stack.pop() {
        match frame {
            Frame::Enter(lo, hi) => {
                let (all, any) = q[lo..hi]
                    .iter()
                    .fold((u64::MAX, 0u64), |(a, o), &v| (a & v, o | v));
                let index = nodes.len();
                nodes.push(Node {
                    all,
                    any,
                    lo: lo as u32,
                    hi: hi as u32,
                    next: index as u32 + 1,
                });
                let differ = all ^ any;
                if hi - lo > SCAN && differ != 0 {
                    // The entries agree above bit `b` and are sorted: bit `b` splits them.
                    let b = 63 - differ.leading_zeros();
                    let split = lo + q[lo..hi].partition_point(|&v| (v >> b) & 1 == 0);
                    stack.push(Frame::Exit(index));
                    stack.push(Frame::Enter(split, hi));
                    stack.push(Frame::Enter(lo, split));
                }
            }
            Frame::Exit(index) => nodes[index].next = nodes.len() as u32,
        }
    }
    nodes
}
