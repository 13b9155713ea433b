//! Step and epoch from a checkpoint's file name, for sweeps whose files carry no metadata:
//! `step_1000.pt`, `ckpt-500.safetensors`, `checkpoint-2000`, `epoch12.pth`, `ep_3.npz`,
//! `init.pt`, or a bare number (`1000.pt`, taken as a step).

/// What a file name says about where in training it was saved.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NamePosition {
    pub step: Option<u64>,
    pub epoch: Option<u64>,
    /// The name says `init` (or `initial`, `initialization`).
    pub init: bool,
}

const STEP_WORDS: &[&str] = &["step", "steps", "global_step", "iter", "iteration", "it", "checkpoint", "ckpt"];
const EPOCH_WORDS: &[&str] = &["epoch", "epochs", "ep", "e"];

/// The file name without its checkpoint extension(s).
pub fn stem(file_name: &str) -> &str {
    let lower = file_name.to_ascii_lowercase();
    for ext in [".pth.tar", ".safetensors", ".npz", ".npy", ".pth", ".pt"] {
        if lower.ends_with(ext) {
            return &file_name[..file_name.len() - ext.len()];
        }
    }
    file_name
}

/// Splits `stem` into alternating words and numbers: `model_step1000` → model, step, 1000.
fn tokens(stem: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut digits = false;
    for ch in stem.chars() {
        let is_digit = ch.is_ascii_digit();
        if !ch.is_ascii_alphanumeric() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if !current.is_empty() && is_digit != digits {
            out.push(std::mem::take(&mut current));
        }
        digits = is_digit;
        current.push(ch.to_ascii_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

pub fn parse(file_name: &str) -> NamePosition {
    let words = tokens(stem(file_name));
    let mut position = NamePosition::default();
    for (i, word) in words.iter().enumerate() {
        if matches!(word.as_str(), "init" | "initial" | "initialization") {
            position.init = true;
        }
        let Some(number) = words.get(i + 1).and_then(|n| n.parse::<u64>().ok()) else { continue };
        if STEP_WORDS.contains(&word.as_str()) && position.step.is_none() {
            position.step = Some(number);
        } else if EPOCH_WORDS.contains(&word.as_str()) && position.epoch.is_none() {
            position.epoch = Some(number);
        }
    }
    if words.len() == 1 && position.step.is_none() {
        position.step = words[0].parse().ok();
    }
    position
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_epochs_and_init_from_common_names() {
        let p = |name| parse(name);
        assert_eq!(p("step_1000.pt").step, Some(1000));
        assert_eq!(p("ckpt-500.safetensors").step, Some(500));
        assert_eq!(p("checkpoint-2000.pth.tar").step, Some(2000));
        assert_eq!(p("model_step1000.npz").step, Some(1000));
        assert_eq!(p("epoch12.pth").epoch, Some(12));
        assert_eq!(p("resnet_ep_3.npz").epoch, Some(3));
        assert_eq!(p("1000.pt").step, Some(1000));
        assert!(p("init.pt").init);
        assert!(p("mask_initial.safetensors").init);
        assert_eq!(p("best.pt"), NamePosition::default());
        // A width in the name is not a step.
        assert_eq!(p("resnet18_w64.safetensors").step, None);
    }
}
