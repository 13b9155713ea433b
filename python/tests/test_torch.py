"""maskspec.torch: a module's layers give the numbers of its state_dict saved by PyTorch's
own writers, read without copies; the logger writes the trainer's spectra.csv."""

import csv

import numpy as np
import pytest

torch = pytest.importorskip("torch")
prune = pytest.importorskip("torch.nn.utils.prune")
from safetensors.torch import save_file  # noqa: E402

import maskspec  # noqa: E402
from maskspec.torch import SpectraLogger, analyze_module, module_layers  # noqa: E402


def pruned_model(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 6 * 6, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 10),
    )
    prune.l1_unstructured(model[0], "weight", amount=0.7)
    prune.random_unstructured(model[3], "weight", amount=0.9)
    with torch.no_grad():  # the last layer: sparse by zeros, no mask
        model[5].weight[model[5].weight.abs() < 0.05] = 0
    return model


def test_a_module_gives_the_numbers_of_its_state_dict_saved_by_torch(tmp_path):
    model = pruned_model()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp_path / "model.safetensors"))
    torch.save(model.state_dict(), tmp_path / "model.pt")
    ours = analyze_module(model)
    for path in ("model.safetensors", "model.pt"):
        from_file = maskspec.analyze(tmp_path / path)
        assert ours.layers["layer"].tolist() == from_file.layers["layer"].tolist() == ["0.weight", "3.weight", "5.weight"]
        for field in ("edges", "ramanujan_gap", "weighted_gap", "ramanujan_gap_imdb", "weighted_gap_imsg", "mu0"):
            np.testing.assert_array_equal(ours.layers[field].to_numpy(float), from_file.layers[field].to_numpy(float), (path, field))
        for field in maskspec.SPECTRA_FIELDS:
            np.testing.assert_array_equal(ours.summary[field], from_file.summary[field].iloc[0], field)
    # The mask is prune's: 90% of 3.weight's weights are off it.
    assert ours.layers.set_index("layer").loc["3.weight", "edges"] == round(0.1 * 64 * 16 * 6 * 6)


def test_cpu_float_tensors_are_read_in_place():
    model = pruned_model()
    layers = {name: (weight, mask) for name, weight, mask in module_layers(model)}
    assert np.shares_memory(layers["0.weight"][0], model[0].weight_orig.detach().numpy())
    assert np.shares_memory(layers["0.weight"][1], model[0].weight_mask.numpy())
    assert layers["5.weight"][1] is None
    half = torch.nn.Linear(32, 8).to(torch.bfloat16)
    (name, weight, _), = module_layers(half)
    assert name == "weight" and weight.dtype == np.float32


def test_masks_given_by_name_and_unknown_names():
    model = torch.nn.Linear(40, 20)
    keep = torch.rand(20, 40, generator=torch.Generator().manual_seed(1)) < 0.3
    ours = analyze_module(model, masks={"weight": keep})
    assert ours.layers["edges"].tolist() == [int(keep.sum())]
    with pytest.raises(ValueError, match="fc.weight"):
        analyze_module(model, masks={"fc.weight": keep})


def test_the_logger_writes_what_maskspec_train_writes(cli, tmp_path):
    model = pruned_model()
    path = tmp_path / "spectra.csv"
    log = SpectraLogger(model, every=2, path=path, run="mine")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 3, 8, 8), torch.randint(0, 10, (32,))
    logged = []
    for step in range(5):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        logged.append(log(step) is not None)
    assert logged == [True, False, True, False, True]
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == list(SpectraLogger.HEADER)
    assert [r["step"] for r in rows] == ["0", "2", "4"] and rows[0]["init"] == "true" and rows[1]["init"] == "false"
    expected = analyze_module(model).summary
    assert float(rows[-1]["weighted_gap"]) == expected["weighted_gap"]
    assert log.frame()["step"].tolist() == [0, 2, 4]
    # The CLI's evolution figure reads the file as it reads a trained run's spectra.csv.
    cli("plot", "evolution", path, "-o", tmp_path / "evolution.png")
    assert (tmp_path / "evolution.png").stat().st_size > 1000
    assert not list(tmp_path.glob(".spectra.*"))


def test_the_logger_reads_masks_that_change():
    model = torch.nn.Linear(64, 32)
    generator = torch.Generator().manual_seed(3)
    current = {"weight": torch.rand(32, 64, generator=generator) < 0.2}
    log = SpectraLogger(model, every=1, masks=lambda: current)
    first = log(0)
    current["weight"] = torch.rand(32, 64, generator=generator) < 0.5
    second = log(1)
    assert first["weighted_gap"] != second["weighted_gap"]
    assert second["weighted_gap"] == analyze_module(model, masks=current).summary["weighted_gap"]
    with pytest.raises(ValueError, match="every=0"):
        SpectraLogger(model, every=0)


def test_a_torch_ao_sparsifier_mask_is_the_layers_mask():
    from torch.ao.pruning import WeightNormSparsifier

    torch.manual_seed(4)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Linear(32, 8))
    sparsifier = WeightNormSparsifier(sparsity_level=0.8, sparse_block_shape=(1, 4), zeros_per_block=4)
    sparsifier.prepare(model, config=[{"tensor_fqn": "0.weight"}])
    sparsifier.step()
    ours = analyze_module(model).layers.set_index("layer")
    mask = sparsifier.state["0.weight"]["mask"]
    assert ours.loc["0.weight", "edges"] == int(mask.sum()) < 0.3 * 64 * 32
    effective = maskspec.layer_metrics(model[0].weight.detach().numpy(), mask.numpy())
    assert ours.loc["0.weight", "weighted_gap"] == effective["weighted_gap"]
    assert ours.loc["1.weight", "edges"] == 32 * 8
