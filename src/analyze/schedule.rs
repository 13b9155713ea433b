//! Checkpoints and layers spread over the rayon pool, the costliest first.
//!
//! Costliest first: a big layer started last would leave the other core idle at the end
//! (longest-processing-time scheduling). The items are spawned in that order into a FIFO
//! scope, so the pool's workers take them in order while each item's own parallel work
//! (graph building, products, nested subgraphs) runs on the same workers: no more threads
//! than cores. A lone item runs on the calling thread instead: off the pool, a layer's
//! pattern and weighted solves run side by side and share their passes over the bits
//! (`spectral::shared_pass`), which a pool worker must not wait for.

use std::sync::Mutex;

/// `work` on every item, taken in order of decreasing `cost`; the results in item order.
pub(crate) fn costliest_first<T: Sync, R: Send>(
    items: &[T],
    cost: impl Fn(&T) -> u64,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    if items.len() == 1 {
        return vec![work(&items[0])];
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cost(&items[i])));
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    rayon::scope_fifo(|scope| {
        for &i in &order {
            let (work, results) = (&work, &results);
            scope.spawn_fifo(move |_| {
                let result = work(&items[i]);
                *results[i].lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(result);
            });
        }
    });
    results
        .into_iter()
        .map(|slot| slot.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()).expect("every item is done"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::costliest_first;
    use std::sync::Mutex;

    #[test]
    fn every_item_is_done_once_costliest_first_and_returned_in_order() {
        let items: Vec<u64> = vec![3, 9, 1, 7, 5];
        let one_worker = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let started = Mutex::new(Vec::new());
        let results = one_worker.install(|| {
            costliest_first(
                &items,
                |&c| c,
                |&c| {
                    started.lock().unwrap().push(c);
                    c * 10
                },
            )
        });
        assert_eq!(results, [30, 90, 10, 70, 50]);
        assert_eq!(started.into_inner().unwrap(), [9, 7, 5, 3, 1]);
        assert_eq!(costliest_first(&items, |&c| c, |&c| c + 1), [4, 10, 2, 8, 6]);
        // A lone item runs on the caller, off the pool.
        assert_eq!(costliest_first(&[4u64], |&c| c, |_| rayon::current_thread_index()), [None]);
        assert!(costliest_first(&[] as &[u64], |&c| c, |&c| c).is_empty());
    }
}
