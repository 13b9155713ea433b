//! The `maskspec` binary: parses flags, calls the library, sets the exit code in one place
//! (0 ok, 1 some inputs failed, 2 fatal). A closed stdout (`| head`) is not an error.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use maskspec::analyze::{analyze_paths, AnalyzeOptions, Cache};
use maskspec::checkpoint::LayerFilter;
use maskspec::metrics::{Convention, MetricParams};
use maskspec::sweep::AccuracyTable;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "maskspec",
    version,
    about = "Spectral graph analysis of sparse neural-network masks",
    long_about = "Spectral graph analysis of sparse neural-network masks.\n\n\
        Each 2-D [out, in] or 4-D [out, in, kh, kw] weight with its mask is a bipartite graph \
        (outputs × inputs·kh·kw). maskspec computes its Ramanujan gaps, weighted spectral gap and \
        the nested regular subgraph means (SPEC.md), per layer and per checkpoint.",
    after_help = "Exit status: 0 when everything was analyzed, 1 when some files or layers failed \
        (they are listed at the end; the rest was analyzed), 2 on a fatal error: a bad flag, an \
        unreadable --accuracy table or data set, an output that cannot be written."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyze checkpoints: every SPEC metric for every layer, and per-checkpoint means.
    Analyze(AnalyzeArgs),
    /// Correlate each metric with accuracy (Pearson, Spearman, Kendall, bootstrap CI, partial on density).
    Correlate(CorrelateArgs),
    /// Train a Sparse-IFT model on our own sparse kernels and write its checkpoints.
    ///
    /// Writes safetensors checkpoints (weights, NAME_mask, SPEC §6 metadata with test
    /// accuracy and the measured training FLOPs) at initialization, every --checkpoint-every
    /// epochs and at the end, and a per-epoch log.csv, into --out.
    Train(maskspec::train::TrainArgs),
}

#[derive(Args)]
struct AnalyzeArgs {
    /// Checkpoint files (.safetensors, .npz, .npy) or directories, walked recursively.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Write every field, per checkpoint and per layer, as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Write one row per checkpoint × layer (SPEC field names as columns, nulls empty) to FILE.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,

    /// Write one row per checkpoint (the means over layers and their `FIELD_layers` counts) to FILE.
    #[arg(long, value_name = "FILE")]
    summary_csv: Option<PathBuf>,

    /// Analyze only layers whose name matches GLOB (repeatable), e.g. 'layer3.*'.
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,

    /// Skip layers whose name matches GLOB (repeatable). Default: '*embed*'.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,

    /// Whose definitions to follow: iclr2023 (the default; Hoang et al. ICLR 2023's code) or
    /// neurips2023 (that paper's gate d_left ≥ 3 and d_right > 1, classes of ≥ 2 nodes, each
    /// class's Δr and λ times max(n_in, n_out)/(n_in + n_out − 1), gated λ, and layers below the
    /// gate counted as 0 in checkpoint means), to compare with its published figures.
    #[arg(long, value_enum, default_value_t = Convention::Iclr2023)]
    convention: Convention,

    /// Skip the nested regular subgraphs (the *_imdb / *_imsg / expansion_* fields stay null).
    #[arg(long)]
    no_nested: bool,

    /// Do not print the table on stdout (files given with --json/--csv are still written).
    #[arg(long, short)]
    quiet: bool,

    /// Accuracy per checkpoint from a CSV with columns `checkpoint,accuracy` (a path as given,
    /// relative to the directory argument, or a file name). It comes first; then the
    /// checkpoint's metadata, a sidecar NAME.json, a value in a PyTorch checkpoint dict.
    /// Values above 1 are percentages.
    #[arg(long, value_name = "FILE.csv")]
    accuracy: Option<PathBuf>,

    /// Where analyzed checkpoints are remembered, so a re-run over a grown sweep analyzes only
    /// new or changed files. Default: $XDG_CACHE_HOME/maskspec or ~/.cache/maskspec.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// Analyze every file again, neither reading nor writing the cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,

    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

#[derive(Args)]
struct CorrelateArgs {
    /// Summary/per-layer CSVs from `analyze`, or checkpoints and directories to analyze.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Correlate this layer's metrics (needs per-layer rows: `analyze --csv` or checkpoints).
    #[arg(long, value_name = "NAME")]
    layer: Option<String>,
    /// Metric column (repeatable; default: every summary field present except density).
    #[arg(long = "metric", value_name = "F")]
    metrics: Vec<String>,
    /// Also correlate within each value of COLUMN (e.g. sparsity, family, method).
    #[arg(long, value_name = "COLUMN")]
    by: Option<String>,
    #[arg(long, default_value = "accuracy", value_name = "COLUMN")]
    accuracy_column: String,
    /// The covariate the partial correlation controls for.
    #[arg(long, default_value = "density", value_name = "COLUMN")]
    covariate: String,
    #[arg(long, default_value_t = 2000)]
    resamples: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the table as CSV.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
}

fn missing_column(table: &maskspec::table::Table, name: &str) -> anyhow::Error {
    anyhow::anyhow!("no column `{name}` in the input; columns: {}", table.names().join(", "))
}

fn correlate(args: &CorrelateArgs) -> Result<ExitCode> {
    use maskspec::stats::{correlate, number_labels, render_table, to_csv, Column, CorrelateInput, CorrelateOptions};
    let (table, failed) = maskspec::table::Table::load(&args.paths, args.layer.as_deref(), &AnalyzeOptions::default())?;
    let names: Vec<String> = if args.metrics.is_empty() {
        maskspec::metrics::SUMMARY_FIELDS
            .iter()
            .filter(|f| **f != "density" && table.names().iter().any(|n| n == *f))
            .map(|f| f.to_string())
            .collect()
    } else {
        args.metrics.clone()
    };
    let metrics = names
        .iter()
        .map(|name| {
            Ok(Column {
                name: name.clone(),
                values: table.column_f64(name).ok_or_else(|| missing_column(&table, name))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let accuracy =
        table.column_f64(&args.accuracy_column).ok_or_else(|| missing_column(&table, &args.accuracy_column))?;
    let density = table.column_f64(&args.covariate).ok_or_else(|| missing_column(&table, &args.covariate))?;
    let groups = match &args.by {
        None => None,
        Some(by) => {
            let labels = table.column_str(by).ok_or_else(|| missing_column(&table, by))?;
            let numbers = table.column_f64(by).ok_or_else(|| missing_column(&table, by))?;
            let numeric = labels.iter().zip(&numbers).all(|(l, n)| l.is_none() || n.is_some());
            Some(if numeric { number_labels(&numbers) } else { labels })
        }
    };
    let input =
        CorrelateInput { metrics: &metrics, accuracy: &accuracy, density: Some(&density), groups: groups.as_deref() };
    let mut options = CorrelateOptions::default();
    options.bootstrap.resamples = args.resamples;
    options.bootstrap.seed = args.seed;
    let rows = correlate(&input, &options)?;
    print!("{}", render_table(&rows));
    if let Some(path) = &args.csv {
        maskspec::atomic::write(path, to_csv(&rows).as_bytes())
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} analyzing {pos}/{len} checkpoints [{bar:30}] {elapsed} (eta {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Renders an analysis into one output file's bytes.
type Render = fn(&maskspec::analyze::Analysis) -> Vec<u8>;

fn analyze(args: &AnalyzeArgs) -> Result<ExitCode> {
    let filter = LayerFilter::new(&args.include, &args.exclude).context("invalid --include/--exclude glob")?;
    let accuracy = args.accuracy.as_deref().map(AccuracyTable::read).transpose()?;
    let cache = if args.no_cache { None } else { args.cache_dir.clone().or_else(Cache::default_dir).map(Cache::new) };
    let params = MetricParams { nested: !args.no_nested, convention: args.convention, ..Default::default() };
    let options = AnalyzeOptions { filter, params, accuracy, cache };
    let bar = progress_bar();
    let analysis = analyze_paths(&args.paths, &options, Some(&bar));
    bar.finish_and_clear();

    let outputs: [(&Option<PathBuf>, Render); 3] = [
        (&args.json, maskspec::export::json),
        (&args.csv, maskspec::export::layers_csv),
        (&args.summary_csv, maskspec::export::summary_csv),
    ];
    for (path, render) in outputs {
        if let Some(path) = path {
            maskspec::atomic::write(path, &render(&analysis))
                .with_context(|| format!("{}: cannot write", path.display()))?;
        }
    }
    if !args.quiet {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(maskspec::export::table(&analysis).as_bytes())?;
        stdout.flush()?;
    }
    let layers: usize = analysis.checkpoints.iter().map(|c| c.layers.len()).sum();
    let done = format!(
        "{} checkpoints ({} analyzed, {} from the cache), {layers} layers",
        analysis.checkpoints.len(),
        analysis.analyzed,
        analysis.cached
    );
    if analysis.failures.is_empty() {
        eprintln!("{done}");
        return Ok(ExitCode::SUCCESS);
    }
    for failure in &analysis.failures {
        eprintln!("error: {}", failure.error);
    }
    eprintln!("{done}; {} failed (listed above)", analysis.failures.len());
    Ok(ExitCode::from(1))
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Analyze(args) => {
            if let Some(n) = args.threads {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build_global()
                    .context("cannot start the thread pool")?;
            }
            analyze(&args)
        }
        Command::Correlate(args) => correlate(&args),
        Command::Train(args) => {
            let summary = maskspec::train::run(&args)?;
            eprintln!(
                "{}: test accuracy {:.2}%; wrote {} checkpoints and {} (in {})",
                summary.run,
                100.0 * summary.test_acc,
                summary.checkpoints.len(),
                summary.log.display(),
                args.out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_are_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn analyze_flags_parse() {
        let cli =
            Cli::parse_from(["maskspec", "analyze", "a", "b", "--include", "x*", "--include", "y*", "--csv", "o.csv"]);
        let Command::Analyze(args) = cli.command else { panic!("parsed as analyze") };
        assert_eq!(args.paths.len(), 2);
        assert_eq!(args.include, ["x*", "y*"]);
        assert_eq!(args.csv, Some(PathBuf::from("o.csv")));
    }
}
