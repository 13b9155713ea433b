//! Learning: the dense MLP reaches ≥ 95% test accuracy on the embedded digits in the default
//! epochs, and every Sparse-IFT family at s = 0.9 trains (≥ 90%).

use maskspec::train::data::DatasetKind;
use maskspec::train::{train_run, Family, Method, TrainConfig};

fn config(family: Family, method: Method, out: &std::path::Path) -> TrainConfig {
    TrainConfig {
        family,
        sparsity: 0.9,
        method,
        out: out.to_path_buf(),
        checkpoint_every: 0,
        threads: 2,
        dataset: DatasetKind::Digits,
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
