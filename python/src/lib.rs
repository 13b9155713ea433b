//! `maskspec._native`: the Rust core as the Python package sees it. The package's public API
//! (`python/maskspec/__init__.py`) wraps these functions into data frames and exceptions; here
//! each function converts its arguments, releases the GIL while the core works, and hands
//! back plain Python values (dicts, lists, numbers, `None` for null), with the same field
//! names and numbers as the CLI's JSON and CSV.

use std::path::PathBuf;

use maskspec::analyze::{analyze_paths, AnalyzeOptions, Cache};
use maskspec::checkpoint::{LayerFilter, LayerView, MaskValues, WeightLayout, WeightValues};
use maskspec::export::object;
use maskspec::metrics::{layer_metrics, summarize, Convention, MetricParams};
use maskspec::provenance::AccuracyTable;
use maskspec::stats::{correlate_table, BootstrapOptions, CorrelateOptions, TableCorrelation};
use maskspec::table::Table;
use maskspec::train::spectra;
use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rayon::prelude::*;
use serde_json::{Map, Value};

/// A Python value of a JSON value: null is `None`, integers stay integers.
fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(f)) => f.into_pyobject(py)?.into_any(),
            (None, None) => py.None().into_bound(py),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => object_to_python(py, map)?.into_any(),
    })
}

fn object_to_python<'py>(py: Python<'py>, map: &Map<String, Value>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in map {
        dict.set_item(key, to_python(py, value)?)?;
    }
    Ok(dict)
}

/// Rows as columns (`{name: [cell per row]}`), the columns of the first row in its order, as
/// the CSV export writes its header.
fn rows_as_columns<'py>(py: Python<'py>, rows: &[Map<String, Value>]) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let Some(first) = rows.first() else { return Ok(dict) };
    for name in first.keys() {
        let cells = PyList::empty(py);
        for row in rows {
            cells.append(to_python(py, row.get(name).unwrap_or(&Value::Null))?)?;
        }
        dict.set_item(name, cells)?;
    }
    Ok(dict)
}

fn metric_params(nested: bool, convention: &str) -> PyResult<MetricParams> {
    let convention: Convention = serde_json::from_value(Value::String(convention.to_string())).map_err(|_| {
        PyValueError::new_err(format!("convention {convention:?}: use \"iclr2023\" or \"neurips2023\""))
    })?;
    Ok(MetricParams { nested, convention, ..Default::default() })
}

/// A weight array borrowed from NumPy, in its own precision.
enum Weight<'py> {
    F32(PyReadonlyArrayDyn<'py, f32>),
    F64(PyReadonlyArrayDyn<'py, f64>),
}

/// A mask array borrowed from NumPy.
enum Mask<'py> {
    Bool(PyReadonlyArrayDyn<'py, bool>),
    U8(PyReadonlyArrayDyn<'py, u8>),
    F32(PyReadonlyArrayDyn<'py, f32>),
    F64(PyReadonlyArrayDyn<'py, f64>),
}

fn weight<'py>(name: &str, array: &Bound<'py, PyAny>) -> PyResult<Weight<'py>> {
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<f32>>() {
        return Ok(Weight::F32(a));
    }
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<f64>>() {
        return Ok(Weight::F64(a));
    }
    Err(PyTypeError::new_err(format!("{name}: the weight must be a float32 or float64 NumPy array")))
}

fn mask<'py>(name: &str, array: &Bound<'py, PyAny>) -> PyResult<Mask<'py>> {
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<bool>>() {
        return Ok(Mask::Bool(a));
    }
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<u8>>() {
        return Ok(Mask::U8(a));
    }
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<f32>>() {
        return Ok(Mask::F32(a));
    }
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<f64>>() {
        return Ok(Mask::F64(a));
    }
    Err(PyTypeError::new_err(format!("{name}: the mask must be a bool, uint8, float32 or float64 NumPy array")))
}

fn contiguous<'a, T>(name: &str, what: &str, slice: Result<&'a [T], numpy::AsSliceError>) -> PyResult<&'a [T]> {
    slice.map_err(|_| PyValueError::new_err(format!("{name}: the {what} is not C-contiguous")))
}

/// One layer's arrays, borrowed for as long as the analysis runs.
struct Borrowed<'py> {
    name: String,
    weight: Weight<'py>,
    mask: Option<Mask<'py>>,
}

impl Borrowed<'_> {
    fn shape(&self) -> &[usize] {
        match &self.weight {
            Weight::F32(a) => a.shape(),
            Weight::F64(a) => a.shape(),
        }
    }

    fn view(&self) -> PyResult<LayerView<'_>> {
        let name = &self.name;
        let weight = match &self.weight {
            Weight::F32(a) => WeightValues::F32(contiguous(name, "weight", a.as_slice())?),
            Weight::F64(a) => WeightValues::F64(contiguous(name, "weight", a.as_slice())?),
        };
        let mask = match &self.mask {
            None => None,
            Some(Mask::Bool(a)) => Some(MaskValues::Bool(contiguous(name, "mask", a.as_slice())?)),
            Some(Mask::U8(a)) => Some(MaskValues::U8(contiguous(name, "mask", a.as_slice())?)),
            Some(Mask::F32(a)) => Some(MaskValues::F32(contiguous(name, "mask", a.as_slice())?)),
            Some(Mask::F64(a)) => Some(MaskValues::F64(contiguous(name, "mask", a.as_slice())?)),
        };
        if let Some(mask_shape) = self.mask_shape().filter(|s| *s != self.shape()) {
            return Err(PyValueError::new_err(format!(
                "{name}: the mask's shape {mask_shape:?} is not the weight's {:?}",
                self.shape()
            )));
        }
        LayerView::new(name, self.shape(), weight, mask).map_err(|e| PyValueError::new_err(format!("{name}: {e}")))
    }

    fn mask_shape(&self) -> Option<&[usize]> {
        Some(match self.mask.as_ref()? {
            Mask::Bool(a) => a.shape(),
            Mask::U8(a) => a.shape(),
            Mask::F32(a) => a.shape(),
            Mask::F64(a) => a.shape(),
        })
    }
}

/// Every SPEC field of each `(name, weight, mask or None)` layer, read in place from the
/// NumPy arrays (PyTorch layout: `[out, in]` or `[out, in, kh, kw]`), as columns, and the
/// layers' summary as `analyze` computes it for one checkpoint.
#[pyfunction]
#[pyo3(signature = (layers, nested = true, convention = "iclr2023"))]
fn analyze_layers<'py>(
    py: Python<'py>,
    layers: Vec<(String, Bound<'py, PyAny>, Option<Bound<'py, PyAny>>)>,
    nested: bool,
    convention: &str,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
    let params = metric_params(nested, convention)?;
    let borrowed: Vec<Borrowed> = layers
        .iter()
        .map(|(name, w, m)| {
            let weight = weight(name, w)?;
            let mask = m.as_ref().filter(|m| !m.is_none()).map(|m| mask(name, m)).transpose()?;
            Ok(Borrowed { name: name.clone(), weight, mask })
        })
        .collect::<PyResult<_>>()?;
    let views: Vec<LayerView> = borrowed.iter().map(Borrowed::view).collect::<PyResult<_>>()?;
    // The arrays stay borrowed (read-only) from NumPy while the threads read them.
    let (metrics, summary) = py.detach(|| {
        let metrics: Vec<_> = views.par_iter().map(|&view| layer_metrics(view, &params)).collect();
        let summary = summarize(&metrics, params.convention);
        (metrics, summary)
    });
    let rows: Vec<_> = metrics.iter().map(object).collect();
    Ok((rows_as_columns(py, &rows)?, object_to_python(py, &object(&summary))?))
}

/// `maskspec analyze` on files and directories: the per-layer and summary columns of its
/// `--csv` and `--summary-csv`, the inputs that failed as `(path, message)`, and the files in
/// the directories walked that are not checkpoints.
#[pyfunction]
#[pyo3(signature = (paths, nested = true, convention = "iclr2023", include = Vec::new(), exclude = Vec::new(), layout = None, masks = None, accuracy = None, cache = None))]
#[allow(clippy::too_many_arguments)]
fn analyze<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    nested: bool,
    convention: &str,
    include: Vec<String>,
    exclude: Vec<String>,
    layout: Option<&str>,
    masks: Option<PathBuf>,
    accuracy: Option<PathBuf>,
    cache: Option<PathBuf>,
) -> PyResult<Bound<'py, PyDict>> {
    let params = metric_params(nested, convention)?;
    let layout = match layout {
        None => None,
        Some("torch") => Some(WeightLayout::Torch),
        Some("flax") => Some(WeightLayout::Flax),
        Some(other) => return Err(PyValueError::new_err(format!("layout {other:?}: use \"torch\" or \"flax\""))),
    };
    let filter = LayerFilter::new(&include, &exclude)
        .map_err(|e| PyValueError::new_err(format!("invalid include/exclude glob: {e}")))?
        .with_layout(layout);
    let accuracy = accuracy
        .map(|path| AccuracyTable::read(&path).map_err(|e| PyValueError::new_err(e.to_string())))
        .transpose()?;
    let options = AnalyzeOptions { filter, params, accuracy, cache: cache.map(Cache::new), masks };
    let analysis = py.detach(|| analyze_paths(&paths, &options, None));
    let result = PyDict::new(py);
    result.set_item("layers", rows_as_columns(py, &maskspec::export::layer_rows(&analysis))?)?;
    result.set_item("summary", rows_as_columns(py, &maskspec::export::summary_rows(&analysis))?)?;
    let failures: Vec<(String, String)> =
        analysis.failures.iter().map(|f| (f.path.display().to_string(), f.message())).collect();
    result.set_item("failures", failures)?;
    let skipped: Vec<String> = analysis.skipped.iter().map(|p| p.display().to_string()).collect();
    result.set_item("skipped", skipped)?;
    result.set_item("cache_unwritable", analysis.cache_unwritable.clone())?;
    Ok(result)
}

/// A cell of a data frame column as `correlate` reads a CSV cell: numbers as their shortest
/// round-trip text, booleans as the CSV writes them, `None` and NaN empty.
fn cell(value: &Bound<PyAny>) -> PyResult<Option<String>> {
    if value.is_none() {
        return Ok(None);
    }
    if let Ok(b) = value.extract::<bool>() {
        return Ok(Some(b.to_string()));
    }
    if let Ok(i) = value.extract::<i64>() {
        return Ok(Some(i.to_string()));
    }
    if let Ok(f) = value.extract::<f64>() {
        return Ok((!f.is_nan()).then(|| f.to_string()));
    }
    Ok(Some(value.str()?.to_string()))
}

/// `maskspec correlate` on columns (`{name: [cell per row]}`): the columns of its `--csv`, one
/// row per (metric, group).
#[pyfunction]
#[pyo3(signature = (columns, metrics = Vec::new(), accuracy = "accuracy".to_string(), covariate = "density".to_string(), by = None, resamples = 2000, seed = 0, confidence = 0.95))]
#[allow(clippy::too_many_arguments)]
fn correlate<'py>(
    py: Python<'py>,
    columns: Vec<(String, Vec<Bound<'py, PyAny>>)>,
    metrics: Vec<String>,
    accuracy: String,
    covariate: String,
    by: Option<String>,
    resamples: usize,
    seed: u64,
    confidence: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let cells = columns
        .into_iter()
        .map(|(name, cells)| Ok((name, cells.iter().map(cell).collect::<PyResult<Vec<_>>>()?)))
        .collect::<PyResult<Vec<_>>>()?;
    let table = Table::from_columns(cells).map_err(PyValueError::new_err)?;
    let bootstrap = BootstrapOptions { resamples, seed, confidence, ..Default::default() };
    let spec = TableCorrelation { metrics, accuracy, covariate, by, options: CorrelateOptions { bootstrap } };
    let rows = py.detach(|| correlate_table(&table, &spec)).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let rows: Vec<_> = rows.iter().map(object).collect();
    rows_as_columns(py, &rows)
}

/// One logged row: step, epoch (if known), event, and the means of `spectra::FIELDS`.
type SpectraRow = (usize, Option<usize>, String, [Option<f64>; 4]);

/// The text of a `spectra.csv` as `maskspec train` writes it.
#[pyfunction]
fn spectra_csv(run: &str, rows: Vec<SpectraRow>) -> String {
    let mut log = String::from(spectra::HEADER);
    for (step, epoch, event, means) in rows {
        spectra::push_row(&mut log, run, step, epoch, &event, means);
    }
    log
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(analyze_layers, m)?)?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(correlate, m)?)?;
    m.add_function(wrap_pyfunction!(spectra_csv, m)?)?;
    m.add("SPECTRA_FIELDS", spectra::FIELDS)?;
    m.add("SPECTRA_HEADER", spectra::HEADER.trim_end().split(',').collect::<Vec<_>>())?;
    Ok(())
}
