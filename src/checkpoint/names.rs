//! Tensor names as users know them: the prefixes that training wrappers put in front of every
//! name are taken off, the same way for every format, so `--include 'layer1.*'` matches what
//! the model's code calls `layer1`.
//!
//! - `module.`: `nn.DataParallel` and `DistributedDataParallel` (once per wrap);
//! - `_orig_mod.`: `torch.compile`;
//! - `model.` (then `module.`): a PyTorch Lightning checkpoint whose LightningModule holds the
//!   network as `self.model`, taken off only when every tensor's name has it and the file is
//!   Lightning's (its `pytorch-lightning_version` entry), so a network with a submodule called
//!   `model` keeps its names elsewhere.

use super::{CheckpointError, TensorInfo, TensorSource, TensorValues};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The metadata key a PyTorch Lightning checkpoint always holds.
const LIGHTNING_KEY: &str = "pytorch-lightning_version";

/// `name` without the wrappers' prefixes of every format (`module.`, `_orig_mod.`).
pub fn strip_wrappers(name: &str) -> &str {
    let mut name = name;
    while let Some(rest) = name.strip_prefix("module.").or_else(|| name.strip_prefix("_orig_mod.")) {
        name = rest;
    }
    name
}

/// A source whose tensors carry the names users know; reads go to the source it wraps.
struct Renamed {
    inner: Box<dyn TensorSource>,
    tensors: Vec<TensorInfo>,
}

impl TensorSource for Renamed {
    fn path(&self) -> &Path {
        self.inner.path()
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }
    fn read(&self, index: usize) -> Result<TensorValues, CheckpointError> {
        self.inner.read(index)
    }
    fn metadata(&self) -> &BTreeMap<String, String> {
        self.inner.metadata()
    }
    fn unchanged(&self) -> Result<(), CheckpointError> {
        self.inner.unchanged()
    }
}

/// `source` with its tensors renamed as users know them (unchanged when no name has a prefix).
/// Two tensors that would get one name are an error: they are two models' weights in one file.
pub fn user_names(source: Box<dyn TensorSource>) -> Result<Box<dyn TensorSource>, CheckpointError> {
    let lightning =
        source.metadata().contains_key(LIGHTNING_KEY) && source.tensors().iter().all(|t| t.name.starts_with("model."));
    let rename = |name: &str| -> String {
        let name = if lightning { &name["model.".len()..] } else { name };
        strip_wrappers(name).to_string()
    };
    if source.tensors().iter().all(|t| rename(&t.name) == t.name) {
        return Ok(source);
    }
    let mut seen: HashMap<String, &str> = HashMap::new();
    let mut tensors = Vec::with_capacity(source.tensors().len());
    for t in source.tensors() {
        let name = rename(&t.name);
        if let Some(other) = seen.insert(name.clone(), &t.name) {
            return Err(CheckpointError::tensor(
                source.path(),
                &name,
                format!(
                    "is what both '{other}' and '{}' are called once wrapper prefixes (module., _orig_mod.) are \
                     taken off; save one model's state dict per file",
                    t.name
                ),
            ));
        }
        tensors.push(TensorInfo { name, ..t.clone() });
    }
    Ok(Box::new(Renamed { inner: source, tensors }))
}

#[cfg(test)]
mod tests {
    use super::strip_wrappers;

    #[test]
    fn wrapper_prefixes_come_off_once_per_wrap() {
        assert_eq!(strip_wrappers("module.fc.weight"), "fc.weight");
        assert_eq!(strip_wrappers("module.module.fc.weight"), "fc.weight");
        assert_eq!(strip_wrappers("_orig_mod.module.fc.weight"), "fc.weight");
        assert_eq!(strip_wrappers("fc.module.weight"), "fc.module.weight");
        assert_eq!(strip_wrappers("model.fc.weight"), "model.fc.weight");
    }
}
