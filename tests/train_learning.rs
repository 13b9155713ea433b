//! Learning: the dense MLP reaches ≥ 95% test accuracy on the embedded digits in the default
//! epochs, and every Sparse-IFT family at s = 0.9 trains (≥ 90%).

use maskspec::train::{train_run, Family, Method, TrainConfig};

fn config(family: Family, method: Method, out: &std::path::Path) -> TrainConfig {
    TrainConfig {
        family,
        sparsity: 0.9,
        method,
        out: out.to_path_buf(),
        checkpoint_every: 0,
        threads: 2,
        ..TrainConfig::default()
    }
}

#[test]
fn dense_mlp_reaches_95_percent_in_default_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let summary = train_run(&config(Family::Dense, Method::Static, dir.path()), None).unwrap();
    eprintln!("dense: test_acc {} val_acc {} loss {}", summary.test_acc, summary.val_acc, summary.train_loss);
    assert!(summary.test_acc >= 0.95, "dense test accuracy {}", summary.test_acc);
}

#[test]
fn every_family_trains_at_90_percent_sparsity() {
    for family in [Family::Wide, Family::Parallel, Family::Factorized, Family::Doped] {
        for method in [Method::Static, Method::Rigl] {
            let dir = tempfile::tempdir().unwrap();
            let summary = train_run(&config(family, method, dir.path()), None).unwrap();
            eprintln!("{family:?} {method:?}: test_acc {} loss {}", summary.test_acc, summary.train_loss);
            assert!(summary.test_acc >= 0.90, "{family:?} {method:?} test accuracy {}", summary.test_acc);
        }
    }
}

/// The README's table: mean ± sd of the final test accuracy over 5 seeds, dense vs every
/// family at s ∈ {0.5, 0.75, 0.9}, static and RigL. Slow (minutes): run with
/// `cargo test --test train_learning -- --ignored --nocapture`.
#[test]
#[ignore]
fn sweep_five_seeds_for_the_readme() {
    // "mean ± sd" in percent over the runs that finished, and how many diverged.
    let cell = |family: Family, sparsity: f64, method: Method| -> String {
        let mut accs = Vec::new();
        let mut diverged = 0;
        for seed in 0..5 {
            let dir = tempfile::tempdir().unwrap();
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
