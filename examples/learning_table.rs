//! The README's learning table: mean ± sd of the final test accuracy over 5 seeds on the
//! embedded Fashion-MNIST subset (the default data set), dense vs every Sparse-IFT family at
//! s ∈ {0.5, 0.75, 0.9}, static and RigL.
//! A measurement, not a test (it takes minutes):
//!
//!     cargo run --release --example learning_table

use maskspec::train::{train_run, Family, Method, TrainConfig};

fn config(family: Family, method: Method, out: &std::path::Path) -> TrainConfig {
    TrainConfig { family, method, out: out.to_path_buf(), checkpoint_every: 0, threads: 2, ..TrainConfig::default() }
}

fn main() {
    // "mean ± sd" in percent over the runs that finished, and how many diverged.
    let cell = |family: Family, sparsity: f64, method: Method| -> String {
        let mut accs = Vec::new();
        let mut diverged = 0;
        for seed in 0..5 {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let cfg = TrainConfig { sparsity, seed, ..config(family, method, dir.path()) };
            match train_run(&cfg, None) {
                Ok(summary) => accs.push(100.0 * summary.test_acc),
                Err(maskspec::train::TrainError::Diverged { .. }) => diverged += 1,
                Err(e) => panic!("{e}"),
            }
        }
        let n = accs.len() as f64;
        let m = accs.iter().sum::<f64>() / n;
        let sd = (accs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let note = if diverged > 0 { format!(" ({diverged} diverged)") } else { String::new() };
        format!("{m:.2} ± {sd:.2}{note}")
    };
    println!("| family | s | static | rigl |\n|---|---|---|---|");
    println!("| dense | 0 | {} | – |", cell(Family::Dense, 0.0, Method::Static));
    for family in [Family::Wide, Family::Parallel, Family::Factorized, Family::Doped] {
        for s in [0.5, 0.75, 0.9] {
            let (st, rigl) = (cell(family, s, Method::Static), cell(family, s, Method::Rigl));
            println!("| {} | {s} | {st} | {rigl} |", family.as_str());
        }
    }
}
