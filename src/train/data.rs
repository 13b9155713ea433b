//! Training data: the embedded Fashion-MNIST subset (`data/fashion-mnist-14/`) and digits
//! (`data/digits.csv.gz`; data/README.md gives both sources), files from a path, and a seeded
//! stratified split. Samples are stored sample-major; a batch is gathered feature-major for
//! the kernels.

use super::TrainError;
use flate2::read::GzDecoder;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::io::Read;
use std::path::{Path, PathBuf};

const DIGITS_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");
const DIGITS_NAME: &str = "digits";

/// The embedded Fashion-MNIST subset at 14×14 (`data/fashion-mnist-14/make_subset.py` makes
/// it): (file name, bytes) of the training images and labels, then the test ones.
const FASHION_FILES: [(&str, &[u8]); 4] = [
    ("train-images-idx3-ubyte.gz", include_bytes!("../../data/fashion-mnist-14/train-images-idx3-ubyte.gz")),
    ("train-labels-idx1-ubyte.gz", include_bytes!("../../data/fashion-mnist-14/train-labels-idx1-ubyte.gz")),
    ("t10k-images-idx3-ubyte.gz", include_bytes!("../../data/fashion-mnist-14/t10k-images-idx3-ubyte.gz")),
    ("t10k-labels-idx1-ubyte.gz", include_bytes!("../../data/fashion-mnist-14/t10k-labels-idx1-ubyte.gz")),
];
const FASHION_NAME: &str = "fashion";

/// A labelled data set, sample-major `x` (`[n, features]`), inputs scaled to [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub name: String,
    pub features: usize,
    /// `(channels, height, width)` of a sample: `features` in channel-major image order.
    pub image: (usize, usize, usize),
    pub classes: usize,
    pub x: Vec<f32>,
    pub y: Vec<u8>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    fn subset(&self, indices: &[usize]) -> Dataset {
        let mut x = Vec::with_capacity(indices.len() * self.features);
        for &i in indices {
            x.extend_from_slice(&self.x[i * self.features..(i + 1) * self.features]);
        }
        Dataset {
            name: self.name.clone(),
            features: self.features,
            image: self.image,
            classes: self.classes,
            x,
            y: indices.iter().map(|&i| self.y[i]).collect(),
        }
    }

    /// The samples `indices` as a feature-major `[features, batch]` block, and their labels.
    pub fn gather(&self, indices: &[usize], x: &mut Vec<f32>, y: &mut Vec<u8>) {
        let batch = indices.len();
        x.clear();
        x.resize(self.features * batch, 0.0);
        y.clear();
        for (b, &i) in indices.iter().enumerate() {
            let sample = &self.x[i * self.features..(i + 1) * self.features];
            for (f, &v) in sample.iter().enumerate() {
                x[f * batch + b] = v;
            }
            y.push(self.y[i]);
        }
    }
}

/// The 1,797 8×8 digits built into the binary: 64 pixels 0..16 (scaled to [0, 1]), 10 classes.
pub fn digits() -> Result<Dataset, TrainError> {
    let bad = |reason: String| TrainError::Data { name: DIGITS_NAME.into(), reason };
    let mut text = String::new();
    GzDecoder::new(DIGITS_GZ).read_to_string(&mut text).map_err(|e| bad(format!("cannot decompress: {e}")))?;
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (line_no, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 65 {
            return Err(bad(format!("line {} has {} fields, expected 65", line_no + 1, fields.len())));
        }
        for f in &fields[..64] {
            let v: u8 = f.trim().parse().map_err(|_| bad(format!("line {}: pixel {f:?} is not 0..16", line_no + 1)))?;
            x.push(f32::from(v) / 16.0);
        }
        let label: u8 = fields[64].trim().parse().map_err(|_| bad(format!("line {}: bad label", line_no + 1)))?;
        if label > 9 {
            return Err(bad(format!("line {}: label {label} is not 0..9", line_no + 1)));
        }
        y.push(label);
    }
    Ok(Dataset { name: DIGITS_NAME.into(), features: 64, image: (1, 8, 8), classes: 10, x, y })
}

/// The embedded Fashion-MNIST subset: 12,000 training images (1,200 a class) and all 10,000
/// test images, downsampled to 14×14, as (train, test).
pub fn fashion() -> Result<(Dataset, Dataset), TrainError> {
    let name = |k: usize| format!("embedded {}", FASHION_FILES[k].0);
    let read = |k: usize, rank: u8| {
        let bytes = FASHION_FILES[k].1;
        let most = (bytes.len() as u64).saturating_mul(MAX_DEFLATE_RATIO);
        parse_idx(&mut GzDecoder::new(bytes), most, bytes.len() as u64, rank, &name(k))
    };
    let train = idx_dataset(read(0, 3)?, read(1, 1)?, &[name(0), name(1)])?;
    let test = idx_dataset(read(2, 3)?, read(3, 1)?, &[name(2), name(3)])?;
    let named = |d: Dataset| Dataset { name: FASHION_NAME.into(), ..d };
    Ok((named(train), named(test)))
}

/// Which data set a run trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// Fashion-MNIST at 14×14 built into the binary: 12,000 training and 10,000 test images.
    Fashion,
    /// The 1,797 8×8 digits built into the binary (split by `--test-fraction`).
    Digits,
    /// MNIST or Fashion-MNIST IDX files (raw or .gz) in `--data DIR`.
    Mnist,
    /// CIFAR-10 binary batches (`data_batch_1..5.bin`, `test_batch.bin`) in `--data DIR`.
    Cifar10,
    /// CIFAR-100 binary files (`train.bin`, `test.bin`, fine labels) in `--data DIR`.
    Cifar100,
}

impl DatasetKind {
    /// The name the command line and the sweep file use.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetKind::Fashion => FASHION_NAME,
            DatasetKind::Digits => DIGITS_NAME,
            DatasetKind::Mnist => "mnist",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
        }
    }
}

/// Largest training file read, decompressed: MNIST's training images are 47 MB and
/// CIFAR-100's training file 150 MB, so this only refuses what no data set of these formats
/// holds (a forged header, a gzip bomb) before it fills memory.
pub const MAX_DATA_BYTES: u64 = 256 << 20;

/// Most pixels an IDX image may have (256×256; MNIST's are 28×28): each becomes an input
/// feature, and a forged 16384×16384 image would be a 2^28-feature model.
pub const MAX_IMAGE_PIXELS: u64 = 1 << 16;

/// Deflate (gzip) expands at most 1032:1: a header claiming more than that of the file is lying.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// `dir/name` if it is there, else `dir/name.gz`.
fn find_maybe_gz(dir: &Path, name: &str) -> Result<PathBuf, TrainError> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Ok(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(TrainError::Data {
        name: dir.display().to_string(),
        reason: format!("neither {name} nor {name}.gz is there; point --data at the directory holding them"),
    })
}

/// A reader of `path`'s bytes (decompressed when the name ends in `.gz`), the most bytes it
/// can yield (known before anything is read) and the file's own length.
fn open_data(path: &Path) -> Result<(Box<dyn Read>, u64, u64), TrainError> {
    let io = |source| TrainError::Io { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let gz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    Ok(if gz {
        (Box::new(GzDecoder::new(std::io::BufReader::new(file))), len.saturating_mul(MAX_DEFLATE_RATIO), len)
    } else {
        (Box::new(file), len, len)
    })
}

/// Reads until `buf` is full or the input ends; how many bytes were read.
fn fill(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// An IDX file of unsigned bytes (big-endian header: 0, 0, type 0x08, `rank`, then one u32 per
/// dimension), raw or gzipped (by its `.gz` name): its dimensions and data. The dimensions are
/// checked against what the file can hold before the data is allocated.
pub fn read_idx(path: &Path, rank: u8) -> Result<(Vec<usize>, Vec<u8>), TrainError> {
    let (mut reader, most, file_len) = open_data(path)?;
    parse_idx(&mut reader, most, file_len, rank, &path.display().to_string())
}

/// [`read_idx`] of `reader`, which yields at most `most` bytes from a file of `file_len`;
/// errors name the file `name`.
fn parse_idx(
    reader: &mut dyn Read,
    most: u64,
    file_len: u64,
    rank: u8,
    name: &str,
) -> Result<(Vec<usize>, Vec<u8>), TrainError> {
    let bad = |reason: String| TrainError::Data { name: name.to_string(), reason };
    let unreadable = |e: std::io::Error| bad(format!("cannot be read ({e}); is it truncated or not gzip?"));
    let mut header = vec![0u8; 4 + 4 * rank as usize];
    let got = fill(reader, &mut header).map_err(unreadable)?;
    if got < 4 || header[0] != 0 || header[1] != 0 || header[2] != 0x08 || header[3] != rank {
        return Err(bad(format!("is not a rank-{rank} unsigned-byte IDX file (bad magic number)")));
    }
    if got < header.len() {
        return Err(bad("is truncated inside its header".into()));
    }
    let dims: Vec<usize> =
        header[4..].chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let expected = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64)).unwrap_or(u64::MAX);
    if let [_, rows, cols] = dims[..] {
        if rows as u64 * cols as u64 > MAX_IMAGE_PIXELS {
            return Err(bad(format!(
                "its images are {rows}×{cols} pixels; maskspec trains on images of at most {MAX_IMAGE_PIXELS} pixels (256×256)"
            )));
        }
    }
    let room = most.saturating_sub(header.len() as u64);
    if expected > room.min(MAX_DATA_BYTES) {
        return Err(bad(format!(
            "its header says {dims:?} ({expected} bytes) but the file can hold at most {room} and maskspec reads at most {MAX_DATA_BYTES}; it is corrupt or not MNIST-like"
        )));
    }
    // A gzipped file's claim sizes the buffer only up to 8× the file (MNIST's expand about 5×);
    // past that the buffer grows as bytes arrive, so a lying header costs nothing up front.
    // One byte past the claim tells a file with trailing bytes from an exact one.
    let mut data = Vec::with_capacity(expected.min(file_len.saturating_mul(8)) as usize);
    reader.take(expected + 1).read_to_end(&mut data).map_err(unreadable)?;
    if data.len() as u64 != expected {
        let held = if data.len() as u64 > expected { format!("more than {expected}") } else { data.len().to_string() };
        return Err(bad(format!("holds {held} data bytes but its header says {dims:?}")));
    }
    Ok((dims, data))
}

fn idx_pair(dir: &Path, images: &str, labels: &str) -> Result<Dataset, TrainError> {
    let (ipath, lpath) = (find_maybe_gz(dir, images)?, find_maybe_gz(dir, labels)?);
    let names = [ipath.display().to_string(), lpath.display().to_string()];
    idx_dataset(read_idx(&ipath, 3)?, read_idx(&lpath, 1)?, &names)
}

/// The data set of read IDX images and labels, from the files `[images, labels]` (the names
/// errors give).
fn idx_dataset(
    (idims, pixels): (Vec<usize>, Vec<u8>),
    (ldims, y): (Vec<usize>, Vec<u8>),
    [images, labels]: &[String; 2],
) -> Result<Dataset, TrainError> {
    let bad = |reason: String| TrainError::Data { name: labels.to_string(), reason };
    if idims[0] != ldims[0] {
        return Err(bad(format!("has {} labels for {} images in {images}", ldims[0], idims[0])));
    }
    if let Some(&label) = y.iter().find(|&&l| l > 9) {
        return Err(bad(format!("label {label} is not 0..9")));
    }
    Ok(Dataset {
        name: "mnist".into(),
        features: idims[1] * idims[2],
        image: (1, idims[1], idims[2]),
        classes: 10,
        x: pixels.iter().map(|&p| f32::from(p) / 255.0).collect(),
        y,
    })
}

/// Pixels in a CIFAR record: 3 channels of 32×32, channel-major.
const CIFAR_PIXELS: usize = 3 * 32 * 32;

/// A CIFAR data set with no records yet.
fn empty_cifar(name: &str, classes: usize) -> Dataset {
    Dataset { name: name.into(), features: CIFAR_PIXELS, image: (3, 32, 32), classes, x: Vec::new(), y: Vec::new() }
}

/// A CIFAR binary file, raw or gzipped (by its `.gz` name): records of `label_bytes` label
/// bytes (the last is the class, below `classes`) then 3,072 pixels, streamed record by record
/// and refused past [`MAX_DATA_BYTES`].
pub fn read_cifar(path: &Path, label_bytes: usize, classes: usize, name: &str) -> Result<Dataset, TrainError> {
    let bad = |reason: String| TrainError::Data { name: path.display().to_string(), reason };
    if !(1..=2).contains(&label_bytes) {
        return Err(bad(format!("{label_bytes} label bytes per record: CIFAR records have 1 or 2")));
    }
    let record = label_bytes + CIFAR_PIXELS;
    let (mut reader, most, _) = open_data(path)?;
    let mut data = empty_cifar(name, classes);
    let mut buf = vec![0u8; record];
    let mut read = 0u64;
    loop {
        let got = fill(&mut reader, &mut buf)
            .map_err(|e| bad(format!("cannot be read ({e}); is it truncated or not gzip?")))?;
        read += got as u64;
        if got < record {
            if got > 0 || read == 0 {
                return Err(bad(format!("is {read} bytes, not a whole number of {record}-byte records")));
            }
            break;
        }
        if read > MAX_DATA_BYTES.min(most) {
            return Err(bad(format!(
                "holds more than the {MAX_DATA_BYTES} bytes maskspec reads; it is not a CIFAR file"
            )));
        }
        let label = buf[label_bytes - 1];
        if usize::from(label) >= classes {
            return Err(bad(format!("record {}: label {label} is not below {classes}", data.y.len())));
        }
        data.y.push(label);
        data.x.extend(buf[label_bytes..].iter().map(|&p| f32::from(p) / 255.0));
    }
    Ok(data)
}

fn cifar_files(
    dir: &Path,
    files: &[&str],
    label_bytes: usize,
    classes: usize,
    name: &str,
) -> Result<Dataset, TrainError> {
    let mut data = empty_cifar(name, classes);
    for file in files {
        let part = read_cifar(&find_maybe_gz(dir, file)?, label_bytes, classes, name)?;
        data.x.extend(part.x);
        data.y.extend(part.y);
    }
    Ok(data)
}

/// The run's train / validation / test parts. The digits are split by `test_fraction` and
/// `val_fraction`; MNIST and CIFAR keep their own test set and hold `val_fraction` of their
/// training set out, stratified, for validation.
pub fn load(
    kind: DatasetKind,
    path: Option<&Path>,
    test_fraction: f64,
    val_fraction: f64,
    seed: u64,
) -> Result<Split, TrainError> {
    let dir = || {
        path.ok_or_else(|| {
            TrainError::Config(format!("--dataset {kind:?} needs --data DIR (only fashion and digits are built in)"))
        })
    };
    let (train, test) = match kind {
        DatasetKind::Digits => return Ok(stratified_split(&digits()?, test_fraction, val_fraction, seed)),
        DatasetKind::Fashion => fashion()?,
        DatasetKind::Mnist => {
            let d = dir()?;
            (
                idx_pair(d, "train-images-idx3-ubyte", "train-labels-idx1-ubyte")?,
                idx_pair(d, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")?,
            )
        }
        DatasetKind::Cifar10 => {
            let d = dir()?;
            let batches =
                ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
            (cifar_files(d, &batches, 1, 10, "cifar10")?, cifar_files(d, &["test_batch.bin"], 1, 10, "cifar10")?)
        }
        DatasetKind::Cifar100 => {
            let d = dir()?;
            (cifar_files(d, &["train.bin"], 2, 100, "cifar100")?, cifar_files(d, &["test.bin"], 2, 100, "cifar100")?)
        }
    };
    let parts = stratified_split(&train, 0.0, val_fraction, seed);
    Ok(Split { train: parts.train, val: parts.val, test })
}

/// Train / validation / test parts of one data set.
#[derive(Debug, Clone)]
pub struct Split {
    pub train: Dataset,
    pub val: Dataset,
    pub test: Dataset,
}

/// About `n` of the samples (each class's share rounded), drawn with `seed`: all of them when
/// `n` is 0 or not below their count.
pub fn stratified_sample(data: &Dataset, n: usize, seed: u64) -> Dataset {
    if n == 0 || n >= data.len() {
        return data.clone();
    }
    stratified_split(data, 0.0, n as f64 / data.len() as f64, seed).val
}

/// Stratified by class: each class's samples are shuffled with `seed` and cut in the given
/// fractions (rounded per class), so every part keeps the class proportions.
pub fn stratified_split(data: &Dataset, test_fraction: f64, val_fraction: f64, seed: u64) -> Split {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut val, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for class in 0..data.classes {
        let mut members: Vec<usize> = (0..data.len()).filter(|&i| usize::from(data.y[i]) == class).collect();
        members.shuffle(&mut rng);
        let n = members.len() as f64;
        let n_test = (n * test_fraction).round() as usize;
        let n_val = (n * val_fraction).round() as usize;
        test.extend_from_slice(&members[..n_test]);
        val.extend_from_slice(&members[n_test..n_test + n_val]);
        train.extend_from_slice(&members[n_test + n_val..]);
    }
    // Sorted so a part's order does not depend on class order; training shuffles anyway.
    for part in [&mut train, &mut val, &mut test] {
        part.sort_unstable();
    }
    Split { train: data.subset(&train), val: data.subset(&val), test: data.subset(&test) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_complete_and_balanced() {
        let d = digits().unwrap();
        assert_eq!(d.len(), 1797);
        assert_eq!(d.x.len(), 1797 * 64);
        assert!(d.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        for class in 0..10u8 {
            let n = d.y.iter().filter(|&&y| y == class).count();
            assert!((170..=190).contains(&n), "class {class} has {n} samples");
        }
    }

    #[test]
    fn embedded_fashion_is_what_its_script_recorded() {
        let manifest: serde_json::Value =
            serde_json::from_str(include_str!("../../data/fashion-mnist-14/manifest.json")).unwrap();
        for (name, bytes) in FASHION_FILES {
            let mut data = Vec::new();
            GzDecoder::new(bytes).read_to_end(&mut data).unwrap();
            let recorded = &manifest["decompressed"][name];
            assert_eq!(data.len() as u64, recorded["bytes"].as_u64().unwrap(), "{name}");
            assert_eq!(crate::fnv::fnv1a_hex(&data), recorded["fnv1a64"].as_str().unwrap(), "{name}");
        }
        let (train, test) = fashion().unwrap();
        assert_eq!((train.len(), test.len(), train.features, train.image), (12_000, 10_000, 196, (1, 14, 14)));
        for class in 0..10u8 {
            assert_eq!(train.y.iter().filter(|&&y| y == class).count(), 1200, "class {class}");
            assert_eq!(test.y.iter().filter(|&&y| y == class).count(), 1000, "class {class}");
        }
        assert!(train.x.iter().chain(&test.x).all(|&v| (0.0..=1.0).contains(&v)));
    }

    #[test]
    fn a_sample_keeps_the_class_shares() {
        let (train, _) = fashion().unwrap();
        let sample = stratified_sample(&train, 1000, 4);
        assert_eq!(sample.len(), 1000);
        for class in 0..10u8 {
            assert_eq!(sample.y.iter().filter(|&&y| y == class).count(), 100, "class {class}");
        }
        assert_eq!(sample, stratified_sample(&train, 1000, 4));
        assert_ne!(sample, stratified_sample(&train, 1000, 5));
        assert_eq!(stratified_sample(&train, 0, 4).len(), train.len());
    }

    #[test]
    fn split_is_stratified_disjoint_and_seeded() {
        let d = digits().unwrap();
        let s = stratified_split(&d, 0.2, 0.1, 3);
        assert_eq!(s.train.len() + s.val.len() + s.test.len(), d.len());
        for class in 0..10u8 {
            let total = d.y.iter().filter(|&&y| y == class).count() as f64;
            let in_test = s.test.y.iter().filter(|&&y| y == class).count() as f64;
            assert!((in_test - 0.2 * total).abs() <= 0.5 + 1e-9);
        }
        // Disjoint: every sample (pixels + label) appears in exactly one part as often as in the whole.
        let key = |ds: &Dataset, i: usize| {
            (ds.x[i * 64..(i + 1) * 64].iter().map(|v| v.to_bits()).collect::<Vec<_>>(), ds.y[i])
        };
        let mut all: Vec<_> = (0..d.len()).map(|i| key(&d, i)).collect();
        let mut parts: Vec<_> =
            [&s.train, &s.val, &s.test].iter().flat_map(|p| (0..p.len()).map(|i| key(p, i))).collect();
        all.sort();
        parts.sort();
        assert_eq!(all, parts);
        let again = stratified_split(&d, 0.2, 0.1, 3);
        assert_eq!(again.test, s.test);
        let other = stratified_split(&d, 0.2, 0.1, 4);
        assert_ne!(other.test, s.test);
    }

    fn idx(rank: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, rank];
        for d in dims {
            b.extend(d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_tiny_mnist_idx_raw_and_gz() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // 4 training images of 2×3 with labels 0,1,0,1; 2 test images.
        let pixels: Vec<u8> = (0..24).map(|i| (i * 10) as u8).collect();
        std::fs::write(d.join("train-images-idx3-ubyte"), idx(3, &[4, 2, 3], &pixels)).unwrap();
        std::fs::write(d.join("train-labels-idx1-ubyte.gz"), gz(&idx(1, &[4], &[0, 1, 0, 1]))).unwrap();
        std::fs::write(d.join("t10k-images-idx3-ubyte.gz"), gz(&idx(3, &[2, 2, 3], &pixels[..12]))).unwrap();
        std::fs::write(d.join("t10k-labels-idx1-ubyte"), idx(1, &[2], &[1, 0])).unwrap();
        let split = load(DatasetKind::Mnist, Some(d), 0.2, 0.5, 0).unwrap();
        assert_eq!(split.test.len(), 2);
        assert_eq!(split.test.features, 6);
        assert_eq!(split.test.y, vec![1, 0]);
        assert_eq!(split.test.x[1], 10.0 / 255.0);
        assert_eq!((split.train.len(), split.val.len()), (2, 2));
        // A label file whose header disagrees with its length is an error naming the file.
        std::fs::write(d.join("t10k-labels-idx1-ubyte"), idx(1, &[3], &[1, 0])).unwrap();
        let err = load(DatasetKind::Mnist, Some(d), 0.2, 0.5, 0).unwrap_err().to_string();
        assert!(err.contains("t10k-labels-idx1-ubyte") && err.contains("header"), "{err}");
        // Missing directory contents say what to do.
        let empty = tempfile::tempdir().unwrap();
        let err = load(DatasetKind::Mnist, Some(empty.path()), 0.2, 0.5, 0).unwrap_err().to_string();
        assert!(err.contains("--data"), "{err}");
        assert!(load(DatasetKind::Mnist, None, 0.2, 0.5, 0).is_err());
    }

    #[test]
    fn reads_tiny_cifar_batches() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let record = |label: &[u8], fill: u8| {
            let mut r = label.to_vec();
            r.extend(std::iter::repeat_n(fill, 3072));
            r
        };
        for (i, name) in
            ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"]
                .iter()
                .enumerate()
        {
            std::fs::write(d.join(name), [record(&[i as u8], 255), record(&[9], 0)].concat()).unwrap();
        }
        std::fs::write(d.join("test_batch.bin"), record(&[3], 51)).unwrap();
        let split = load(DatasetKind::Cifar10, Some(d), 0.2, 0.0, 0).unwrap();
        assert_eq!(split.train.len(), 10);
        assert_eq!(split.test.y, vec![3]);
        assert_eq!(split.test.x[0], 0.2);
        assert_eq!(split.train.features, 3072);
        // CIFAR-100: coarse then fine label; the fine one is the class.
        std::fs::write(d.join("train.bin"), record(&[1, 42], 0)).unwrap();
        std::fs::write(d.join("test.bin"), record(&[2, 99], 0)).unwrap();
        let split = load(DatasetKind::Cifar100, Some(d), 0.2, 0.0, 0).unwrap();
        assert_eq!((split.train.y.clone(), split.test.y.clone(), split.test.classes), (vec![42], vec![99], 100));
        // A torn record is an error.
        std::fs::write(d.join("test_batch.bin"), &record(&[3], 0)[..100]).unwrap();
        assert!(load(DatasetKind::Cifar10, Some(d), 0.2, 0.0, 0).is_err());
    }

    #[test]
    fn gather_is_feature_major() {
        let d = digits().unwrap();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        d.gather(&[5, 2], &mut x, &mut y);
        assert_eq!(y, vec![d.y[5], d.y[2]]);
        // Feature 3 of the batch: sample 5 then sample 2.
        assert_eq!(x[3 * 2], d.x[5 * 64 + 3]);
        assert_eq!(x[3 * 2 + 1], d.x[2 * 64 + 3]);
    }
}
