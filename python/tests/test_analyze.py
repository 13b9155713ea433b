"""maskspec.analyze and maskspec.correlate give the CLI's columns and numbers."""

import math

import numpy as np
import pandas as pd
import pytest

import maskspec

GOLDEN_FILES = ["conv.safetensors", "random_linear.npz", "bool_mask.safetensors", "collapsed.safetensors"]


def read_cli_csv(path):
    # The CSV holds each float's shortest round-trip text; before pandas 3 the default parser
    # may land one ulp away from it.
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    return pd.read_csv(path, keep_default_na=False, na_values=[""], **exact)


def assert_same_table(frame, expected):
    assert list(frame.columns) == list(expected.columns)
    assert len(frame) == len(expected)
    for name in expected.columns:
        for got, want in zip(frame[name].tolist(), expected[name].tolist()):
            if isinstance(want, float) and math.isnan(want):
                assert got is None or (isinstance(got, float) and math.isnan(got)), (name, got)
            elif isinstance(want, (bool, np.bool_)) or isinstance(got, (bool, np.bool_)):
                assert bool(got) == bool(want), (name, got, want)
            else:
                assert got == want, (name, got, want)


def test_analyze_equals_the_cli_csvs(cli, fixtures, tmp_path):
    paths = [fixtures / "golden" / f for f in GOLDEN_FILES]
    cli("analyze", *paths, "--no-cache", "--quiet", "--csv", tmp_path / "layers.csv", "--summary-csv", tmp_path / "summary.csv")
    layers, summary = maskspec.analyze(paths)
    assert_same_table(layers, read_cli_csv(tmp_path / "layers.csv"))
    assert_same_table(summary, read_cli_csv(tmp_path / "summary.csv"))
    assert layers["ramanujan_gap_imdb"].notna().any()


def test_options_reach_the_core_as_the_cli_flags_do(cli, fixtures, tmp_path):
    args = ["--no-cache", "--quiet", "--no-nested", "--convention", "neurips2023"]
    cli("analyze", fixtures / "golden" / "resnet18_w16.safetensors", *args, "--csv", tmp_path / "l.csv")
    analysis = maskspec.analyze(fixtures / "golden" / "resnet18_w16.safetensors", nested=False, convention="neurips2023")
    assert_same_table(analysis.layers, read_cli_csv(tmp_path / "l.csv"))
    assert analysis.layers["ramanujan_gap_imdb"].isna().all()


def test_dicts_without_pandas(fixtures):
    analysis = maskspec.analyze(fixtures / "golden" / "conv.safetensors", as_frame=False)
    assert isinstance(analysis.layers, dict) and isinstance(analysis.layers["layer"], list)
    assert analysis.layers["layer"] == maskspec.analyze(fixtures / "golden" / "conv.safetensors").layers["layer"].tolist()


def test_a_bad_file_raises_one_exception_naming_it(fixtures, tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    good = fixtures / "golden" / "conv.safetensors"
    with pytest.raises(maskspec.AnalysisError) as raised:
        maskspec.analyze([good, bad])
    message = str(raised.value)
    assert str(bad) in message and "\n" not in message
    assert [path for path, _ in raised.value.failures] == [str(bad)]
    # The good file was analyzed all the same.
    assert raised.value.analysis.summary["checkpoint"].tolist() == [str(good)]
    with pytest.warns(UserWarning, match="broken.safetensors"):
        analysis = maskspec.analyze([good, bad], errors="warn")
    assert len(analysis.summary) == 1
    with pytest.raises(maskspec.AnalysisError, match="does-not-exist"):
        maskspec.analyze(tmp_path / "does-not-exist.safetensors")
    with pytest.raises(ValueError, match="convention"):
        maskspec.analyze(good, convention="iclr2024")


def test_correlate_equals_the_cli(cli, fixtures, tmp_path):
    # A small sweep with accuracies: the same checkpoints at several recorded accuracies.
    paths = sorted((fixtures / "golden").glob("*.safetensors"))
    cli("analyze", *paths, "--no-cache", "--quiet", "--summary-csv", tmp_path / "summary.csv")
    summary = read_cli_csv(tmp_path / "summary.csv")
    summary["accuracy"] = np.linspace(0.6, 0.9, len(summary)) ** 2
    summary["group"] = ["a" if i % 2 else "b" for i in range(len(summary))]
    summary.to_csv(tmp_path / "with_accuracy.csv", index=False)
    cli("correlate", tmp_path / "with_accuracy.csv", "--by", "group", "--resamples", "300", "--seed", "7", "--csv", tmp_path / "corr.csv")
    ours = maskspec.correlate(summary, by="group", resamples=300, seed=7)
    assert_same_table(ours, read_cli_csv(tmp_path / "corr.csv"))
    assert ours["pearson_r"].notna().sum() > 3
    dict_input = {name: summary[name].tolist() for name in summary.columns}
    assert maskspec.correlate(dict_input, by="group", resamples=300, seed=7, as_frame=False)["pearson_r"] == ours["pearson_r"].where(ours["pearson_r"].notna(), None).tolist()
    with pytest.raises(ValueError, match="no column `acc`"):
        maskspec.correlate(summary, accuracy="acc")


def test_the_notebook_example_runs(capsys):
    import runpy

    from conftest import REPO

    runpy.run_path(str(REPO / "python" / "examples" / "notebook.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "conv1.weight" in out and "weighted_gap" in out


def test_without_pandas_tables_are_dicts(fixtures, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now raises ImportError
    analysis = maskspec.analyze(fixtures / "golden" / "conv.safetensors")
    assert isinstance(analysis.summary, dict) and analysis.summary["checkpoint"] == [str(fixtures / "golden" / "conv.safetensors")]
    with pytest.raises(ImportError, match="pip install pandas"):
        maskspec.analyze(fixtures / "golden" / "conv.safetensors", as_frame=True)


def test_correlate_reads_numpy_columns(fixtures):
    rng = np.random.default_rng(2)
    columns = {
        "ramanujan_gap": rng.random(12),
        "accuracy": rng.random(12),
        "density": np.repeat([0.1, 0.2, 0.3], 4),
        "sparsity": np.repeat([0.9, 0.8, 0.7], 4),
        "init": np.array([i % 2 == 0 for i in range(12)]),
    }
    as_lists = {name: values.tolist() for name, values in columns.items()}
    for by in ("sparsity", "init"):
        got = maskspec.correlate(columns, by=by, resamples=200, as_frame=False)
        assert got == maskspec.correlate(as_lists, by=by, resamples=200, as_frame=False)
    assert got["group"] == ["all", "false", "true"]
    assert maskspec.correlate(columns, by="sparsity", resamples=200, as_frame=False)["group"] == ["all", "0.7", "0.8", "0.9"]
