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
        for &c in b.row(r).0 {
            let (a, z) = (find(&mut parent, r), find(&mut parent, b.n_rows + c as usize));
            if a != z {
                parent[a] = z;
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
        let b = Csr::from_triplets(2, 3, &[(0, 0, 1.0), (1, 1, 1.0)]);
        assert_eq!(connected_components(&b), 3);
    }
}
