//! `maskspec train`: the library's [`TrainConfig`] is the flag set, flattened as it is.

use std::process::ExitCode;

use super::output::say;
use anyhow::Result;
use clap::Args;
use maskspec::train::{train_run, TrainConfig};

use super::progress;

/// `maskspec train`: one Sparse-IFT run.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub config: TrainConfig,
}

pub fn run(args: &TrainArgs) -> Result<ExitCode> {
    let config = &args.config;
    let bar = progress::train_bar(&config.run_name());
    let summary = train_run(config, Some(&|p| progress::on_train_step(&bar, p)));
    bar.finish_and_clear();
    let summary = summary?;
    say!(
        "{}: test accuracy {:.2}%; wrote {} checkpoints and {} (in {})",
        summary.run,
        100.0 * summary.test_acc,
        summary.checkpoints.len(),
        summary.log.display(),
        config.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use maskspec::train::{Family, Layout, Method};
    use std::path::PathBuf;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        train: TrainArgs,
    }

    #[test]
    fn flags_parse_into_the_config() {
        let cli = Cli::try_parse_from([
            "train",
            "--family",
            "wide",
            "--sparsity",
            "0.75",
            "--method",
            "rigl",
            "--layout",
            "erk",
            "--seed",
            "3",
            "--epochs",
            "5",
            "--checkpoint-every",
            "2",
            "--out",
            "runs/x",
            "--threads",
            "1",
            "--no-nesterov",
            "--conv-channels",
            "8,16,32",
        ])
        .unwrap();
        let cfg = cli.train.config;
        assert_eq!((cfg.family, cfg.method, cfg.layout), (Family::Wide, Method::Rigl, Layout::Erk));
        assert_eq!((cfg.sparsity, cfg.seed, cfg.epochs, cfg.checkpoint_every), (0.75, 3, 5, 2));
        assert_eq!(cfg.out, PathBuf::from("runs/x"));
        assert_eq!(cfg.run_name(), "wide_s0.75_rigl_erk_seed3");
        assert_eq!(cfg.conv_channels, [8, 16, 32]);
        assert!(!cfg.nesterov);
        assert_eq!(cfg.worker_threads(), 1);
    }

    #[test]
    fn the_flags_defaults_are_the_library_defaults() {
        let cfg = Cli::try_parse_from(["train", "--out", "o"]).unwrap().train.config;
        assert_eq!(cfg, TrainConfig { out: PathBuf::from("o"), ..TrainConfig::default() });
        assert_eq!(cfg.run_name(), "dense_s0_static_uniform_seed0");
        assert!(Cli::try_parse_from(["train", "--out", "o", "--family", "huge"]).is_err());
        assert!(Cli::try_parse_from(["train"]).is_err(), "--out is required");
    }
}
