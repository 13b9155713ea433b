"""maskspec: spectral graph analysis of sparse neural-network masks, from a notebook.

The same Rust core as the ``maskspec`` command line, with the same field names and numbers
(every field is defined in docs/SPEC.md):

- :func:`analyze` reads checkpoint files and sweep directories (safetensors, NumPy,
  PyTorch) into a per-layer and a per-checkpoint table, the columns of ``maskspec analyze
  --csv`` and ``--summary-csv``;
- :func:`layer_metrics` and :func:`analyze_layers` analyze NumPy arrays in place;
- :func:`correlate` is ``maskspec correlate`` on a table;
- :mod:`maskspec.torch` analyzes an ``nn.Module`` and logs spectra from a training loop.

Tables are pandas DataFrames when pandas is installed (``as_frame=None``, the default),
otherwise dicts of column lists; ``as_frame=False`` always gives the dicts. The GIL is
released while Rust works, so other Python threads keep running.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._native import __version__

__all__ = [
    "Analysis",
    "AnalysisError",
    "LayerAnalysis",
    "MaskspecError",
    "SPECTRA_FIELDS",
    "__version__",
    "analyze",
    "analyze_layers",
    "correlate",
    "layer_metrics",
]

#: The layer means a training run logs (``spectra.csv``): Δr, λ, Δr_imdb, λ_imsg.
SPECTRA_FIELDS = tuple(_native.SPECTRA_FIELDS)

PathLike = Union[str, "os.PathLike[str]"]
Columns = Dict[str, List[Any]]


class MaskspecError(Exception):
    """Base class of the errors maskspec raises about its inputs."""


class AnalysisError(MaskspecError):
    """Some inputs could not be analyzed.

    ``failures`` lists ``(path, message)`` for each, ``analysis`` holds what was analyzed.
    """

    def __init__(self, failures: List[Tuple[str, str]], analysis: "Analysis"):
        self.failures = failures
        self.analysis = analysis
        lines = [message for _, message in failures]
        head = lines[0] if len(lines) == 1 else f"{len(lines)} inputs could not be analyzed: " + "; ".join(lines)
        super().__init__(head)


@dataclass
class Analysis:
    """What :func:`analyze` found: ``layers`` (one row per checkpoint × layer), ``summary``
    (one row per checkpoint), the inputs that failed and the files that are not checkpoints.

    Unpacks as ``layers, summary = maskspec.analyze(...)``.
    """

    layers: Any
    summary: Any
    failures: List[Tuple[str, str]] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)

    def __iter__(self):
        return iter((self.layers, self.summary))


@dataclass
class LayerAnalysis:
    """Layers analyzed from arrays: ``layers`` (one row per layer) and ``summary`` (the
    checkpoint means and counts ``analyze`` reports, as a dict)."""

    layers: Any
    summary: Dict[str, Any]

    def __iter__(self):
        return iter((self.layers, self.summary))


def _pandas(as_frame: Optional[bool]):
    if as_frame is False:
        return None
    try:
        import pandas
    except ImportError:
        if as_frame:
            raise ImportError("as_frame=True needs pandas: pip install pandas") from None
        return None
    return pandas


def _table(columns: Columns, as_frame: Optional[bool]):
    pandas = _pandas(as_frame)
    return pandas.DataFrame(columns) if pandas is not None else columns


def analyze(
    paths: Union[PathLike, Iterable[PathLike]],
    *,
    nested: bool = True,
    convention: str = "iclr2023",
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    layout: Optional[str] = None,
    masks: Optional[PathLike] = None,
    accuracy: Optional[PathLike] = None,
    cache: Optional[PathLike] = None,
    errors: str = "raise",
    as_frame: Optional[bool] = None,
) -> Analysis:
    """Analyzes checkpoint files and directories (walked recursively), as ``maskspec analyze``.

    ``include``/``exclude`` are layer-name globs, ``layout`` ``"torch"`` or ``"flax"`` (default:
    by name), ``masks`` a file holding every checkpoint's masks, ``accuracy`` a CSV of
    accuracies, ``cache`` a directory for the analysis cache (default: none). ``errors``:
    ``"raise"`` raises :class:`AnalysisError` naming each input that failed, after analyzing
    the others; ``"warn"`` warns and ``"ignore"`` only lists them in ``Analysis.failures``.
    """
    if errors not in ("raise", "warn", "ignore"):
        raise ValueError(f'errors={errors!r}: use "raise", "warn" or "ignore"')
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    result = _native.analyze(
        [os.fspath(p) for p in paths],
        nested=nested,
        convention=convention,
        include=list(include),
        exclude=list(exclude),
        layout=layout,
        masks=None if masks is None else os.fspath(masks),
        accuracy=None if accuracy is None else os.fspath(accuracy),
        cache=None if cache is None else os.fspath(cache),
    )
    analysis = Analysis(
        layers=_table(result["layers"], as_frame),
        summary=_table(result["summary"], as_frame),
        failures=list(result["failures"]),
        skipped=list(result["skipped"]),
    )
    if result["cache_unwritable"]:
        warnings.warn(f"the analysis cache is not written: {result['cache_unwritable']}", stacklevel=2)
    if analysis.failures:
        if errors == "raise":
            raise AnalysisError(analysis.failures, analysis)
        if errors == "warn":
            for _, message in analysis.failures:
                warnings.warn(message, stacklevel=2)
    return analysis


_WEIGHT_DTYPES = (np.float32, np.float64)
_MASK_DTYPES = (np.bool_, np.uint8, np.float32, np.float64)


def _weight_array(weight) -> np.ndarray:
    """The weight as a C-contiguous float32/float64 array: the caller's own memory when it is
    one already (no copy), else a converted copy."""
    array = np.asarray(weight)
    if array.dtype not in _WEIGHT_DTYPES:
        floating = np.issubdtype(array.dtype, np.floating) and array.dtype.itemsize < 4
        array = array.astype(np.float32 if floating else np.float64)
    return np.ascontiguousarray(array)


def _mask_array(mask) -> Optional[np.ndarray]:
    if mask is None:
        return None
    array = np.asarray(mask)
    if array.dtype not in _MASK_DTYPES:
        array = array != 0
    return np.ascontiguousarray(array)


def analyze_layers(
    layers: Mapping[str, Any],
    *,
    nested: bool = True,
    convention: str = "iclr2023",
    as_frame: Optional[bool] = None,
) -> LayerAnalysis:
    """Analyzes ``{name: weight}`` or ``{name: (weight, mask)}`` arrays as one checkpoint.

    Weights are ``[out, in]`` (linear) or ``[out, in, kh, kw]`` (conv), PyTorch's layout.
    float32/float64 C-contiguous weights and bool/uint8/float masks are read where they are,
    without a copy; other dtypes are converted first. Without a mask the nonzero weights are
    the edges. Raises ``ValueError`` naming the layer for a bad shape, a mask of another
    shape or a NaN/inf weight on the mask.
    """
    entries = []
    for name, value in layers.items():
        weight, mask = value if isinstance(value, tuple) else (value, None)
        entries.append((str(name), _weight_array(weight), _mask_array(mask)))
    columns, summary = _native.analyze_layers(entries, nested=nested, convention=convention)
    return LayerAnalysis(layers=_table(columns, as_frame), summary=summary)


def layer_metrics(
    weight,
    mask=None,
    *,
    name: str = "weight",
    nested: bool = True,
    convention: str = "iclr2023",
) -> Dict[str, Any]:
    """Every SPEC field of one layer, as a dict (``None`` where SPEC says null).

    ``weight`` is a NumPy array (or anything ``np.asarray`` takes) of shape ``[out, in]`` or
    ``[out, in, kh, kw]``; ``mask`` an array of the same shape, or ``None`` for the nonzeros.
    float32/float64 weights and bool/uint8/float masks are read in place, without a copy.
    """
    columns, _ = _native.analyze_layers(
        [(name, _weight_array(weight), _mask_array(mask))], nested=nested, convention=convention
    )
    return {field: cells[0] for field, cells in columns.items()}


def _columns_of(data) -> Columns:
    if isinstance(data, Analysis):
        data = data.summary
    if hasattr(data, "to_dict") and hasattr(data, "columns"):
        frame = data.astype(object).where(data.notna(), None)
        return {str(name): frame[name].tolist() for name in frame.columns}
    if isinstance(data, Mapping):
        return {str(name): list(values) for name, values in data.items()}
    raise TypeError("correlate needs a DataFrame, a dict of columns or an Analysis")


def correlate(
    data,
    *,
    metrics: Sequence[str] = (),
    accuracy: str = "accuracy",
    covariate: str = "density",
    by: Optional[str] = None,
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    as_frame: Optional[bool] = None,
):
    """``maskspec correlate`` on a table: Pearson, Spearman and Kendall of each metric with
    accuracy, a bootstrap CI of Pearson's r and the partial correlation given ``covariate``,
    over all rows and within each value of ``by``.

    ``data`` is a summary table (an :class:`Analysis`, a DataFrame or a dict of columns);
    ``metrics`` defaults to every summary field present except density. One row per
    (metric, group), the columns of ``maskspec correlate --csv``.
    """
    columns = _native.correlate(
        list(_columns_of(data).items()),
        metrics=list(metrics),
        accuracy=accuracy,
        covariate=covariate,
        by=by,
        resamples=resamples,
        seed=seed,
        confidence=confidence,
    )
    return _table(columns, as_frame)
