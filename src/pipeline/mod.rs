//! `maskspec pipeline`: train a Sparse-IFT sweep, analyze every checkpoint, correlate the
//! spectra with accuracy and write a report, in one output directory:
//!
//! ```text
//! OUT/config.toml          the sweep as run
//! OUT/runs/NAME/           checkpoints, log.csv, the run's analysis, trained.json / analyzed.json
//! OUT/analysis/            summary.csv, layers.csv, analysis.json (all runs), last.csv
//! OUT/accuracy.csv  OUT/correlations.csv  OUT/timings.csv  OUT/figures/
//! OUT/report.md  OUT/report.html
//! ```
//!
//! Runs go in parallel, one thread each. Each run's steps end with a marker written last, so a
//! killed pipeline run again with the same arguments redoes exactly the unfinished runs.
//! `--shard i/n` does the runs whose index is i mod n (no report); `--merge DIR...` reports on
//! the union of shards.

mod aggregate;
mod config;
mod figures;
mod report;
mod runs;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

pub use config::{ConfigError, RunSpec, SweepConfig, DEFAULT_TOML};
pub use runs::{RunFailure, RunOutcome};

/// What to run: `maskspec pipeline`'s options without the terminal's (the binary maps its flags
/// here).
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineOptions {
    /// The sweep file; `None` runs [`SweepConfig::default`].
    pub config: Option<PathBuf>,
    /// Output directory; running again with the same options resumes.
    pub out: PathBuf,
    /// Do only this shard of the runs, and write no report.
    pub shard: Option<Shard>,
    /// Build the report in `out` from these finished shard directories (train nothing).
    pub merge: Vec<PathBuf>,
    /// Runs trained at once (`None`: one per core). Each run uses one thread.
    pub jobs: Option<usize>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            config: None,
            out: PathBuf::from("maskspec-report"),
            shard: None,
            merge: Vec::new(),
            jobs: None,
        }
    }
}

/// What the pipeline tells its caller as it goes, for a progress display.
#[derive(Debug)]
pub enum PipelineEvent<'a> {
    /// This many runs are to be done by this invocation.
    Planned {
        runs: usize,
    },
    RunStarted {
        run: &'a str,
    },
    RunFinished {
        run: &'a str,
        result: &'a Result<RunOutcome, RunFailure>,
    },
    /// A phase of the report began: "tables", "correlations", "figures", "report".
    Phase(&'static str),
}

/// One of `count` equal parts of the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("`{text}` is not a shard: write I/N with 0 ≤ I < N, e.g. 0/4");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    pub fn owns(&self, run_index: usize) -> bool {
        run_index % self.count == self.index
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "{path} holds a different sweep than the one asked for; resume it with `--config {path}`, \
         or choose another --out"
    )]
    ConfigMismatch { path: PathBuf },
    #[error("{path}: no config.toml: not a pipeline output directory (or a shard that never started)")]
    NotAnOutput { path: PathBuf },
    #[error(
        "{path}: holds files but no config.toml, so it is not a maskspec output; choose a new or empty --out \
         (maskspec writes runs/, analysis/ and reports into it)"
    )]
    NotEmpty { path: PathBuf },
    #[error(
        "{path}: another maskspec pipeline ({holder}) is writing this directory; wait for it to finish, or choose \
         another --out"
    )]
    Busy { path: PathBuf, holder: String },
    #[error("{path}: cannot write: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Aggregate(#[from] aggregate::AggregateError),
}

/// What an invocation did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Runs this invocation was responsible for.
    pub runs: usize,
    pub trained: usize,
    pub analyzed: usize,
    pub failures: Vec<RunFailure>,
    /// Planned runs that are not finished in any directory (merge, or after failures).
    pub missing: Vec<String>,
    /// `OUT/report.html` when a report was written.
    pub report: Option<PathBuf>,
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), PipelineError> {
    crate::atomic::write(path, bytes).map_err(|source| PipelineError::Write { path: path.to_path_buf(), source })
}

/// The file in an output directory that a running pipeline holds locked.
const LOCK_FILE: &str = ".maskspec.lock";

/// Takes `out` for this process and stores the sweep in `out/config.toml`, or checks it is the
/// sweep already there. The returned file holds an exclusive lock on `out` until it is
/// dropped: a second pipeline on the same directory, even one started at the same moment with
/// another sweep, is refused rather than mixed in. The lock is the kernel's (flock), so one
/// left by a killed process is free again at once.
fn claim(out: &Path, config: &SweepConfig) -> Result<std::fs::File, PipelineError> {
    let path = out.join("config.toml");
    let write_error = |path: PathBuf| move |source| PipelineError::Write { path, source };
    // Anything already there is someone else's: a pipeline output starts with its config.
    let foreign = std::fs::read_dir(out)
        .is_ok_and(|entries| entries.flatten().any(|e| e.file_name() != LOCK_FILE && e.file_name() != "config.toml"));
    if foreign && !path.exists() {
        return Err(PipelineError::NotEmpty { path: out.to_path_buf() });
    }
    std::fs::create_dir_all(out).map_err(write_error(out.to_path_buf()))?;
    let lock_path = out.join(LOCK_FILE);
    let mut lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(write_error(lock_path.clone()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&lock_path).unwrap_or_default();
            let holder = if holder.trim().is_empty() { "starting".to_string() } else { holder.trim().to_string() };
            return Err(PipelineError::Busy { path: out.to_path_buf(), holder });
        }
        Err(std::fs::TryLockError::Error(source)) => return Err(PipelineError::Write { path: lock_path, source }),
    }
    {
        use std::io::Write;
        lock.set_len(0)
            .and_then(|()| write!(lock, "pid {}", std::process::id()))
            .map_err(write_error(lock_path.clone()))?;
    }
    if let Ok(text) = std::fs::read_to_string(&path) {
        return match SweepConfig::from_toml(&text, path.clone()) {
            Ok(existing) if existing == *config => Ok(lock),
            _ => Err(PipelineError::ConfigMismatch { path }),
        };
    }
    write(&path, config.to_toml().as_bytes())?;
    Ok(lock)
}

fn read_stored_config(dir: &Path) -> Result<SweepConfig, PipelineError> {
    let path = dir.join("config.toml");
    if !path.is_file() {
        return Err(PipelineError::NotAnOutput { path: dir.to_path_buf() });
    }
    Ok(SweepConfig::read(&path)?)
}

/// Runs the pipeline as `args` say, telling `progress` each [`PipelineEvent`] (from the run
/// threads, hence `Sync`).
pub fn run(args: &PipelineOptions, progress: &(dyn Fn(PipelineEvent<'_>) + Sync)) -> Result<Outcome, PipelineError> {
    let start = Instant::now();
    if !args.merge.is_empty() {
        return merge(args, start, progress);
    }
    let config = match &args.config {
        Some(path) => SweepConfig::read(path)?,
        None => SweepConfig::default(),
    };
    let _lock = claim(&args.out, &config)?;
    let plan = config.runs()?;
    let mine: Vec<&RunSpec> =
        plan.iter().enumerate().filter(|(i, _)| args.shard.is_none_or(|s| s.owns(*i))).map(|(_, r)| r).collect();
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    progress(PipelineEvent::Planned { runs: mine.len() });
    let runs_start = Instant::now();
    let results = run_all(&config, &mine, &args.out, jobs, progress);
    let runs_wall = runs_start.elapsed().as_secs_f64();
    let mut outcome = Outcome { runs: mine.len(), ..Default::default() };
    for result in results {
        match result {
            Ok(o) => {
                outcome.trained += usize::from(o.trained_now);
                outcome.analyzed += usize::from(o.analyzed_now);
            }
            Err(f) => outcome.failures.push(f),
        }
    }
    if args.shard.is_none() {
        let (missing, report) =
            write_report(&config, &plan, std::slice::from_ref(&args.out), &args.out, runs_wall, start, progress)?;
        outcome.missing = missing;
        outcome.report = Some(report);
    }
    Ok(outcome)
}

/// Runs `jobs` runs at a time, each on its own thread, results in `runs` order. Plain threads
/// rather than a rayon pool: a rayon worker waiting on a run's own one-thread pool would start
/// other runs meanwhile, oversubscribing the cores and mixing up the runs' timings.
fn run_all(
    config: &SweepConfig,
    runs: &[&RunSpec],
    out: &Path,
    jobs: usize,
    progress: &(dyn Fn(PipelineEvent<'_>) + Sync),
) -> Vec<Result<RunOutcome, RunFailure>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<RunOutcome, RunFailure>)>> = Mutex::new(Vec::with_capacity(runs.len()));
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(runs.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(run) = runs.get(i) else { break };
                progress(PipelineEvent::RunStarted { run: &run.name });
                let result = runs::run_one(config, run, out);
                progress(PipelineEvent::RunFinished { run: &run.name, result: &result });
                results.lock().unwrap_or_else(|e| e.into_inner()).push((i, result));
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// The report over finished shards in `args.merge`, written to `args.out`.
fn merge(
    args: &PipelineOptions,
    start: Instant,
    progress: &(dyn Fn(PipelineEvent<'_>) + Sync),
) -> Result<Outcome, PipelineError> {
    let config = read_stored_config(&args.merge[0])?;
    for dir in &args.merge[1..] {
        if read_stored_config(dir)? != config {
            return Err(PipelineError::ConfigMismatch { path: dir.join("config.toml") });
        }
    }
    let _lock = claim(&args.out, &config)?;
    let plan = config.runs()?;
    let (missing, report) = write_report(&config, &plan, &args.merge, &args.out, 0.0, start, progress)?;
    Ok(Outcome { missing, report: Some(report), ..Default::default() })
}

/// Tables, correlations, figures and the report from the finished runs in `dirs`, into `out`.
/// Returns the planned runs that were not finished and the HTML report's path.
fn write_report(
    config: &SweepConfig,
    plan: &[RunSpec],
    dirs: &[PathBuf],
    out: &Path,
    runs_wall: f64,
    start: Instant,
    progress: &(dyn Fn(PipelineEvent<'_>) + Sync),
) -> Result<(Vec<String>, PathBuf), PipelineError> {
    let mut timings = report::Timings { runs_wall, ..Default::default() };
    progress(PipelineEvent::Phase("tables"));
    let clock = Instant::now();
    let collected = aggregate::collect(plan, &config.hash(), dirs);
    let tables = aggregate::tables(&collected)?;
    let accuracy = aggregate::accuracy_table(&collected, &tables.last);
    (timings.training_sum, timings.analysis_sum) = aggregate::run_seconds(&collected);
    let mut json = serde_json::to_vec_pretty(&tables.json).expect("JSON of plain data");
    json.push(b'\n');
    let analysis = out.join("analysis");
    write(&analysis.join("summary.csv"), &tables.summary.to_bytes())?;
    write(&analysis.join("layers.csv"), &tables.layers.to_bytes())?;
    write(&analysis.join("last.csv"), &tables.last.to_bytes())?;
    write(&analysis.join("analysis.json"), &json)?;
    write(&out.join("accuracy.csv"), &aggregate::accuracy_csv(&accuracy))?;
    timings.tables = clock.elapsed().as_secs_f64();

    progress(PipelineEvent::Phase("correlations"));
    let clock = Instant::now();
    let sparse_last = tables.last.sparse_runs();
    let correlations = aggregate::correlations(config, &sparse_last)?;
    write(&out.join("correlations.csv"), crate::stats::to_csv(&correlations).as_bytes())?;
    timings.correlations = clock.elapsed().as_secs_f64();

    progress(PipelineEvent::Phase("figures"));
    let clock = Instant::now();
    let (figures, skipped) = figures::figures(config, &collected, &tables.summary, &sparse_last);
    for figure in &figures {
        write(&out.join(&figure.file), &figure.bytes)?;
    }
    timings.figures = clock.elapsed().as_secs_f64();

    progress(PipelineEvent::Phase("report"));
    timings.total = start.elapsed().as_secs_f64();
    write(&out.join("timings.csv"), &timings.csv())?;
    let config_toml = config.to_toml();
    let mut highlighted: Vec<String> = config.report.scatters.clone();
    for (x, y) in &config.report.heatmaps {
        highlighted.extend([x.clone(), y.clone()]);
    }
    // Each metric once, in the order the report first names it.
    let mut seen = std::collections::HashSet::new();
    highlighted.retain(|metric| seen.insert(metric.clone()));
    let failed_layers = collected.runs.iter().map(|r| r.analyzed.failures.len()).sum();
    let input = report::ReportInput {
        config_toml: &config_toml,
        planned: plan.len(),
        finished: collected.runs.len(),
        missing: &collected.missing,
        failed_layers,
        accuracy: &accuracy,
        correlations: &correlations,
        highlighted: &highlighted,
        correlate_by: &config.report.correlate_by,
        figures: &figures,
        skipped: &skipped,
        timings: &timings,
    };
    let blocks = report::blocks(&input);
    write(&out.join("report.md"), report::markdown(&blocks).as_bytes())?;
    let html = out.join("report.html");
    write(&html, report::html(&blocks).as_bytes())?;
    Ok((collected.missing, html))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_runs_round_robin() {
        let shard = Shard::parse("1/3").unwrap();
        assert_eq!((0..7).filter(|&i| shard.owns(i)).collect::<Vec<_>>(), [1, 4]);
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            assert!(Shard::parse(bad).unwrap_err().contains("is not a shard"), "{bad}");
        }
    }
}
