//! The plain and the weighted solves of one matrix on bit rows, run side by side on two
//! threads, meet at their products so that one pass over the bits (and the values) serves
//! both: the plain solve's products then cost little more than the bits' compute on top of
//! the weighted pass, instead of a pass of their own.
//!
//! Every result is bit-identical to a product of its own (see [`BitRows::products`]), so how
//! the two solves happen to meet changes nothing in their numbers. A solve that finds the
//! other parked with a product in the same direction serves both in one pass; otherwise each
//! product runs alone. A solve never waits for one that has ended: ending (or unwinding)
//! serves whatever the other left parked.

use std::sync::{Condvar, Mutex, MutexGuard};

use super::bitmap::{BitRows, Block};

/// One solve's product waiting for the other solve.
struct Parked {
    weighted: bool,
    transposed: bool,
    x: Vec<f64>,
    q: usize,
    /// Filled by whoever served it; the owner takes it and empties the slot.
    result: Option<Vec<f64>>,
}

struct State {
    parked: Option<Parked>,
    /// Ended solves, by `weighted`.
    ended: [bool; 2],
}

/// Where the two solves meet.
pub(crate) struct Meeting<'a> {
    rows: &'a BitRows<'a>,
    parallel: bool,
    state: Mutex<State>,
    changed: Condvar,
}

impl<'a> Meeting<'a> {
    pub(crate) fn new(rows: &'a BitRows<'a>, parallel: bool) -> Meeting<'a> {
        Meeting {
            rows,
            parallel,
            state: Mutex::new(State { parked: None, ended: [false; 2] }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means the other solve panicked; its state is still consistent (every
        // change is made whole under the lock), and its end guard has served our product.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `y = A x` (or `Aᵀ x` when `transposed`) for the solve of the pattern or of the values.
    pub(crate) fn product(&self, weighted: bool, transposed: bool, x: &[f64], q: usize, y: &mut [f64]) {
        let mut state = self.lock();
        loop {
            let other_ended = state.ended[usize::from(!weighted)];
            match &mut state.parked {
                Some(parked) if parked.result.is_none() => {
                    // The other solve waits: serve both.
                    // A copy, not a move: if this thread panics before serving, the other's
                    // product is still whole for the end guard to serve.
                    let (other_x, other_q, other_transposed) = (parked.x.clone(), parked.q, parked.transposed);
                    drop(state);
                    let mut other_y = vec![0.0; self.out_len(other_transposed) * other_q];
                    if other_transposed == transposed {
                        let (mine, other) = (Block { x, q, y }, Block { x: &other_x, q: other_q, y: &mut other_y });
                        if weighted {
                            self.pass(transposed, other, mine);
                        } else {
                            self.pass(transposed, mine, other);
                        }
                    } else {
                        self.alone(!weighted, other_transposed, &other_x, other_q, &mut other_y);
                        self.alone(weighted, transposed, x, q, y);
                    }
                    state = self.lock();
                    if let Some(parked) = &mut state.parked {
                        parked.result = Some(other_y);
                    }
                    self.changed.notify_all();
                    return;
                }
                // The other solve's served product, not yet taken.
                Some(_) => state = self.changed.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner()),
                None if other_ended => {
                    drop(state);
                    self.alone(weighted, transposed, x, q, y);
                    return;
                }
                None => {
                    state.parked = Some(Parked { weighted, transposed, x: x.to_vec(), q, result: None });
                    self.changed.notify_all();
                    loop {
                        let served = state.parked.as_mut().and_then(|parked| parked.result.take());
                        if let Some(result) = served {
                            y.copy_from_slice(&result);
                            state.parked = None;
                            self.changed.notify_all();
                            return;
                        }
                        state = self.changed.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
                    }
                }
            }
        }
    }

    /// Marks the solve of the pattern or of the values as ended and serves what the other left
    /// parked. Called by [`EndGuard`], on return and on unwinding.
    pub(crate) fn end(&self, weighted: bool) {
        let mut state = self.lock();
        state.ended[usize::from(weighted)] = true;
        if let Some(parked) = &mut state.parked {
            if parked.result.is_none() && parked.weighted != weighted {
                let (x, q, transposed) = (parked.x.clone(), parked.q, parked.transposed);
                drop(state);
                let mut y = vec![0.0; self.out_len(transposed) * q];
                self.alone(!weighted, transposed, &x, q, &mut y);
                state = self.lock();
                if let Some(parked) = &mut state.parked {
                    parked.result = Some(y);
                }
            }
        }
        self.changed.notify_all();
    }

    fn out_len(&self, transposed: bool) -> usize {
        let (rows, cols) = self.rows.shape();
        if transposed {
            cols
        } else {
            rows
        }
    }

    /// One pass for a block of each solve.
    fn pass(&self, transposed: bool, plain: Block, weighted: Block) {
        if transposed {
            self.rows.products_transposed(Some(plain), Some(weighted), self.parallel);
        } else {
            self.rows.products(Some(plain), Some(weighted), self.parallel);
        }
    }

    fn alone(&self, weighted: bool, transposed: bool, x: &[f64], q: usize, y: &mut [f64]) {
        if transposed {
            self.rows.product_transposed(weighted, x, q, y, self.parallel);
        } else {
            self.rows.product(weighted, x, q, y, self.parallel);
        }
    }
}

/// Ends a solve at the meeting when dropped, so the other never waits on it, even if it
/// panics.
pub(crate) struct EndGuard<'m, 'a> {
    pub(crate) meeting: &'m Meeting<'a>,
    pub(crate) weighted: bool,
}

impl Drop for EndGuard<'_, '_> {
    fn drop(&mut self) {
        self.meeting.end(self.weighted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Csr;

    /// Two threads issue products in unrelated orders (directions, widths, one ending much
    /// earlier): every result equals a product of its own, and nobody waits forever.
    #[test]
    fn meeting_serves_every_product_whatever_the_order() {
        if !super::super::bitmap::available() {
            eprintln!("no AVX-512 on this CPU: the bit-row products are never chosen here");
            return;
        }
        let (n_rows, n_cols) = (90, 150);
        let triplets: Vec<_> = (0..n_rows)
            .flat_map(|r| (0..n_cols).map(move |c| (r, c)))
            .filter(|&(r, c)| (r * 7 + c * 3) % 5 < 2)
            .map(|(r, c)| (r, c, ((r * 31 + c * 17) % 23) as f64 / 7.0 + 0.1))
            .collect();
        let b = Csr::from_triplets(n_rows, n_cols, &triplets).unwrap();
        let rows = BitRows::rows_of(&b);
        let meeting = Meeting::new(&rows, true);
        let run = |weighted: bool, count: usize| {
            let _end = EndGuard { meeting: &meeting, weighted };
            for step in 0..count {
                let transposed = (step * if weighted { 3 } else { 1 }) % 4 < 2;
                let q = 1 + (step + usize::from(weighted)) % 2;
                let (n_in, n_out) = if transposed { (n_rows, n_cols) } else { (n_cols, n_rows) };
                let x: Vec<f64> = (0..n_in * q).map(|i| ((i * 13 + step) % 11) as f64 - 5.0).collect();
                let (mut shared, mut alone) = (vec![f64::NAN; n_out * q], vec![f64::NAN; n_out * q]);
                meeting.product(weighted, transposed, &x, q, &mut shared);
                if transposed {
                    rows.product_transposed(weighted, &x, q, &mut alone, false);
                } else {
                    rows.product(weighted, &x, q, &mut alone, false);
                }
                assert_eq!(shared, alone, "weighted {weighted} step {step}");
            }
        };
        std::thread::scope(|scope| {
            let other = scope.spawn(|| run(true, 200));
            run(false, 37);
            other.join().expect("the weighted thread finishes");
        });
    }
}
