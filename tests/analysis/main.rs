//! The library's tests, in one binary: readers against real writers' files, every metric
//! against the dense-SVD oracle's golden values, solver identities, statistics, figures and
//! tables, and seeded mutations of valid files.

#[path = "../harness/mod.rs"]
mod harness;
mod oracle;
#[path = "../seeded/mod.rs"]
mod seeded;

mod data_formats;
mod golden;
mod mutations;
mod plot_figures;
mod plot_interpolation;
mod plot_table;
mod spectral_props;
mod stats_golden;
mod stats_table;
mod sweep;
mod torch_golden;
mod torch_reader;
