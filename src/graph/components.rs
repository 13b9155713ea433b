use super::Csr;

/// Connected components of the bipartite graph with biadjacency `b` (union–find over its
/// edges; every row and column is a node, so isolated nodes count as components of their own).
pub fn connected_components(b: &Csr) -> usize {
    let n = b.n_rows + b.n_cols;
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut components = n;
    for r in 0..b.n_rows {
        // The row's root, kept current through its own unions: one find per edge, not two.
        let mut root = find(&mut parent, r);
        for &c in b.row(r).0 {
            let z = find(&mut parent, b.n_rows + c as usize);
            if root != z {
                parent[root] = z;
                root = z;
                components -= 1;
            }
        }
    }
    components
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_disjoint_edges_and_an_isolated_column() {
        let b = Csr::from_triplets(2, 3, &[(0, 0, 1.0), (1, 1, 1.0)]).unwrap();
        assert_eq!(connected_components(&b), 3);
    }

    /// Components by breadth-first search over rows and columns: the independent count.
    fn by_search(b: &Csr) -> usize {
        let t = b.transpose();
        let n = b.n_rows + b.n_cols;
        let mut seen = vec![false; n];
        let mut components = 0;
        for start in 0..n {
            if seen[start] {
                continue;
            }
            components += 1;
            seen[start] = true;
            let mut stack = vec![start];
            while let Some(node) = stack.pop() {
                let neighbours: Vec<usize> = if node < b.n_rows {
                    b.row(node).0.iter().map(|&c| b.n_rows + c as usize).collect()
                } else {
                    t.row(node - b.n_rows).0.iter().map(|&r| r as usize).collect()
                };
                for next in neighbours {
                    if !seen[next] {
                        seen[next] = true;
                        stack.push(next);
                    }
                }
            }
        }
        components
    }

    #[test]
    fn union_find_counts_what_a_search_counts() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        // From many small components and isolated nodes to a single one.
        let mut counts = Vec::new();
        for density in [0.002, 0.01, 0.03, 0.1, 0.5] {
            let (n_rows, n_cols) = (60, 90);
            let triplets: Vec<_> = (0..n_rows)
                .flat_map(|r| (0..n_cols).map(move |c| (r, c, 1.0)))
                .filter(|_| rng.random::<f64>() < density)
                .collect();
            let b = Csr::from_triplets(n_rows, n_cols, &triplets).unwrap();
            assert_eq!(connected_components(&b), by_search(&b), "density {density}");
            counts.push(by_search(&b));
        }
        assert!(counts[0] > 100 && counts[4] == 1, "{counts:?}");
    }
}
