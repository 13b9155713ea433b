//! The `maskspec` binary: parses flags, calls the library, sets the exit code in one place
//! (0 ok, 1 some inputs failed, 2 fatal). A closed stdout (`| head`) is not an error.

mod cli;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use cli::output::say;
use maskspec::analyze::{analyze_paths, AnalyzeOptions, Cache, Failure};
use maskspec::checkpoint::{LayerFilter, WeightLayout};
use maskspec::metrics::{Convention, MetricParams};
use maskspec::provenance::AccuracyTable;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "maskspec",
    version,
    about = "Spectral graph analysis of sparse neural-network masks",
    long_about = "Spectral graph analysis of sparse neural-network masks.\n\n\
        Each 2-D [out, in] or 4-D [out, in, kh, kw] weight with its mask is a bipartite graph \
        (outputs × inputs·kh·kw). maskspec computes its Ramanujan gaps, weighted spectral gap and \
        the nested regular subgraph means (docs/SPEC.md), per layer and per checkpoint.",
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
    /// Draw a figure from analyze output: a Pareto heatmap, a metric against accuracy, or each
    /// run over training.
    Plot(PlotArgs),
    /// Train a Sparse-IFT model on our own sparse kernels and write its checkpoints.
    ///
    /// Writes safetensors checkpoints (weights, NAME_mask, SPEC §6 metadata with test
    /// accuracy and the measured training FLOPs) at initialization, every --checkpoint-every
    /// epochs and at the end, and a per-epoch log.csv, into --out.
    Train(cli::train::TrainArgs),
    /// The main job: train a Sparse-IFT sweep, analyze every checkpoint, correlate the spectra
    /// with accuracy and write a report (report.md, report.html, CSVs, figures).
    ///
    /// Without flags: the MLP on the built-in Fashion-MNIST subset (14×14), dense plus the four
    /// families at sparsity 0.5, 0.75 and 0.9, static and RigL, 3 seeds (75 runs), into
    /// maskspec-report/. Run it again to resume. `dataset = "digits"` under [training] in a
    /// --config file gives the quicker 8×8 digits.
    Pipeline(cli::pipeline::PipelineArgs),
}

#[derive(Args)]
struct AnalyzeArgs {
    /// Checkpoint files or directories, walked recursively. A file is read by its content,
    /// whatever its name: safetensors, NumPy .npy/.npz, and what torch.save writes (.pt, .pth,
    /// .pth.tar, Lightning's .ckpt, Hugging Face's pytorch_model.bin; zip or legacy, state dicts
    /// at the top or under state_dict, model, model_state_dict, net, module, state_dict_ema).
    /// Hugging Face shards with their *.index.json are one checkpoint. Wrapper prefixes
    /// (module., _orig_mod., Lightning's model.) come off the names. Masks, first found:
    /// NAME_mask, PREFIX.weight_mask (torch.nn.utils.prune), a saved torch.ao.pruning
    /// sparsifier's masks, a flax mask tree (mask/NAME), a file of masks (--masks, or
    /// X.masks.safetensors beside X.safetensors), a torch sparse tensor's pattern, else the
    /// nonzero weights.
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

    /// How weights store their dimensions: torch ([out, in], conv [out, in, kh, kw]) or flax
    /// ([in, out], conv [kh, kw, in, out], transposed before analysis). Default: flax for
    /// weights named `kernel` (params/Dense_0/kernel), torch for every other.
    #[arg(long, value_enum, value_name = "LAYOUT")]
    layout: Option<WeightLayout>,

    /// Masks from FILE, a checkpoint whose tensors have the weights' names (any format; nonzero
    /// = edge), for every checkpoint analyzed. Without it, X.masks.EXT beside X.EXT and
    /// masks.EXT beside weights.EXT are paired by name.
    #[arg(long, value_name = "FILE")]
    masks: Option<PathBuf>,

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
    /// Summary/per-layer CSVs or the JSON from `analyze`, or checkpoints and directories to analyze.
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

/// What every `plot` subcommand's --help ends with.
const PLOT_AFTER_HELP: &str = "Inputs: the CSVs or JSON that `analyze` writes (--summary-csv, or --csv / --json \
    with --layer), or checkpoints and directories, which are analyzed first (as `analyze` would, without the \
    cache). Rows with a null coordinate or value are skipped and counted in one line on stderr.\n\n\
    Exit status: 0 when the figure was written, 1 when it was written but some checkpoints could not be \
    analyzed, 2 on a fatal error (a bad flag, a column the input does not have, too few points).";

#[derive(Args)]
#[command(after_long_help = PLOT_AFTER_HELP)]
struct PlotArgs {
    #[command(subcommand)]
    figure: PlotFigure,
}

#[derive(Subcommand)]
enum PlotFigure {
    /// Accuracy over two coordinates, interpolated on their Delaunay triangulation, with the
    /// Pareto front.
    ///
    /// By default two panels as in Sparse-IFT's Figure 4: (ramanujan_gap_imdb,
    /// weighted_gap_imsg) and (ramanujan_gap, weighted_gap). The colour is the linear
    /// interpolant of --z over the triangulation of the points (scipy's griddata), blank
    /// outside their convex hull; the points are drawn on top and the Pareto front (points no
    /// other point beats in both coordinates, larger being better) as a red line. A panel needs
    /// at least 3 usable points not on one line.
    ///
    /// Of a sweep with several checkpoints per run, only each run's last checkpoint (largest
    /// step) is a point, since a run's checkpoints are not independent and early ones have not
    /// learned yet; --all-checkpoints keeps every row. Tables without run and step columns keep
    /// every row.
    Heatmap(HeatmapArgs),
    /// A metric against accuracy, one colour per group, each group's least-squares line and
    /// Pearson r in the legend.
    ///
    /// Points are chosen as for the heatmap: the last checkpoint of each run unless
    /// --all-checkpoints.
    Scatter(ScatterArgs),
    /// Each run's (x, y) over its checkpoints, start and end marked, and the distance from the
    /// run's initial checkpoint against the step (SPEC §4).
    ///
    /// Runs are the values of --run-column, ordered by --step-column; an `init` row without a
    /// step counts as step 0. Distances are from the run's initial checkpoint (the `init`
    /// column, which analyze sets for step or epoch 0 or `init` in the file name); a run without
    /// one is measured from its earliest checkpoint, with a note on stderr.
    Evolution(EvolutionArgs),
}

#[derive(Args)]
struct PlotInput {
    /// Summary or per-layer CSV, or JSON, from `analyze`; or checkpoints and directories to analyze.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// The figure to write: FILE.png (300 dpi) or FILE.svg.
    #[arg(short, long, value_name = "FILE")]
    out: PathBuf,
    /// Plot this layer's metrics instead of the checkpoint means (needs per-layer rows:
    /// `analyze --csv`, `--json`, or checkpoints).
    #[arg(long, value_name = "NAME")]
    layer: Option<String>,
    /// A title above the figure.
    #[arg(long)]
    title: Option<String>,
}

#[derive(Args)]
#[command(after_long_help = PLOT_AFTER_HELP)]
struct HeatmapArgs {
    #[command(flatten)]
    input: PlotInput,
    /// The x coordinate of a single panel (any numeric column); needs --y.
    #[arg(long, value_name = "F", requires = "y")]
    x: Option<String>,
    /// The y coordinate of a single panel; needs --x.
    #[arg(long, value_name = "F", requires = "x")]
    y: Option<String>,
    /// The value coloured over the plane.
    #[arg(long, value_name = "COLUMN", default_value = "accuracy")]
    z: String,
    /// Plot every checkpoint of each run, not only its last.
    #[arg(long)]
    all_checkpoints: bool,
}

#[derive(Args)]
#[command(after_long_help = PLOT_AFTER_HELP)]
struct ScatterArgs {
    #[command(flatten)]
    input: PlotInput,
    /// The metric on the x axis.
    #[arg(long, value_name = "F", default_value = "ramanujan_gap_imdb")]
    metric: String,
    /// The column on the y axis.
    #[arg(long, value_name = "COLUMN", default_value = "accuracy")]
    accuracy_column: String,
    /// One colour, fit line and r per value of COLUMN (e.g. sparsity, family, method).
    /// Default: sparsity when the input has values in it, else one group.
    #[arg(long, value_name = "COLUMN")]
    by: Option<String>,
    /// Plot every checkpoint of each run, not only its last.
    #[arg(long)]
    all_checkpoints: bool,
}

#[derive(Args)]
#[command(after_long_help = PLOT_AFTER_HELP)]
struct EvolutionArgs {
    #[command(flatten)]
    input: PlotInput,
    /// The x coordinate of the trajectories.
    #[arg(long, value_name = "F", default_value = "ramanujan_gap_imdb")]
    x: String,
    /// The y coordinate of the trajectories.
    #[arg(long, value_name = "F", default_value = "weighted_gap_imsg")]
    y: String,
    /// The column naming each row's run.
    #[arg(long, value_name = "COLUMN", default_value = "run")]
    run_column: String,
    /// The column ordering a run's checkpoints.
    #[arg(long, value_name = "COLUMN", default_value = "step")]
    step_column: String,
}

fn plot(args: &PlotArgs) -> Result<ExitCode> {
    use maskspec::plot::{self, Checkpoints, EvolutionSpec, HeatmapSpec, ImageFormat, ScatterSpec};
    let input = match &args.figure {
        PlotFigure::Heatmap(a) => &a.input,
        PlotFigure::Scatter(a) => &a.input,
        PlotFigure::Evolution(a) => &a.input,
    };
    // Before any analysis, so a wrong extension costs nothing.
    let format = ImageFormat::from_path(&input.out)?;
    check_outputs(&[&input.out], &input.paths)?;
    let (table, failures) = load_table(&input.paths, input.layer.as_deref())?;
    let failed = report_failures(&failures);
    let checkpoints = |all: bool| if all { Checkpoints::All } else { Checkpoints::LastOfEachRun };
    let rendered = match &args.figure {
        PlotFigure::Heatmap(a) => {
            let mut spec = HeatmapSpec {
                z: a.z.clone(),
                checkpoints: checkpoints(a.all_checkpoints),
                title: input.title.clone(),
                ..Default::default()
            };
            if let (Some(x), Some(y)) = (&a.x, &a.y) {
                spec.panels = vec![(x.clone(), y.clone())];
            }
            warn_unparsed(&table, &spec.numeric_columns());
            plot::heatmap_from_table(&table, &spec, format)?
        }
        PlotFigure::Scatter(a) => {
            let spec = ScatterSpec {
                accuracy: a.accuracy_column.clone(),
                by: a.by.clone(),
                checkpoints: checkpoints(a.all_checkpoints),
                title: input.title.clone(),
                ..ScatterSpec::new(&a.metric)
            };
            warn_unparsed(&table, &spec.numeric_columns());
            plot::scatter_from_table(&table, &spec, format)?
        }
        PlotFigure::Evolution(a) => {
            let spec = EvolutionSpec {
                x: a.x.clone(),
                y: a.y.clone(),
                run: a.run_column.clone(),
                step: a.step_column.clone(),
                title: input.title.clone(),
            };
            warn_unparsed(&table, &spec.numeric_columns());
            plot::evolution_from_table(&table, &spec, format)?
        }
    };
    plot::save(&rendered.bytes, &input.out)?;
    if let Some(message) = rendered.skipped_message() {
        say!("{message}");
    }
    for note in &rendered.notes {
        say!("note: {note}");
    }
    say!("wrote {}: {} points from {} rows", input.out.display(), rendered.points, rendered.rows);
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn correlate(args: &CorrelateArgs) -> Result<ExitCode> {
    use maskspec::stats::{correlate_table_with_progress, render_table, to_csv, unparsed_cells, TableCorrelation};
    check_outputs(&args.csv.iter().collect::<Vec<_>>(), &args.paths)?;
    let (table, failures) = load_table(&args.paths, args.layer.as_deref())?;
    let failed = report_failures(&failures);
    let mut spec = TableCorrelation {
        metrics: args.metrics.clone(),
        accuracy: args.accuracy_column.clone(),
        covariate: args.covariate.clone(),
        by: args.by.clone(),
        ..Default::default()
    };
    spec.options.bootstrap.resamples = args.resamples;
    spec.options.bootstrap.seed = args.seed;
    for line in unparsed_cells(&table, &spec) {
        say!("warning: {line}");
    }
    let bar = cli::progress::correlate_bar();
    let rows = correlate_table_with_progress(&table, &spec, &|rows| cli::progress::on_correlate(&bar, rows));
    bar.finish_and_clear();
    let rows = rows?;
    cli::output::stdout(&render_table(&rows));
    if let Some(path) = &args.csv {
        maskspec::atomic::write(path, to_csv(&rows).as_bytes())
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Refuses outputs that would overwrite an input: a file named among `inputs`, a checkpoint (by
/// its content or name; no result is one), or another of the outputs. Checked before any work.
fn check_outputs(outputs: &[&PathBuf], inputs: &[PathBuf]) -> Result<()> {
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    for (i, out) in outputs.iter().enumerate() {
        if let Some(input) = inputs.iter().find(|input| same(out, input)) {
            anyhow::bail!("{}: is an input of this run; writing the results there would destroy it", input.display());
        }
        if out.is_file() && maskspec::checkpoint::format_of(out).is_ok_and(|f| f.is_some()) {
            anyhow::bail!("{}: is a checkpoint; writing the results there would destroy it", out.display());
        }
        if let Some(dir) = out.ancestors().skip(1).find(|dir| dir.exists()).filter(|dir| !dir.is_dir()) {
            anyhow::bail!("{}: cannot write: {} is a file, not a directory", out.display(), dir.display());
        }
        if outputs[..i].iter().any(|earlier| same(out, earlier)) {
            anyhow::bail!("{}: is named for two outputs; give each its own file", out.display());
        }
    }
    Ok(())
}

/// The table `plot` and `correlate` read, with a progress bar while checkpoints are analyzed.
fn load_table(paths: &[PathBuf], layer: Option<&str>) -> Result<(maskspec::table::Table, Vec<Failure>)> {
    let bar = cli::progress::analyze_bar();
    let loaded = maskspec::table::Table::load(paths, layer, &AnalyzeOptions::default(), Some(&|event| bar.on(event)));
    bar.finish();
    Ok(loaded?)
}

/// A warning for each of `columns` with cells that are not numbers: they count as missing, and
/// a figure left with too few points is explained by them.
fn warn_unparsed(table: &maskspec::table::Table, columns: &[&str]) {
    for line in table.unparsed_warnings(columns) {
        say!("warning: {line}");
    }
}

/// Prints each input that could not be analyzed, as `analyze` does; true when there were any.
fn report_failures(failures: &[Failure]) -> bool {
    for failure in failures {
        say!("error: {}", failure.message());
    }
    !failures.is_empty()
}

/// Renders an analysis into one output file's bytes.
type Render = fn(&maskspec::analyze::Analysis) -> Vec<u8>;

fn analyze(args: &AnalyzeArgs) -> Result<ExitCode> {
    let filter = LayerFilter::new(&args.include, &args.exclude)
        .context("invalid --include/--exclude glob")?
        .with_layout(args.layout);
    let accuracy = args.accuracy.as_deref().map(AccuracyTable::read).transpose()?;
    let cache = if args.no_cache { None } else { args.cache_dir.clone().or_else(Cache::default_dir).map(Cache::new) };
    let params = MetricParams { nested: !args.no_nested, convention: args.convention, ..Default::default() };
    let outputs: Vec<&PathBuf> = [&args.json, &args.csv, &args.summary_csv].into_iter().flatten().collect();
    let inputs: Vec<PathBuf> = args.paths.iter().chain(&args.masks).chain(&args.accuracy).cloned().collect();
    check_outputs(&outputs, &inputs)?;
    let options = AnalyzeOptions { filter, params, accuracy, cache, masks: args.masks.clone() };
    let bar = cli::progress::analyze_bar();
    let analysis = analyze_paths(&args.paths, &options, Some(&|event| bar.on(event)));
    bar.finish();

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
        cli::output::stdout(&maskspec::export::readable(&analysis));
    }
    let layers: usize = analysis.checkpoints.iter().map(|c| c.layers.len()).sum();
    let mut done = format!(
        "{} checkpoints ({} analyzed, {} from the cache), {layers} layers",
        analysis.checkpoints.len(),
        analysis.analyzed,
        analysis.cached
    );
    if let Some(first) = analysis.skipped.first() {
        let n = analysis.skipped.len();
        let others = if n > 1 { format!(" and {} more", n - 1) } else { String::new() };
        done.push_str(&format!(
            "; skipped {n} {} ({}{others})",
            if n == 1 { "file that is not a checkpoint" } else { "files that are not checkpoints" },
            first.display()
        ));
    }
    if let Some(why) = &analysis.cache_unwritable {
        say!(
            "warning: cannot write the cache ({why}); every result was computed anyway (--cache-dir DIR or --no-cache)"
        );
    }
    if !report_failures(&analysis.failures) {
        say!("{done}");
        return Ok(ExitCode::SUCCESS);
    }
    say!("{done}; {} failed (listed above)", analysis.failures.len());
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
        Command::Pipeline(args) => cli::pipeline::run(&args),
        Command::Plot(args) => plot(&args),
        Command::Train(args) => cli::train::run(&args),
    }
}

fn main() -> ExitCode {
    // Ctrl-C, SIGTERM or SIGHUP: the files being written keep their old content and no
    // temporary is left beside them. 130 is the shell's code for an interrupted command.
    // Without the handler (it cannot be set), a killed run leaves temporaries that the next
    // write of the same file removes.
    let _ = ctrlc::set_handler(|| maskspec::atomic::exit_removing_temporaries(130));
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            say!("error: {e:#}");
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

    #[test]
    fn plot_flags_parse() {
        let cli = Cli::parse_from([
            "maskspec",
            "plot",
            "heatmap",
            "s.csv",
            "runs",
            "-o",
            "h.svg",
            "--x",
            "mu0",
            "--y",
            "mu_hat",
            "--all-checkpoints",
        ]);
        let Command::Plot(PlotArgs { figure: PlotFigure::Heatmap(args) }) = cli.command else { panic!("a heatmap") };
        assert_eq!(args.input.paths, [PathBuf::from("s.csv"), PathBuf::from("runs")]);
        assert_eq!(args.input.out, PathBuf::from("h.svg"));
        assert_eq!((args.x.as_deref(), args.y.as_deref(), args.z.as_str()), (Some("mu0"), Some("mu_hat"), "accuracy"));
        assert!(args.all_checkpoints);
        // --x alone is refused: a panel needs both coordinates.
        assert!(Cli::try_parse_from(["maskspec", "plot", "heatmap", "s.csv", "-o", "h.png", "--x", "mu0"]).is_err());
        let cli = Cli::parse_from(["maskspec", "plot", "scatter", "s.csv", "--out", "s.png", "--by", "family"]);
        let Command::Plot(PlotArgs { figure: PlotFigure::Scatter(args) }) = cli.command else { panic!("a scatter") };
        assert_eq!((args.metric.as_str(), args.by.as_deref()), ("ramanujan_gap_imdb", Some("family")));
        let cli = Cli::parse_from(["maskspec", "plot", "evolution", "j.json", "-o", "e.png", "--layer", "fc.weight"]);
        let Command::Plot(PlotArgs { figure: PlotFigure::Evolution(args) }) = cli.command else { panic!("evolution") };
        assert_eq!((args.x.as_str(), args.step_column.as_str()), ("ramanujan_gap_imdb", "step"));
        assert_eq!(args.input.layer.as_deref(), Some("fc.weight"));
    }
}
