//! `maskspec pipeline`: its flags, and the display of its progress (a bar on a terminal, one
//! line per finished run in a batch log).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::output::{self, say};
use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use maskspec::pipeline::{PipelineEvent, PipelineOptions, RunFailure, RunOutcome, Shard, DEFAULT_TOML};

/// `maskspec pipeline`.
#[derive(Debug, Clone, Args)]
pub struct PipelineArgs {
    /// Sweep file (TOML): what to train (the `train` flags), families, sparsities, methods,
    /// layouts, seeds, what to plot. Every key is optional; without the file the default sweep
    /// runs (see --print-config).
    #[arg(long, value_name = "FILE.toml", conflicts_with = "merge")]
    pub config: Option<PathBuf>,

    /// Print the default sweep file, with comments, and exit: a starting point for --config.
    #[arg(long)]
    pub print_config: bool,

    /// Output directory. Run again with the same arguments to resume: finished runs and
    /// analyses are kept, unfinished ones are redone from scratch.
    #[arg(long, default_value = "maskspec-report", value_name = "DIR")]
    pub out: PathBuf,

    /// Do only shard I of N of the runs (0-based; run k belongs to shard k mod N), e.g. one task
    /// of a Slurm job array, and write no report. Give each shard its own --out directory;
    /// `--merge` then reports on all of them.
    #[arg(long, value_name = "I/N", value_parser = Shard::parse, conflicts_with = "merge")]
    pub shard: Option<Shard>,

    /// Build the report in --out from finished shard directories (train nothing).
    #[arg(long, value_name = "DIR", num_args = 1..)]
    pub merge: Vec<PathBuf>,

    /// Runs trained at once (default: one per core). Each run uses one thread.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    /// No progress display and no per-run lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

impl PipelineArgs {
    fn options(&self) -> PipelineOptions {
        PipelineOptions {
            config: self.config.clone(),
            out: self.out.clone(),
            shard: self.shard,
            merge: self.merge.clone(),
            jobs: self.jobs,
        }
    }
}

/// A progress bar on a terminal, else one line per finished run (for batch logs).
struct Display {
    bar: Option<ProgressBar>,
    lines: bool,
    total: AtomicUsize,
    done: AtomicUsize,
}

impl Display {
    fn new(quiet: bool) -> Display {
        let terminal = !quiet && std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} runs, {elapsed} (ETA {eta}) {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix("training + analysis");
            bar
        });
        Display { bar, lines: !quiet && !terminal, total: AtomicUsize::new(0), done: AtomicUsize::new(0) }
    }

    fn on(&self, event: PipelineEvent<'_>) {
        match event {
            PipelineEvent::Planned { runs } => {
                self.total.store(runs, Ordering::Relaxed);
                if let Some(bar) = &self.bar {
                    bar.set_length(runs as u64);
                }
            }
            PipelineEvent::RunStarted { run } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(run.to_string());
                }
            }
            PipelineEvent::RunFinished { run, result } => self.finished(run, result),
            PipelineEvent::Phase(phase) => match &self.bar {
                Some(bar) => {
                    bar.set_prefix(phase);
                    bar.set_message("");
                }
                None if self.lines => say!("{phase}"),
                None => {}
            },
        }
    }

    fn finished(&self, run: &str, result: &Result<RunOutcome, RunFailure>) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let total = self.total.load(Ordering::Relaxed);
        let line = match result {
            Ok(o) => format!(
                "[{done}/{total}] {run}: test accuracy {}, {} ({} checkpoints, {} layers)",
                o.trained.test_acc.map_or_else(|| "—".into(), |a| format!("{:.2}%", 100.0 * a)),
                match (o.trained_now, o.analyzed_now) {
                    (true, _) =>
                        format!("trained in {:.1} s, analyzed in {:.1} s", o.trained.seconds, o.analyzed.seconds),
                    (false, true) => format!("already trained, analyzed in {:.1} s", o.analyzed.seconds),
                    (false, false) => "already done".into(),
                },
                o.analyzed.checkpoints,
                o.analyzed.layers
            ),
            Err(f) => format!("[{done}/{total}] {run}: FAILED: {}", f.error),
        };
        match &self.bar {
            Some(bar) => {
                if result.is_err() {
                    bar.println(line);
                }
                bar.inc(1);
            }
            None if self.lines => say!("{line}"),
            None => {}
        }
    }
}

pub fn run(args: &PipelineArgs) -> Result<ExitCode> {
    if args.print_config {
        output::stdout(DEFAULT_TOML);
        return Ok(ExitCode::SUCCESS);
    }
    let display = Display::new(args.quiet);
    let outcome = maskspec::pipeline::run(&args.options(), &|event| display.on(event));
    if let Some(bar) = &display.bar {
        bar.finish_and_clear();
    }
    let outcome = outcome?;
    for failure in &outcome.failures {
        say!("error: run {}: {}", failure.run, failure.error);
    }
    let mut done = format!(
        "{} runs: {} trained, {} analyzed, {} already done",
        outcome.runs,
        outcome.trained,
        outcome.analyzed,
        outcome.runs.saturating_sub(outcome.trained.max(outcome.analyzed) + outcome.failures.len())
    );
    if !outcome.failures.is_empty() {
        done.push_str(&format!("; {} failed (listed above)", outcome.failures.len()));
    }
    if !outcome.missing.is_empty() {
        done.push_str(&format!("; not finished, left out of the report: {}", outcome.missing.join(", ")));
    }
    match &outcome.report {
        Some(report) => say!("{done}\nreport: {}", report.display()),
        None => say!("{done}\nshard done; when every shard is, run `maskspec pipeline --merge DIR...`"),
    }
    let ok = outcome.failures.is_empty() && outcome.missing.is_empty();
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        pipeline: PipelineArgs,
    }

    #[test]
    fn flags_map_to_the_options() {
        let cli = Cli::try_parse_from(["pipeline", "--config", "s.toml", "--shard", "1/4", "--jobs", "3"]).unwrap();
        let options = cli.pipeline.options();
        assert_eq!(options.config, Some(PathBuf::from("s.toml")));
        assert_eq!(options.shard, Some(Shard { index: 1, count: 4 }));
        assert_eq!((options.jobs, options.out), (Some(3), PathBuf::from("maskspec-report")));
        assert!(Cli::try_parse_from(["pipeline", "--shard", "4/4"]).is_err());
        assert!(Cli::try_parse_from(["pipeline", "--config", "s.toml", "--merge", "a"]).is_err());
    }
}
