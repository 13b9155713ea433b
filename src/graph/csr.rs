use rayon::prelude::*;

use crate::checkpoint::{MaskElement, WeightElement};

/// A sparse matrix in compressed sparse row form. As a biadjacency: rows are output nodes,
/// columns input nodes, `values` the edge weights `|W_ij|` (the 0/1 graph is the same
/// pattern with every value taken as 1).
///
/// The fields are the crate's: every constructor keeps the invariants that the kernels
/// (some of them unchecked SIMD loads) rely on, and [`Csr::new`] checks them on parts built
/// elsewhere:
/// - `row_ptr` has `n_rows + 1` entries, starts at 0, never decreases and ends at the number
///   of entries;
/// - `col_idx` and `values` have one element per entry; every column is below `n_cols`
///   (which fits in a `u32`) and a row's columns ascend strictly.
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    pub(crate) n_rows: usize,
    pub(crate) n_cols: usize,
    /// `row_ptr[r]..row_ptr[r + 1]` indexes row `r`'s entries; length `n_rows + 1`.
    pub(crate) row_ptr: Vec<usize>,
    /// Column of each entry, ascending within a row.
    pub(crate) col_idx: Vec<u32>,
    pub(crate) values: Vec<f64>,
}

/// Why parts given to [`Csr::new`] do not make a matrix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CsrError {
    #[error("row_ptr has {found} entries, a matrix of {n_rows} rows needs {}", n_rows + 1)]
    RowPtrLength { n_rows: usize, found: usize },
    #[error("row_ptr must start at 0, never decrease and end at the {entries} entries")]
    RowPtrOrder { entries: usize },
    #[error("{col_idx} column indices for {values} values")]
    Lengths { col_idx: usize, values: usize },
    #[error("row {row}: column {column} is not below {n_cols} or not after the row's previous column")]
    Column { row: usize, column: u32, n_cols: usize },
    #[error("row {row} is not below the {n_rows} rows")]
    Row { row: usize, n_rows: usize },
    #[error("{n_cols} columns do not fit 32-bit column indices")]
    TooManyColumns { n_cols: usize },
}

impl Csr {
    /// A matrix from its parts, checked (see the type's invariants).
    pub fn new(
        n_rows: usize,
        n_cols: usize,
        row_ptr: Vec<usize>,
        col_idx: Vec<u32>,
        values: Vec<f64>,
    ) -> Result<Csr, CsrError> {
        if u32::try_from(n_cols).is_err() {
            return Err(CsrError::TooManyColumns { n_cols });
        }
        if row_ptr.len() != n_rows + 1 {
            return Err(CsrError::RowPtrLength { n_rows, found: row_ptr.len() });
        }
        if col_idx.len() != values.len() {
            return Err(CsrError::Lengths { col_idx: col_idx.len(), values: values.len() });
        }
        let entries = col_idx.len();
        if row_ptr[0] != 0 || row_ptr[n_rows] != entries || row_ptr.windows(2).any(|w| w[1] < w[0]) {
            return Err(CsrError::RowPtrOrder { entries });
        }
        for (row, w) in row_ptr.windows(2).enumerate() {
            let cols = &col_idx[w[0]..w[1]];
            let bad = cols.iter().enumerate().find(|&(i, &c)| c as usize >= n_cols || (i > 0 && c <= cols[i - 1]));
            if let Some((_, &column)) = bad {
                return Err(CsrError::Column { row, column, n_cols });
            }
        }
        Ok(Csr { n_rows, n_cols, row_ptr, col_idx, values })
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    pub fn row_ptr(&self) -> &[usize] {
        &self.row_ptr
    }

    pub fn col_idx(&self) -> &[u32] {
        &self.col_idx
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The entries of a row-major `n_rows × n_cols` matrix where `keep` is true, with value
    /// `|weight|`. Panics if the lengths disagree with the shape (a caller bug: readers
    /// check shapes first).
    pub fn from_dense_mask<K: MaskElement, W: WeightElement>(
        n_rows: usize,
        n_cols: usize,
        keep: &[K],
        weight: &[W],
    ) -> Csr {
        assert_eq!(keep.len(), n_rows * n_cols);
        assert_eq!(weight.len(), n_rows * n_cols);
        if n_rows == 0 || n_cols == 0 {
            return Csr { n_rows, n_cols, row_ptr: vec![0; n_rows + 1], col_idx: Vec::new(), values: Vec::new() };
        }
        // Rows in parallel: count, then fill each row's own slice (a 4096 × 11008 layer took
        // 0.2 s on one thread).
        let counts: Vec<usize> = keep.par_chunks(n_cols).map(|row| row.iter().filter(|k| k.kept()).count()).collect();
        let mut row_ptr = Vec::with_capacity(n_rows + 1);
        row_ptr.push(0);
        for count in &counts {
            row_ptr.push(row_ptr[row_ptr.len() - 1] + count);
        }
        let nnz = row_ptr[n_rows];
        let mut col_idx = vec![0u32; nnz];
        let mut values = vec![0.0; nnz];
        let mut rows = Vec::with_capacity(n_rows);
        let (mut cols_left, mut values_left) = (&mut col_idx[..], &mut values[..]);
        for &count in &counts {
            let (cols, rest) = cols_left.split_at_mut(count);
            cols_left = rest;
            let (vals, rest) = values_left.split_at_mut(count);
            values_left = rest;
            rows.push((cols, vals));
        }
        rows.into_par_iter().zip(keep.par_chunks(n_cols).zip(weight.par_chunks(n_cols))).for_each_init(
            || (vec![0u32; n_cols + 1], vec![0.0; n_cols + 1]),
            |(scratch_cols, scratch_values), ((cols, vals), (keep, weight))| {
                // Every position is written and the length advances only where `keep` holds: no
                // branch per entry, which at a density of 10–50% mispredicts often. The
                // scratch row has a spare slot for the write after the last entry.
                let mut len = 0;
                for (c, (&k, &w)) in keep.iter().zip(weight).enumerate() {
                    scratch_cols[len] = c as u32;
                    scratch_values[len] = w.magnitude();
                    len += usize::from(k.kept());
                }
                cols.copy_from_slice(&scratch_cols[..len]);
                vals.copy_from_slice(&scratch_values[..len]);
            },
        );
        Csr { n_rows, n_cols, row_ptr, col_idx, values }
    }

    /// Builds a matrix from `(row, col, value)` triplets (any order), checked: an index out
    /// of range or a repeated position is an error.
    pub fn from_triplets(n_rows: usize, n_cols: usize, triplets: &[(usize, usize, f64)]) -> Result<Csr, CsrError> {
        let mut sorted = triplets.to_vec();
        sorted.sort_by_key(|&(r, c, _)| (r, c));
        let mut row_ptr = vec![0usize; n_rows + 1];
        for &(r, c, _) in &sorted {
            if r >= n_rows {
                return Err(CsrError::Row { row: r, n_rows });
            }
            if c >= n_cols || u32::try_from(c).is_err() {
                return Err(CsrError::Column { row: r, column: c.min(u32::MAX as usize) as u32, n_cols });
            }
            row_ptr[r + 1] += 1;
        }
        for r in 0..n_rows {
            row_ptr[r + 1] += row_ptr[r];
        }
        let col_idx = sorted.iter().map(|&(_, c, _)| c as u32).collect();
        Csr::new(n_rows, n_cols, row_ptr, col_idx, sorted.iter().map(|&(_, _, v)| v).collect())
    }

    pub fn nnz(&self) -> usize {
        self.col_idx.len()
    }

    /// The columns and values of row `r`.
    pub fn row(&self, r: usize) -> (&[u32], &[f64]) {
        let range = self.row_ptr[r]..self.row_ptr[r + 1];
        (&self.col_idx[range.clone()], &self.values[range])
    }

    pub fn row_degrees(&self) -> Vec<usize> {
        self.row_ptr.windows(2).map(|w| w[1] - w[0]).collect()
    }

    pub fn col_degrees(&self) -> Vec<usize> {
        // Chunks of entries counted in parallel (22.5 M entries took 15 ms on one thread); the
        // counts are integers, so the sum is the same in any order.
        const ENTRIES_PER_TASK: usize = 1 << 20;
        let count = |entries: &[u32]| {
            let mut degrees = vec![0usize; self.n_cols];
            for &c in entries {
                degrees[c as usize] += 1;
            }
            degrees
        };
        if self.col_idx.len() <= ENTRIES_PER_TASK {
            return count(&self.col_idx);
        }
        self.col_idx
            .par_chunks(ENTRIES_PER_TASK)
            .map(count)
            .reduce_with(|mut sum, part| {
                sum.iter_mut().zip(part).for_each(|(s, p)| *s += p);
                sum
            })
            .unwrap_or_else(|| vec![0; self.n_cols])
    }

    /// The transpose, as a CSR matrix of its own (rows ↔ columns).
    pub fn transpose(&self) -> Csr {
        let mut row_ptr = vec![0usize; self.n_cols + 1];
        for &c in &self.col_idx {
            row_ptr[c as usize + 1] += 1;
        }
        for c in 0..self.n_cols {
            row_ptr[c + 1] += row_ptr[c];
        }
        let mut next = row_ptr.clone();
        let mut col_idx = vec![0u32; self.nnz()];
        let mut values = vec![0f64; self.nnz()];
        for r in 0..self.n_rows {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                let slot = &mut next[c as usize];
                col_idx[*slot] = r as u32;
                values[*slot] = v;
                *slot += 1;
            }
        }
        Csr { n_rows: self.n_cols, n_cols: self.n_rows, row_ptr, col_idx, values }
    }

    /// Keeps only the given columns (ascending), renumbered 0.. in that order.
    pub fn select_columns(&self, columns: &[usize]) -> Csr {
        let mut new_index = vec![u32::MAX; self.n_cols];
        for (i, &c) in columns.iter().enumerate() {
            new_index[c] = i as u32;
        }
        let mut row_ptr = Vec::with_capacity(self.n_rows + 1);
        let mut col_idx = Vec::new();
        let mut values = Vec::new();
        row_ptr.push(0);
        for r in 0..self.n_rows {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                let n = new_index[c as usize];
                if n != u32::MAX {
                    col_idx.push(n);
                    values.push(v);
                }
            }
            row_ptr.push(col_idx.len());
        }
        Csr { n_rows: self.n_rows, n_cols: columns.len(), row_ptr, col_idx, values }
    }

    /// Drops empty rows and columns (isolated nodes). Returns the reduced matrix and the
    /// original index of each kept column.
    pub fn without_isolated(self) -> (Csr, Vec<usize>) {
        let kept_cols: Vec<usize> =
            self.col_degrees().iter().enumerate().filter(|(_, &d)| d > 0).map(|(c, _)| c).collect();
        // Most layers have no isolated input: then only empty rows go, without a copy.
        let reduced = if kept_cols.len() == self.n_cols { self } else { self.select_columns(&kept_cols) };
        (reduced.without_empty_rows(), kept_cols)
    }

    /// Drops the rows without entries.
    fn without_empty_rows(self) -> Csr {
        let mut row_ptr = Vec::with_capacity(self.n_rows + 1);
        row_ptr.push(0);
        for w in self.row_ptr.windows(2) {
            if w[1] > w[0] {
                row_ptr.push(w[1]);
            }
        }
        Csr { n_rows: row_ptr.len() - 1, n_cols: self.n_cols, row_ptr, col_idx: self.col_idx, values: self.values }
    }

    /// `select_columns(group).without_isolated().0` for every group of distinct columns at once:
    /// one pass over the matrix however many groups (a layer of 10⁴ inputs has hundreds of
    /// degree classes, and a pass per class would cost hundreds of passes). Every column of a
    /// group must have an entry, so only empty rows are dropped.
    ///
    /// Rows are counted and copied in parallel, in chunks: each group's entries are laid out
    /// from the counts first, so every chunk writes its own slice of each group (an LLM layer's
    /// 22.5 M entries into 156 groups took 255 ms on one thread).
    pub fn column_groups(&self, groups: &[Vec<usize>]) -> Vec<Csr> {
        const ROWS_PER_CHUNK: usize = 256;
        let (n_rows, n_groups) = (self.n_rows, groups.len());
        if n_groups == 0 {
            return Vec::new();
        }
        let mut group_of = vec![u32::MAX; self.n_cols];
        let mut new_index = vec![0u32; self.n_cols];
        for (g, columns) in groups.iter().enumerate() {
            for (i, &c) in columns.iter().enumerate() {
                group_of[c] = g as u32;
                new_index[c] = i as u32;
            }
        }
        // `counts[r * n_groups + g]`: the entries of group `g` in row `r`.
        let mut counts = vec![0u32; n_rows * n_groups];
        counts.par_chunks_mut(n_groups).enumerate().for_each(|(r, row_counts)| {
            for &c in self.row(r).0 {
                if let Some(count) = row_counts.get_mut(group_of[c as usize] as usize) {
                    *count += 1;
                }
            }
        });
        let row_ptrs: Vec<Vec<usize>> = (0..n_groups)
            .into_par_iter()
            .map(|g| {
                let mut row_ptr = Vec::with_capacity(n_rows + 1);
                row_ptr.push(0);
                let mut sum = 0;
                for r in 0..n_rows {
                    sum += counts[r * n_groups + g] as usize;
                    row_ptr.push(sum);
                }
                row_ptr
            })
            .collect();
        let mut col_idx: Vec<Vec<u32>> = row_ptrs.iter().map(|row_ptr| vec![0; row_ptr[n_rows]]).collect();
        let mut values: Vec<Vec<f64>> = row_ptrs.iter().map(|row_ptr| vec![0.0; row_ptr[n_rows]]).collect();
        // Each chunk's slice of every group's entries. Rows are in order within a chunk, and
        // columns ascending within a row, so each group's rows keep ascending columns as long as
        // the group lists its columns ascending.
        let chunks: Vec<std::ops::Range<usize>> =
            (0..n_rows).step_by(ROWS_PER_CHUNK).map(|first| first..(first + ROWS_PER_CHUNK).min(n_rows)).collect();
        let mut pieces: Vec<Vec<(&mut [u32], &mut [f64])>> =
            chunks.iter().map(|_| Vec::with_capacity(n_groups)).collect();
        for ((cols, vals), row_ptr) in col_idx.iter_mut().zip(values.iter_mut()).zip(&row_ptrs) {
            let (mut cols, mut vals) = (cols.as_mut_slice(), vals.as_mut_slice());
            for (chunk, rows) in pieces.iter_mut().zip(&chunks) {
                let n = row_ptr[rows.end] - row_ptr[rows.start];
                let (chunk_cols, rest_cols) = std::mem::take(&mut cols).split_at_mut(n);
                let (chunk_vals, rest_vals) = std::mem::take(&mut vals).split_at_mut(n);
                chunk.push((chunk_cols, chunk_vals));
                (cols, vals) = (rest_cols, rest_vals);
            }
        }
        pieces.into_par_iter().zip(&chunks).for_each(|(mut pieces, rows)| {
            let mut next = vec![0usize; n_groups];
            for r in rows.clone() {
                let (cols, vals) = self.row(r);
                for (&c, &v) in cols.iter().zip(vals) {
                    let g = group_of[c as usize] as usize;
                    if let Some((group_cols, group_vals)) = pieces.get_mut(g) {
                        group_cols[next[g]] = new_index[c as usize];
                        group_vals[next[g]] = v;
                        next[g] += 1;
                    }
                }
            }
        });
        let parts: Vec<Csr> = row_ptrs
            .into_iter()
            .zip(col_idx)
            .zip(values)
            .zip(groups)
            .map(|(((row_ptr, col_idx), values), columns)| Csr {
                n_rows,
                n_cols: columns.len(),
                row_ptr,
                col_idx,
                values,
            })
            .collect();
        parts.into_par_iter().map(Csr::without_empty_rows).collect()
    }

    /// The dense row-major matrix (tests and the small exact path only).
    pub fn to_dense(&self, weighted: bool) -> Vec<f64> {
        let mut dense = vec![0.0; self.n_rows * self.n_cols];
        for r in 0..self.n_rows {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                dense[r * self.n_cols + c as usize] = if weighted { v } else { 1.0 };
            }
        }
        dense
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Csr {
        // 3 outputs × 4 inputs; row 1 and column 2 are empty.
        Csr::from_triplets(3, 4, &[(0, 0, 1.0), (0, 3, -2.0), (2, 1, 3.0), (2, 3, 4.0)]).unwrap()
    }

    /// Parts that would let a kernel read out of bounds are refused, each with its reason.
    #[test]
    fn parts_that_break_an_invariant_are_refused() {
        let good = sample();
        let parts = |row_ptr: Vec<usize>, col_idx: Vec<u32>| Csr::new(3, 4, row_ptr, col_idx, vec![1.0; 4]);
        assert_eq!(parts(good.row_ptr.clone(), good.col_idx.clone()).map(|m| m.row_ptr), Ok(good.row_ptr.clone()));
        assert!(matches!(parts(vec![0, 2, 4], vec![0, 3, 1, 3]), Err(CsrError::RowPtrLength { .. })));
        assert!(matches!(parts(vec![0, 2, 1, 4], vec![0, 3, 1, 3]), Err(CsrError::RowPtrOrder { .. })));
        assert!(matches!(parts(vec![0, 2, 2, 3], vec![0, 3, 1, 3]), Err(CsrError::RowPtrOrder { .. })));
        assert!(matches!(parts(vec![0, 2, 2, 4], vec![0, 4, 1, 3]), Err(CsrError::Column { row: 0, column: 4, .. })));
        assert!(matches!(parts(vec![0, 2, 2, 4], vec![3, 0, 1, 3]), Err(CsrError::Column { row: 0, column: 0, .. })));
        assert!(matches!(Csr::new(1, 1, vec![0, 1], vec![0], vec![]), Err(CsrError::Lengths { .. })));
        assert!(matches!(Csr::from_triplets(2, 2, &[(2, 0, 1.0)]), Err(CsrError::Row { row: 2, .. })));
        assert!(matches!(Csr::from_triplets(2, 2, &[(0, 1, 1.0), (0, 1, 2.0)]), Err(CsrError::Column { .. })));
    }

    #[test]
    fn transpose_twice_is_identity() {
        let m = sample();
        assert_eq!(m.transpose().transpose(), m);
        assert_eq!(m.transpose().row(3), (&[0u32, 2][..], &[-2.0, 4.0][..]));
    }

    #[test]
    fn isolated_nodes_are_dropped() {
        let (m, kept) = sample().without_isolated();
        assert_eq!((m.n_rows, m.n_cols, kept), (2, 3, vec![0, 1, 3]));
        assert_eq!(m.to_dense(true), vec![1.0, 0.0, -2.0, 0.0, 3.0, 4.0]);
    }

    #[test]
    fn column_groups_equal_one_selection_per_group() {
        let m = Csr::from_triplets(
            4,
            5,
            &[(0, 0, 1.0), (0, 2, 2.0), (0, 4, 3.0), (1, 1, 4.0), (2, 0, 5.0), (2, 3, 6.0), (3, 4, 7.0)],
        )
        .unwrap();
        let groups = vec![vec![0, 4], vec![1], vec![2, 3]];
        let parts = m.column_groups(&groups);
        for (part, group) in parts.iter().zip(&groups) {
            assert_eq!(part, &m.select_columns(group).without_isolated().0, "group {group:?}");
        }
        assert_eq!((parts[1].n_rows, parts[1].n_cols), (1, 1));
    }

    /// Several row chunks (600 rows), rows empty in some groups, columns in no group.
    #[test]
    fn column_groups_span_row_chunks() {
        let triplets: Vec<_> = (0..600)
            .flat_map(|r| (0..40).map(move |c| (r, c)))
            .filter(|&(r, c)| (r * 7 + c * 13) % 5 < 2 && !(r % 50 == 3 && c < 20))
            .map(|(r, c)| (r, c, (r * 40 + c) as f64 + 0.5))
            .collect();
        let m = Csr::from_triplets(600, 40, &triplets).unwrap();
        let groups: Vec<Vec<usize>> = vec![(0..20).step_by(3).collect(), (20..40).collect(), vec![1, 2, 4]];
        let parts = m.column_groups(&groups);
        assert_eq!(parts.len(), groups.len());
        for (part, group) in parts.iter().zip(&groups) {
            assert_eq!(part, &m.select_columns(group).without_isolated().0, "group {group:?}");
        }
    }

    #[test]
    fn dense_mask_keeps_absolute_weights() {
        let m = Csr::from_dense_mask(2, 2, &[true, false, false, true], &[-1.5, 9.0, 0.0, 2.0]);
        assert_eq!(m.to_dense(true), vec![1.5, 0.0, 0.0, 2.0]);
        assert_eq!((m.row_degrees(), m.col_degrees()), (vec![1, 1], vec![1, 1]));
    }

    #[test]
    fn dense_mask_equals_the_triplets_it_keeps() {
        for (n_rows, n_cols) in [(0, 3), (3, 0), (1, 1), (4, 7), (7, 4)] {
            for pattern in 0..3u32 {
                let keep: Vec<bool> =
                    (0..n_rows * n_cols).map(|i| pattern == 1 || (pattern == 2 && (i * 7) % 3 == 0)).collect();
                let weight: Vec<f64> = (0..n_rows * n_cols).map(|i| i as f64 - 5.5).collect();
                let triplets: Vec<(usize, usize, f64)> = (0..n_rows * n_cols)
                    .filter(|&i| keep[i])
                    .map(|i| (i / n_cols, i % n_cols, weight[i].abs()))
                    .collect();
                assert_eq!(
                    Csr::from_dense_mask(n_rows, n_cols, &keep, &weight),
                    Csr::from_triplets(n_rows, n_cols, &triplets).unwrap(),
                    "{n_rows}x{n_cols}, pattern {pattern}"
                );
            }
        }
    }
}
