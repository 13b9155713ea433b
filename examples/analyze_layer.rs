//! Reads one checkpoint and prints the spectral metrics of each layer: the library without the
//! command line.
//!
//!     cargo run --release --example analyze_layer -- data/example-resnet18-w16-s90.safetensors

use maskspec::checkpoint::{self, LayerFilter};
use maskspec::metrics::{layer_metrics, MetricParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: analyze_layer CHECKPOINT")?;
    let source = checkpoint::open(std::path::Path::new(&path))?;
    let params = MetricParams::default();
    println!("layer,edges,mu0,mu_hat,ramanujan_gap,weighted_gap");
    for spec in checkpoint::discover_layers(source.as_ref(), &LayerFilter::default())? {
        let layer = checkpoint::load_layer(source.as_ref(), &spec)?;
        let m = layer_metrics(&layer, &params);
        let cell = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.6}"));
        println!(
            "{},{},{},{},{},{}",
            m.layer,
            m.edges,
            cell(m.mu0),
            cell(m.mu_hat),
            cell(m.ramanujan_gap),
            cell(m.weighted_gap)
        );
    }
    Ok(())
}
