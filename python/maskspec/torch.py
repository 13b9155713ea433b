"""maskspec for PyTorch models: analyze an ``nn.Module`` where it lives, and log its spectra
from your own training loop.

A module's layers are the tensors ``maskspec analyze`` would find in its saved
``state_dict``: every 2-D ``[out, in]`` and 4-D ``[out, in, kh, kw]`` floating tensor, with its
mask from ``torch.nn.utils.prune`` (``weight_orig`` and ``weight_mask``), from ``masks=``
(``{name: tensor}``, e.g. a RigL/SET mask dictionary), or else its nonzeros. CPU float32 and
float64 tensors are read in place; others (GPU, half precision) are copied to the CPU first.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch

from . import SPECTRA_FIELDS, LayerAnalysis, _native, _table

__all__ = ["SpectraLogger", "analyze_module", "module_layers"]

# What `maskspec analyze` reads as the unmasked weight of PREFIX.weight.
_UNMASKED = (".weight_orig", ".parametrizations.weight.original")


def _is_mask_name(name: str) -> bool:
    return name.endswith("_mask") or name.endswith(".mask")


def _numpy(tensor: torch.Tensor, mask: bool = False) -> np.ndarray:
    tensor = tensor.detach()
    if mask:
        if tensor.dtype not in (torch.bool, torch.uint8, torch.float32, torch.float64):
            tensor = tensor != 0
    elif tensor.dtype not in (torch.float32, torch.float64):
        tensor = tensor.float()
    # .numpy() shares the tensor's memory: no copy for a contiguous CPU tensor.
    return tensor.cpu().contiguous().numpy()


def _parametrization_mask(module: torch.nn.Module, prefix: str) -> Optional[torch.Tensor]:
    """The mask of a weight under ``torch.nn.utils.parametrize`` (torch.ao.pruning's
    ``FakeSparsity`` keeps it on the parametrization, outside the state_dict)."""
    owner = module.get_submodule(prefix) if prefix else module
    for parametrization in owner.parametrizations.weight:
        mask = getattr(parametrization, "mask", None)
        if isinstance(mask, torch.Tensor):
            return mask
    return None


def module_layers(
    module: torch.nn.Module, masks: Optional[Mapping[str, torch.Tensor]] = None
) -> List[Tuple[str, np.ndarray, Optional[np.ndarray]]]:
    """``(name, weight, mask or None)`` for each layer of ``module``, named as in its
    ``state_dict`` (``weight_orig`` and ``parametrizations.weight.original`` reported as
    ``weight``), as NumPy views of its tensors."""
    masks = dict(masks or {})
    state = module.state_dict(keep_vars=True)
    layers = []
    for key, tensor in state.items():
        if _is_mask_name(key) or not torch.is_floating_point(tensor) or tensor.dim() not in (2, 4):
            continue
        name, mask = key, None
        if key.endswith(_UNMASKED[0]):
            name = key[: -len(_UNMASKED[0])] + ".weight"
            mask = state.get(name + "_mask")
        elif key.endswith(_UNMASKED[1]):
            prefix = key[: -len(_UNMASKED[1])]
            name = prefix + ".weight"
            mask = _parametrization_mask(module, prefix)
            if mask is None:  # some other parametrization: analyze the weight it computes
                tensor = (module.get_submodule(prefix) if prefix else module).weight
        else:
            mask = state.get(name + "_mask")
        given = masks.pop(name, None)
        mask = given if given is not None else mask
        layers.append((name, _numpy(tensor), None if mask is None else _numpy(mask, mask=True)))
    if masks:
        raise ValueError(f"masks= names layers the module does not have: {', '.join(sorted(masks))}")
    if not layers:
        raise ValueError("the module has no 2-D or 4-D floating tensors to analyze")
    return layers


def analyze_module(
    module: torch.nn.Module,
    *,
    masks: Optional[Mapping[str, torch.Tensor]] = None,
    nested: bool = True,
    convention: str = "iclr2023",
    as_frame: Optional[bool] = None,
) -> LayerAnalysis:
    """Every SPEC field of each layer of ``module`` (``layers``, one row per layer) and their
    checkpoint summary (``summary``, a dict), as ``maskspec analyze`` gives for its saved
    ``state_dict``. The layers are analyzed in parallel with the GIL released."""
    columns, summary = _native.analyze_layers(module_layers(module, masks), nested=nested, convention=convention)
    return LayerAnalysis(layers=_table(columns, as_frame), summary=summary)


class SpectraLogger:
    """Logs a model's layer-mean spectra (Δr, λ, Δr_imdb, λ_imsg) every ``every`` steps of
    your own training loop::

        log = SpectraLogger(model, every=100, path="runs/mine/spectra.csv", run="mine")
        for step, (x, y) in enumerate(loader):
            ...
            optimizer.step()
            log(step)

    ``path`` gets the columns of the ``spectra.csv`` that ``maskspec train`` writes, rewritten
    whole (to a temporary name, then renamed) after each row, so ``maskspec plot evolution``
    reads it and a crash never leaves half a file. ``rows`` holds every row logged, ``frame()``
    them as a table. ``masks`` is a ``{name: tensor}`` dict or a function returning one, for
    masks kept outside the module that change as training goes (RigL, SET).
    """

    HEADER = tuple(_native.SPECTRA_HEADER)

    def __init__(
        self,
        module: torch.nn.Module,
        every: int = 100,
        *,
        path: Optional[os.PathLike] = None,
        run: str = "run",
        masks: Optional[Mapping[str, torch.Tensor]] = None,
        nested: bool = True,
        convention: str = "iclr2023",
    ):
        if every < 1:
            raise ValueError(f"every={every}: log at least every step (every >= 1)")
        self.module, self.every, self.run = module, every, run
        self.path = None if path is None else os.fspath(path)
        self.masks, self.nested, self.convention = masks, nested, convention
        self.rows: List[Dict[str, Any]] = []

    def __call__(self, step: int, epoch: Optional[int] = None, *, force: bool = False) -> Optional[Dict[str, Any]]:
        """Logs the spectra at ``step`` when it is a multiple of ``every`` (or ``force``);
        returns the row logged, or ``None``."""
        if step % self.every != 0 and not force:
            return None
        return self.log(step, epoch)

    def log(self, step: int, epoch: Optional[int] = None, event: str = "checkpoint") -> Dict[str, Any]:
        """Logs the spectra now, whatever the step; ``event`` is ``checkpoint`` or ``update``
        (after a mask update), as in ``spectra.csv``."""
        masks = self.masks() if callable(self.masks) else self.masks
        layers = module_layers(self.module, masks)
        _, summary = _native.analyze_layers(layers, nested=self.nested, convention=self.convention)
        row = {"run": self.run, "step": step, "epoch": epoch, "event": event, "init": step == 0 and event == "checkpoint"}
        row.update({name: summary.get(name) for name in SPECTRA_FIELDS})
        self.rows.append(row)
        if self.path is not None:
            self._write()
        return row

    def frame(self, as_frame: Optional[bool] = None):
        """The rows logged, as a DataFrame (or a dict of columns without pandas)."""
        return _table({name: [row[name] for row in self.rows] for name in self.HEADER}, as_frame)

    def _write(self) -> None:
        rows = [(r["step"], r["epoch"], r["event"], [r[name] for name in SPECTRA_FIELDS]) for r in self.rows]
        text = _native.spectra_csv(self.run, rows)
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".spectra.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", newline="") as f:
                f.write(text)
            os.replace(temporary, self.path)
        except BaseException:
            os.unlink(temporary)
            raise
