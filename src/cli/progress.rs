//! Progress bars on a terminal (stderr), fed by the library's callbacks; without a terminal
//! nothing is drawn, so batch logs stay clean.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressStyle};
use maskspec::analyze::AnalyzeEvent;
use maskspec::stats::RowsDone;
use maskspec::train::Progress;

fn bar(template: &str) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() { ProgressBar::new(0) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "),
    );
    bar
}

/// `analyze`: layers done out of those found so far (a file's count is known once it is
/// open), with the checkpoints done out of those found.
pub struct AnalyzeBar {
    bar: ProgressBar,
    files: AtomicUsize,
    files_done: AtomicUsize,
}

pub fn analyze_bar() -> AnalyzeBar {
    AnalyzeBar {
        bar: bar("{spinner} analyzing {pos}/{len} layers, {msg} [{bar:30}] {elapsed} (eta {eta})"),
        files: AtomicUsize::new(0),
        files_done: AtomicUsize::new(0),
    }
}

impl AnalyzeBar {
    pub fn on(&self, event: AnalyzeEvent) {
        match event {
            AnalyzeEvent::Found { files } => self.files.store(files, Ordering::Relaxed),
            AnalyzeEvent::Layers { count } => self.bar.inc_length(count as u64),
            AnalyzeEvent::LayersDone { count } => self.bar.inc(count as u64),
            AnalyzeEvent::FileDone => {
                self.files_done.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        let (done, files) = (self.files_done.load(Ordering::Relaxed), self.files.load(Ordering::Relaxed));
        self.bar.set_message(format!("{done}/{files} checkpoints"));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// `correlate`: rows of the table, each one metric over one group with its bootstrap.
pub fn correlate_bar() -> ProgressBar {
    bar("{spinner} correlating {pos}/{len} rows [{bar:30}] {elapsed} (eta {eta})")
}

pub fn on_correlate(bar: &ProgressBar, rows: RowsDone) {
    bar.set_length(rows.total as u64);
    bar.set_position(rows.done as u64);
}

/// `train`: steps, loss and ETA of one run.
pub fn train_bar(run: &str) -> ProgressBar {
    let bar = bar("{prefix} [{bar:30}] {pos}/{len} steps, {msg}, ETA {eta}");
    bar.set_prefix(run.to_string());
    bar
}

pub fn on_train_step(bar: &ProgressBar, p: Progress) {
    bar.set_length(p.total_steps as u64);
    bar.set_position(p.step as u64);
    bar.set_message(p.message());
}
