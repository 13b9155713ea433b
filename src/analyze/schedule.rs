//! Checkpoints and layers spread over threads of their own, the costliest first.
//!
//! Why not the rayon pool: a layer's pattern and weighted solves run side by side and meet at
//! each product to share one pass over its bits (`spectral::shared_pass`), and a pool worker
//! must not wait that way (blocked workers could leave none to run the products). On threads
//! of their own every layer gets the shared pass, while its graph building, products and
//! nested subgraphs still run on the pool. Costliest first: a big layer started last would
//! leave the other core idle at the end (longest-processing-time scheduling).

use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `work` on every item, on up to `threads` threads (the caller's among them), taken in order
/// of decreasing `cost`; the results in item order. From a rayon worker, which must not block,
/// the items go to the pool instead.
pub(crate) fn costliest_first<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    cost: impl Fn(&T) -> u64,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    if rayon::current_thread_index().is_some() {
        return items.par_iter().map(&work).collect();
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cost(&items[i])));
    let next = AtomicUsize::new(0);
    let worker = || {
        let mut done = Vec::new();
        while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
            done.push((i, work(&items[i])));
        }
        done
    };
    let threads = threads.clamp(1, items.len().max(1));
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads).map(|_| scope.spawn(worker)).collect();
        let mut done = worker();
        for other in others {
            done.extend(other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        done
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::costliest_first;
    use std::sync::Mutex;

    #[test]
    fn every_item_is_done_once_costliest_first_and_returned_in_order() {
        let items: Vec<u64> = vec![3, 9, 1, 7, 5];
        let started = Mutex::new(Vec::new());
        let results = costliest_first(
            &items,
            1,
            |&c| c,
            |&c| {
                started.lock().unwrap().push(c);
                c * 10
            },
        );
        assert_eq!(results, [30, 90, 10, 70, 50]);
        assert_eq!(started.into_inner().unwrap(), [9, 7, 5, 3, 1]);
        let on_threads = costliest_first(&items, 3, |&c| c, |&c| c + 1);
        assert_eq!(on_threads, [4, 10, 2, 8, 6]);
        let from_pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
            .install(|| costliest_first(&items, 2, |&c| c, |&c| c * 2));
        assert_eq!(from_pool, [6, 18, 2, 14, 10]);
        assert!(costliest_first(&[] as &[u64], 2, |&c| c, |&c| c).is_empty());
    }
}
