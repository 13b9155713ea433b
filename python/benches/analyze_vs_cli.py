"""maskspec.analyze from Python against the CLI, side by side in one run, on the CIFAR
ResNet-18 (width 64, 11.2 M weights, 90% sparse) of benches/analyze.rs, every metric with the
nested subgraphs. Target: Python within 1.1x of the CLI.

Needs release builds of both: `cargo build --release` and `pip install .` (release by default).
Run: python3 python/benches/analyze_vs_cli.py [--rounds N]
"""

import argparse
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from safetensors.numpy import save_file

import maskspec

REPO = pathlib.Path(__file__).resolve().parents[2]


def resnet18_shapes(w=64):
    shapes = [("conv1.weight", (w, 3, 3, 3))]
    c_in = w
    for stage, mult in enumerate((1, 2, 4, 8)):
        c = w * mult
        for block in range(2):
            p = f"layer{stage + 1}.{block}"
            first_in = c_in if block == 0 else c
            shapes.append((f"{p}.conv1.weight", (c, first_in, 3, 3)))
            shapes.append((f"{p}.conv2.weight", (c, c, 3, 3)))
            if block == 0 and first_in != c:
                shapes.append((f"{p}.shortcut.0.weight", (c, first_in, 1, 1)))
        c_in = c
    shapes.append(("linear.weight", (10, c_in)))
    return shapes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--cli", default=str(REPO / "target" / "release" / "maskspec"))
    args = parser.parse_args()
    rng = np.random.default_rng(18)
    tensors, arrays = {}, {}
    for name, shape in resnet18_shapes():
        mask = rng.random(shape) < 0.1
        weight = (rng.uniform(-1, 1, shape) * mask).astype(np.float32)
        tensors[name], tensors[name + "_mask"] = weight, mask.astype(np.uint8)
        arrays[name] = (weight, mask)
    weights = sum(w.size for w, _ in arrays.values())
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "resnet18.safetensors"
        save_file(tensors, str(path))
        cli_cmd = [args.cli, "analyze", str(path), "--no-cache", "--quiet"]
        py_cmd = [sys.executable, "-c", f"import maskspec; maskspec.analyze({str(path)!r})"]
        # Warm the page cache and both code paths.
        subprocess.run(cli_cmd, check=True, capture_output=True)
        maskspec.analyze(path)
        times = {"cli process": [], "python process": [], "maskspec.analyze call": [], "analyze_layers call (arrays)": []}
        for _ in range(args.rounds):
            # Alternated, so a noisy neighbour hits every measurement alike.
            start = time.perf_counter()
            subprocess.run(cli_cmd, check=True, capture_output=True)
            times["cli process"].append(time.perf_counter() - start)
            start = time.perf_counter()
            subprocess.run(py_cmd, check=True, capture_output=True)
            times["python process"].append(time.perf_counter() - start)
            start = time.perf_counter()
            maskspec.analyze(path)
            times["maskspec.analyze call"].append(time.perf_counter() - start)
            start = time.perf_counter()
            maskspec.analyze_layers(arrays)
            times["analyze_layers call (arrays)"].append(time.perf_counter() - start)
    print(f"ResNet-18 width 64, {len(arrays)} layers, {weights} weights, 90% sparse; {args.rounds} rounds, medians:")
    cli = statistics.median(times["cli process"])
    for label, values in times.items():
        median = statistics.median(values)
        print(f"  {label:30s} {1e3 * median:8.1f} ms  ({median / cli:.2f}x the CLI process; min {1e3 * min(values):.1f} ms)")


if __name__ == "__main__":
    main()
