"""Arrays analyzed in place give the numbers of the same layer read from a file."""

import threading
import time

import numpy as np
import pytest
from safetensors.numpy import save_file

import maskspec


def sparse_layer(seed, shape, density):
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < density
    weight = (rng.standard_normal(shape) * mask).astype(np.float32)
    return weight, mask


def test_numpy_arrays_give_the_numbers_of_the_same_layers_in_safetensors(tmp_path):
    fc, fc_mask = sparse_layer(1, (48, 96), 0.2)
    conv, _ = sparse_layer(2, (16, 8, 3, 3), 0.3)
    path = tmp_path / "model.safetensors"
    save_file({"fc.weight": fc, "fc.weight_mask": fc_mask.astype(np.uint8), "conv.weight": conv}, str(path))
    from_file = maskspec.analyze(path)
    from_arrays = maskspec.analyze_layers({"fc.weight": (fc, fc_mask), "conv.weight": conv})
    by_name = from_file.layers.set_index("layer")
    for row in from_arrays.layers.to_dict("records"):
        expected = by_name.loc[row["layer"]]
        for field in ("edges", "mu0", "mu_hat", "ramanujan_gap", "weighted_gap", "ramanujan_gap_imdb", "weighted_gap_imsg"):
            assert row[field] == expected[field], (row["layer"], field)
    for field in maskspec.SPECTRA_FIELDS:
        assert from_arrays.summary[field] == from_file.summary[field].iloc[0]
    one = maskspec.layer_metrics(fc, fc_mask, name="fc.weight")
    assert one["weighted_gap"] == by_name.loc["fc.weight", "weighted_gap"] and one["layer"] == "fc.weight"


def test_every_weight_and_mask_dtype_gives_the_same_numbers():
    weight, mask = sparse_layer(3, (32, 64), 0.25)
    reference = maskspec.layer_metrics(weight, mask)
    assert reference["edges"] == mask.sum()
    for w in (weight, weight.astype(np.float64), np.asfortranarray(weight), weight.astype(np.int64)):
        for m in (mask, mask.astype(np.uint8), mask.astype(np.float32), mask.astype(np.int64), None):
            got = maskspec.layer_metrics(w, m)
            if w.dtype == np.int64:  # truncated weights: the same mask, other values
                assert got["edges"] == reference["edges"] if m is not None else got["edges"] < reference["edges"]
                continue
            assert (got["edges"], got["ramanujan_gap"], got["weighted_gap"]) == (
                reference["edges"],
                reference["ramanujan_gap"],
                reference["weighted_gap"],
            ), (w.dtype, None if m is None else m.dtype)


def test_contiguous_arrays_are_read_where_they_are():
    weight, mask = sparse_layer(4, (8, 8), 0.5)
    assert np.shares_memory(maskspec._weight_array(weight), weight)
    assert np.shares_memory(maskspec._mask_array(mask), mask)
    # A transposed view is not C-contiguous: it is copied, not misread.
    assert not np.shares_memory(maskspec._weight_array(weight.T), weight)
    assert maskspec.layer_metrics(weight.T)["edges"] == maskspec.layer_metrics(np.ascontiguousarray(weight.T))["edges"]


def test_bad_arrays_raise_errors_naming_the_layer():
    weight, mask = sparse_layer(5, (8, 8), 0.5)
    with pytest.raises(ValueError, match="fc.weight.*mask's shape"):
        maskspec.layer_metrics(weight, mask[:4], name="fc.weight")
    with pytest.raises(ValueError, match="bias.*neither"):
        maskspec.layer_metrics(np.ones(8, np.float32), name="bias")
    broken = weight.copy()
    broken[mask] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        maskspec.layer_metrics(broken, mask)
    with pytest.raises(ValueError, match="convention"):
        maskspec.layer_metrics(weight, convention="nips")


def test_the_gil_is_released_while_rust_works():
    weight, mask = sparse_layer(6, (1500, 1500), 0.3)
    span = {}

    def work():
        start = time.perf_counter()
        maskspec.layer_metrics(weight, mask)
        span["seconds"] = time.perf_counter() - start

    worker = threading.Thread(target=work)
    ticks = [time.perf_counter()]
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
    worker.join()
    longest_pause = max(b - a for a, b in zip(ticks, ticks[1:]))
    # Holding the GIL would stop this thread for the whole call.
    assert span["seconds"] > 0.05
    print(f"call {span['seconds']:.3f} s, longest pause of the other thread {longest_pause:.4f} s")
    assert longest_pause < 0.5 * span["seconds"], (longest_pause, span["seconds"])
