# %% [markdown]
# # maskspec from a notebook
#
# Cells in the percent format (Jupyter, VS Code and Jupytext open it as a notebook; `python
# python/examples/notebook.py` runs it whole). Needs `pip install .` at the repository root,
# and pandas; the last cells need torch.

# %%
import pathlib

import numpy as np

import maskspec

REPO = pathlib.Path(__file__).resolve().parents[2] if "__file__" in globals() else pathlib.Path.cwd()
EXAMPLE = REPO / "data" / "example-resnet18-w16-s90.safetensors"

# %% [markdown]
# ## A checkpoint file: one row per layer, one row per checkpoint
# The columns of `maskspec analyze --csv` and `--summary-csv`, with SPEC's names.

# %%
layers, summary = maskspec.analyze(EXAMPLE)
print(layers[["layer", "shape", "density", "ramanujan_gap", "weighted_gap", "ramanujan_gap_imdb", "weighted_gap_imsg"]].head())
print(summary[list(maskspec.SPECTRA_FIELDS)].T)

# %% [markdown]
# ## Arrays you already have, read in place

# %%
rng = np.random.default_rng(0)
mask = rng.random((256, 512)) < 0.1
weight = (rng.standard_normal((256, 512)) * mask).astype(np.float32)
metrics = maskspec.layer_metrics(weight, mask, name="fc.weight")
print({k: metrics[k] for k in ("edges", "d_in", "d_out", "ramanujan_gap", "weighted_gap")})

# %% [markdown]
# ## Does a metric predict accuracy?
# A toy sweep: ten random layers at three densities, with an accuracy that rises with the
# weighted gap plus noise. On a real sweep, `summary` from `maskspec.analyze("runs/")` has
# the accuracy the checkpoints record.

# %%
rows = []
for i in range(30):
    density = (0.05, 0.1, 0.2)[i % 3]
    m = rng.random((64, 128)) < density
    w = (rng.standard_normal((64, 128)) * m).astype(np.float32)
    s = maskspec.analyze_layers({"fc.weight": (w, m)}).summary
    rows.append({**s, "sparsity": 1 - density, "accuracy": 0.5 + 0.01 * s["weighted_gap"] + 0.01 * rng.standard_normal()})
import pandas as pd  # noqa: E402

sweep = pd.DataFrame(rows)
table = maskspec.correlate(sweep, metrics=["ramanujan_gap", "weighted_gap"], by="sparsity", resamples=500)
print(table[["metric", "group", "n", "pearson_r", "ci_low", "ci_high", "partial_r"]])

# %% [markdown]
# ## A PyTorch model: pruned in place, spectra logged from its own loop

# %%
try:
    import torch
except ImportError:
    torch = None

if torch is not None:
    import torch.nn.utils.prune as prune

    from maskspec.torch import SpectraLogger, analyze_module

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    for layer in (model[0], model[2]):
        prune.random_unstructured(layer, "weight", amount=0.8)
    print(analyze_module(model).layers[["layer", "edges", "ramanujan_gap", "weighted_gap"]])

    log = SpectraLogger(model, every=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(256, 64), torch.randint(0, 10, (256,))
    for step in range(31):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        log(step)
    print(log.frame()[["step", *maskspec.SPECTRA_FIELDS]])
