//! Structured sparsity (SPEC §8 `--sparsity-pattern`): which masks a sparse layer may have,
//! and the one mechanism that builds them and keeps them through every DST update.
//!
//! A pattern cuts a layer's `[outputs, inputs]` mask into *units*, kept or dropped whole (an
//! element, or a block of `rows × cols` elements), and sorts the units into *groups* that
//! each keep a fixed number of them: the whole layer (unstructured), each output (fan-in),
//! each output's group of `M` consecutive inputs (N:M), or each shape of block (whole blocks,
//! and the blocks the layer's right and bottom edges clip). Every mask, at initialization and
//! after every update, keeps each group's count: the constraint holds by construction.

use std::fmt;
use std::str::FromStr;

use rand::seq::index;
use rand_chacha::ChaCha8Rng;

/// Block sides `--sparsity-pattern blockRxC` takes.
pub const BLOCK_SIDES: [usize; 5] = [1, 2, 4, 8, 16];

/// The structure a run's sparse masks keep (`maskspec train --sparsity-pattern`). Written as
/// the analysis names what it detects (`unstructured`, `block4x4`, `2:4`, `fan-in`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum MaskPattern {
    /// Any position.
    #[default]
    Unstructured,
    /// Aligned `rows × cols` tiles of (output, input) kept or dropped whole.
    Block { rows: usize, cols: usize },
    /// Every group of `m` consecutive inputs of every output keeps exactly `n`: the layer's
    /// density is `n/m`.
    NOfM { n: usize, m: usize },
    /// Every output keeps the same number of inputs (SRigL's constant fan-in).
    FanIn,
}

impl fmt::Display for MaskPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaskPattern::Unstructured => write!(f, "unstructured"),
            MaskPattern::Block { rows, cols } => write!(f, "block{rows}x{cols}"),
            MaskPattern::NOfM { n, m } => write!(f, "{n}:{m}"),
            MaskPattern::FanIn => write!(f, "fan-in"),
        }
    }
}

impl FromStr for MaskPattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let wrong = || {
            format!(
                "unknown sparsity pattern `{text}`: use unstructured, blockRxC (R, C in 1, 2, 4, 8, 16, e.g. \
                 block4x4), N:M (0 < N < M, e.g. 2:4) or fan-in"
            )
        };
        let number = |s: &str| s.parse::<usize>().map_err(|_| wrong());
        match text {
            "unstructured" => return Ok(MaskPattern::Unstructured),
            "fan-in" => return Ok(MaskPattern::FanIn),
            _ => {}
        }
        if let Some((n, m)) = text.split_once(':') {
            let (n, m) = (number(n)?, number(m)?);
            if n == 0 || n >= m {
                return Err(format!("sparsity pattern {text}: N:M needs 0 < N < M"));
            }
            return Ok(MaskPattern::NOfM { n, m });
        }
        let (rows, cols) = text.strip_prefix("block").and_then(|s| s.split_once('x')).ok_or_else(wrong)?;
        let (rows, cols) = (number(rows)?, number(cols)?);
        if !BLOCK_SIDES.contains(&rows) || !BLOCK_SIDES.contains(&cols) {
            return Err(format!("sparsity pattern {text}: block sides must be 1, 2, 4, 8 or 16"));
        }
        if rows * cols == 1 {
            return Ok(MaskPattern::Unstructured);
        }
        Ok(MaskPattern::Block { rows, cols })
    }
}

impl TryFrom<String> for MaskPattern {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<MaskPattern> for String {
    fn from(pattern: MaskPattern) -> String {
        pattern.to_string()
    }
}

impl MaskPattern {
    /// The pattern as a file-name part (`2of4` for `2:4`): run names become directory names.
    pub fn file_name(self) -> String {
        match self {
            MaskPattern::NOfM { n, m } => format!("{n}of{m}"),
            other => other.to_string(),
        }
    }

    /// What the widths a family chooses are multiples of, so the pattern tiles them: the
    /// block's larger side (sides are powers of two), N:M's `m`, else 1.
    pub fn width_multiple(self) -> usize {
        match self {
            MaskPattern::Block { rows, cols } => rows.max(cols),
            MaskPattern::NOfM { m, .. } => m,
            MaskPattern::Unstructured | MaskPattern::FanIn => 1,
        }
    }

    /// The density an N:M pattern fixes.
    pub fn fixed_density(self) -> Option<f64> {
        match self {
            MaskPattern::NOfM { n, m } => Some(n as f64 / m as f64),
            _ => None,
        }
    }

    /// The pattern a `[outputs, inputs]` layer at `density` gets: N:M where the inputs come in
    /// whole groups of `m` and the density is within 2% of `n/m` (widths are whole numbers:
    /// Sparse Wide's hidden layers are at 0.5001 for 2:4), else the constant fan-in closest to
    /// it (Sparse Wide's first and last layers and most of ERK's have other densities).
    pub fn for_layer(self, inputs: usize, density: f64) -> MaskPattern {
        match self {
            MaskPattern::NOfM { n, m } => {
                let holds = inputs.is_multiple_of(m) && (density * m as f64 / n as f64 - 1.0).abs() <= 0.02;
                if holds {
                    self
                } else {
                    MaskPattern::FanIn
                }
            }
            other => other,
        }
    }
}

/// One layer's mask cut into a pattern's units and groups (module docs). Units are numbered
/// so that an element pattern's unit is its flat position `output·inputs + input`.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskGrid {
    pattern: MaskPattern,
    rows: usize,
    cols: usize,
    /// Tile sides (1 × 1 for the element patterns).
    tile: (usize, usize),
}

/// The units of every group of a [`MaskGrid`]: `members[group_ptr[g]..group_ptr[g + 1]]`,
/// ascending; O(units) and 4 bytes a unit, so it is cut only to draw or update a mask.
pub struct Groups {
    group_ptr: Vec<usize>,
    members: Vec<u32>,
}

impl Groups {
    /// The units of every group, in group order.
    pub fn iter(&self) -> impl Iterator<Item = &[u32]> {
        self.group_ptr.windows(2).map(|w| &self.members[w[0]..w[1]])
    }

    /// The group of every unit.
    pub fn of_units(&self) -> Vec<u32> {
        let mut group = vec![0u32; self.members.len()];
        for (g, members) in self.iter().enumerate() {
            for &u in members {
                group[u as usize] = g as u32;
            }
        }
        group
    }
}

impl MaskGrid {
    /// `pattern` should be the layer's own ([`MaskPattern::for_layer`]).
    pub fn new(pattern: MaskPattern, rows: usize, cols: usize) -> Self {
        let tile = match pattern {
            MaskPattern::Block { rows, cols } => (rows, cols),
            _ => (1, 1),
        };
        MaskGrid { pattern, rows, cols, tile }
    }

    /// The units sorted by group (a counting sort).
    pub fn groups(&self) -> Groups {
        let units = self.units();
        let mut group_ptr = vec![0usize; self.group_count() + 1];
        for u in 0..units {
            group_ptr[self.group_of(u) + 1] += 1;
        }
        for g in 0..self.group_count() {
            group_ptr[g + 1] += group_ptr[g];
        }
        let mut next = group_ptr.clone();
        let mut members = vec![0u32; units];
        for u in 0..units {
            let g = self.group_of(u);
            members[next[g]] = u as u32;
            next[g] += 1;
        }
        Groups { group_ptr, members }
    }

    fn tile_grid(&self) -> (usize, usize) {
        (self.rows.div_ceil(self.tile.0), self.cols.div_ceil(self.tile.1))
    }

    pub fn units(&self) -> usize {
        let (tr, tc) = self.tile_grid();
        tr * tc
    }

    fn group_count(&self) -> usize {
        match self.pattern {
            MaskPattern::Unstructured => 1,
            MaskPattern::FanIn => self.rows,
            MaskPattern::NOfM { m, .. } => self.rows * self.cols.div_ceil(m),
            // Whole tiles, tiles clipped on the right, at the bottom, at the corner.
            MaskPattern::Block { .. } => 4,
        }
    }

    fn group_of(&self, unit: usize) -> usize {
        match self.pattern {
            MaskPattern::Unstructured => 0,
            MaskPattern::FanIn => unit / self.cols,
            MaskPattern::NOfM { m, .. } => (unit / self.cols) * self.cols.div_ceil(m) + (unit % self.cols) / m,
            MaskPattern::Block { .. } => {
                let (tr, tc) = self.tile_grid();
                let clipped_bottom = unit / tc == tr - 1 && !self.rows.is_multiple_of(self.tile.0);
                let clipped_right = unit % tc == tc - 1 && !self.cols.is_multiple_of(self.tile.1);
                2 * usize::from(clipped_bottom) + usize::from(clipped_right)
            }
        }
    }

    /// The unit holding the flat position `pos`.
    pub fn unit_of(&self, pos: usize) -> usize {
        let (r, c) = (pos / self.cols, pos % self.cols);
        (r / self.tile.0) * self.tile_grid().1 + c / self.tile.1
    }

    /// The flat positions of `unit`, row by row.
    pub fn positions(&self, unit: usize) -> impl Iterator<Item = usize> + '_ {
        let tc = self.tile_grid().1;
        let (r0, c0) = ((unit / tc) * self.tile.0, (unit % tc) * self.tile.1);
        let (r1, c1) = ((r0 + self.tile.0).min(self.rows), (c0 + self.tile.1).min(self.cols));
        (r0..r1).flat_map(move |r| (c0..c1).map(move |c| r * self.cols + c))
    }

    /// The groups by shape: (how many groups, units in each, elements in each unit), in
    /// closed form, so a layer's nonzeros are known without cutting it.
    fn classes(&self) -> Vec<(usize, usize, usize)> {
        let (rows, cols) = (self.rows, self.cols);
        match self.pattern {
            MaskPattern::Unstructured => vec![(1, rows * cols, 1)],
            MaskPattern::FanIn => vec![(rows, cols, 1)],
            MaskPattern::NOfM { m, .. } => {
                vec![(rows * (cols / m), m, 1), (rows * usize::from(cols % m > 0), cols % m, 1)]
            }
            MaskPattern::Block { rows: r, cols: c } => {
                let (full_r, full_c, rest_r, rest_c) = (rows / r, cols / c, rows % r, cols % c);
                let (more_r, more_c) = (usize::from(rest_r > 0), usize::from(rest_c > 0));
                vec![
                    (1, full_r * full_c, r * c),
                    (1, full_r * more_c, r * rest_c),
                    (1, more_r * full_c, rest_r * c),
                    (1, more_r * more_c, rest_r * rest_c),
                ]
            }
        }
    }

    /// Units a group of `len` units keeps at `density`: `round(density · len)`. Where that
    /// keeps nothing anywhere, each group of the first shape keeps one unit instead.
    pub fn quota(&self, density: f64) -> impl Fn(usize) -> usize + use<> {
        let share = move |len: usize| ((density * len as f64).round() as usize).min(len);
        let classes = self.classes();
        let keeps_any = classes.iter().any(|&(groups, units, _)| groups > 0 && share(units) > 0);
        let first = classes.iter().find(|&&(groups, units, _)| groups * units > 0).map(|c| c.1);
        move |len| if !keeps_any && Some(len) == first { 1 } else { share(len) }
    }

    /// The nonzeros a mask at `density` holds: every group's quota of its units.
    pub fn nonzeros(&self, density: f64) -> usize {
        let quota = self.quota(density);
        self.classes().iter().map(|&(groups, units, area)| groups * quota(units) * area).sum()
    }

    /// A random mask at `density`: each group keeps its quota of units, drawn with `rng`.
    /// For the unstructured pattern this is `index::sample(size, nonzeros)` over the flat
    /// positions, as the trainer has always drawn it.
    pub fn random_mask(&self, density: f64, rng: &mut ChaCha8Rng) -> Vec<bool> {
        let mut mask = vec![false; self.rows * self.cols];
        let quota = self.quota(density);
        for group in self.groups().iter() {
            for k in index::sample(rng, group.len(), quota(group.len())) {
                for p in self.positions(group[k] as usize) {
                    mask[p] = true;
                }
            }
        }
        mask
    }

    /// Whether `mask` keeps the pattern's units whole and every group at its count in
    /// `reference` (another mask of the same layer, e.g. the one before an update).
    pub fn same_counts(&self, mask: &[bool], reference: &[bool]) -> bool {
        let whole = (0..self.units()).all(|u| {
            let mut p = self.positions(u);
            let first = p.next().map(|p| mask[p]);
            p.all(|p| Some(mask[p]) == first)
        });
        let count = |m: &[bool], g: &[u32]| g.iter().filter(|&&u| self.positions(u as usize).any(|p| m[p])).count();
        whole && self.groups().iter().all(|g| count(mask, g) == count(reference, g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn patterns_read_as_the_analysis_writes_them() {
        for text in ["unstructured", "block4x4", "block1x16", "2:4", "1:8", "fan-in"] {
            assert_eq!(text.parse::<MaskPattern>().unwrap().to_string(), text);
        }
        assert_eq!("block1x1".parse::<MaskPattern>(), Ok(MaskPattern::Unstructured));
        assert_eq!(MaskPattern::NOfM { n: 2, m: 4 }.file_name(), "2of4");
        for bad in ["block3x3", "4:2", "0:4", "block4", "2:x", "blocky", "fanin", ""] {
            assert!(bad.parse::<MaskPattern>().is_err(), "{bad}");
        }
    }

    #[test]
    fn each_group_keeps_its_quota() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let rows_of =
            |m: &[bool], cols: usize| m.chunks(cols).map(|r| r.iter().filter(|&&k| k).count()).collect::<Vec<_>>();
        // Fan-in: every output keeps round(0.3 · 25) = 8 inputs.
        let grid = MaskGrid::new(MaskPattern::FanIn, 6, 25);
        let mask = grid.random_mask(0.3, &mut rng);
        assert_eq!(rows_of(&mask, 25), vec![8; 6]);
        assert_eq!(grid.nonzeros(0.3), 48);
        // 2:4: each quarter of each row keeps two.
        let grid = MaskGrid::new(MaskPattern::NOfM { n: 2, m: 4 }, 5, 16);
        let mask = grid.random_mask(0.5, &mut rng);
        for quad in mask.chunks(4) {
            assert_eq!(quad.iter().filter(|&&k| k).count(), 2);
        }
        // 4×4 blocks on 10 × 18: 8 whole tiles, 2 clipped right (4×2), 4 at the bottom
        // (2×4), 1 in the corner (2×2), each shape keeping half its tiles (rounded).
        let grid = MaskGrid::new(MaskPattern::Block { rows: 4, cols: 4 }, 10, 18);
        assert_eq!(grid.units(), 15);
        let mask = grid.random_mask(0.5, &mut rng);
        assert!(grid.same_counts(&mask, &mask));
        assert_eq!(mask.iter().filter(|&&k| k).count(), grid.nonzeros(0.5));
        assert_eq!(grid.nonzeros(0.5), 4 * 16 + 8 + 2 * 8 + 4);
        // Unstructured draws exactly what index::sample draws.
        let grid = MaskGrid::new(MaskPattern::Unstructured, 7, 9);
        let mut a = ChaCha8Rng::seed_from_u64(3);
        let mut b = a.clone();
        let mask = grid.random_mask(0.2, &mut a);
        let expected: Vec<usize> = index::sample(&mut b, 63, 13).into_iter().collect();
        assert!(expected.iter().all(|&p| mask[p]) && mask.iter().filter(|&&k| k).count() == 13);
    }

    #[test]
    fn n_of_m_falls_back_to_fan_in_where_its_density_cannot_hold() {
        let two_of_four = MaskPattern::NOfM { n: 2, m: 4 };
        assert_eq!(two_of_four.for_layer(16, 0.5), two_of_four);
        assert_eq!(two_of_four.for_layer(18, 0.5), MaskPattern::FanIn);
        assert_eq!(two_of_four.for_layer(16, 0.505), two_of_four);
        assert_eq!(two_of_four.for_layer(16, 0.7), MaskPattern::FanIn);
        assert_eq!(MaskPattern::Block { rows: 2, cols: 2 }.for_layer(3, 0.1), MaskPattern::Block { rows: 2, cols: 2 });
    }

    #[test]
    fn a_tiny_density_still_keeps_one_unit() {
        let grid = MaskGrid::new(MaskPattern::Block { rows: 4, cols: 4 }, 8, 8);
        assert_eq!(grid.nonzeros(0.01), 16);
        let grid = MaskGrid::new(MaskPattern::FanIn, 8, 50);
        assert_eq!(grid.nonzeros(0.001), 8);
        let grid = MaskGrid::new(MaskPattern::Unstructured, 8, 50);
        assert_eq!(grid.nonzeros(0.001), 1);
    }
}
