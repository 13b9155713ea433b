//! Which format a file holds, from its content: a checkpoint is what its bytes say, whatever
//! its name (Lightning's `.ckpt`, Hugging Face's `pytorch_model.bin`, a `.pth.tar`).

use std::io::Read;
use std::path::Path;

/// File formats maskspec reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Safetensors,
    Npz,
    Npy,
    /// What `torch.save` writes: a ZIP archive holding `data.pkl`, or a (legacy) pickle.
    Torch,
}

/// Bytes read to recognize a format: the longest prefix a test looks at (a TAR header's
/// magic sits at 257).
const HEAD: u64 = 512;

impl Format {
    /// The format `path` holds by its first bytes (and, for a ZIP archive, its entry names), or
    /// `None` when it is no checkpoint maskspec reads.
    pub fn detect(path: &Path) -> std::io::Result<Option<Format>> {
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        let mut head = Vec::new();
        (&mut file).take(HEAD).read_to_end(&mut head)?;
        if head.starts_with(b"\x93NUMPY") {
            return Ok(Some(Format::Npy));
        }
        if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            return Ok(zip_kind(file, path));
        }
        if is_safetensors(&head, len) {
            return Ok(Some(Format::Safetensors));
        }
        Ok(super::torch::is_pickle_checkpoint(&head).then_some(Format::Torch))
    }
}

/// A safetensors file: a little-endian u64 header length that fits in the file, then the
/// header's JSON object.
fn is_safetensors(head: &[u8], len: u64) -> bool {
    let Some(size) = head.get(..8) else { return false };
    let header = u64::from_le_bytes(size.try_into().expect("8 bytes"));
    header >= 2 && header <= len.saturating_sub(8) && head.get(8) == Some(&b'{')
}

/// A ZIP archive is a PyTorch checkpoint when it holds a `data.pkl`, an npz when every entry
/// is an `.npy` (or it is empty, as `np.savez` of nothing writes). Anything else (a zipped
/// dataset, a JAR) is not a checkpoint. One that cannot be listed (truncated) goes to the
/// reader its name says, PyTorch's by default (most ZIP checkpoints are), whose error then
/// says what is wrong with it.
fn zip_kind(file: std::fs::File, path: &Path) -> Option<Format> {
    let Ok(archive) = zip::ZipArchive::new(std::io::BufReader::new(file)) else {
        return Some(super::format_by_name(path).unwrap_or(Format::Torch));
    };
    let mut names = archive.file_names();
    if archive.file_names().any(|n| n == "data.pkl" || n.ends_with("/data.pkl")) {
        Some(Format::Torch)
    } else if names.all(|n| n.ends_with(".npy") || n.ends_with('/')) {
        Some(Format::Npz)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_known_by_content_not_name() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            Format::detect(&path).unwrap()
        };
        let mut safetensors = 2u64.to_le_bytes().to_vec();
        safetensors.extend(b"{}");
        assert_eq!(write("weights.bin", &safetensors), Some(Format::Safetensors));
        assert_eq!(write("a.ckpt", b"\x93NUMPY\x01\x00"), Some(Format::Npy));
        // A pickle of protocol 2 (torch.save before 1.6 starts with the legacy magic number).
        assert_eq!(write("model.pth.tar", b"\x80\x02\x8a\x0alz\xfc\x9cF\xf9 j\xa8P\x19."), Some(Format::Torch));
        assert_eq!(write("notes.safetensors", b"hello, world"), None);
        assert_eq!(write("empty.pt", b""), None);
        // A header length past the end of the file is no safetensors.
        let mut lying = 1000u64.to_le_bytes().to_vec();
        lying.extend(b"{}");
        assert_eq!(write("lying.safetensors", &lying), None);
    }
}
