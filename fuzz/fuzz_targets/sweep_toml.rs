//! The pipeline's sweep file: any bytes give a config (whose runs and trainer settings are then
//! derived, as the pipeline does) or a clean error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use maskspec::pipeline::SweepConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(config) = SweepConfig::from_toml(text, "fuzz.toml".into()) {
        for run in config.runs().expect("a validated config has runs") {
            let _ = config.train_config(&run, "out".into());
        }
        let _ = SweepConfig::from_toml(&config.to_toml(), "stored.toml".into()).expect("a stored config reads back");
    }
});
