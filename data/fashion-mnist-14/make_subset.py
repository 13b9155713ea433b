#!/usr/bin/env python3
"""Builds the embedded default training set: a subset of Fashion-MNIST at 14x14 pixels.

Source: Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, https://github.com/zalandoresearch/fashion-mnist),
MIT license, as Debian's `dataset-fashion-mnist` package ships it under
/usr/share/datasets/fashion-mnist (`apt-get install dataset-fashion-mnist`).

What it writes beside itself, each an IDX file gzipped with a fixed header (mtime 0):
- train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz: TRAIN_PER_CLASS images of each class,
  drawn without replacement from the 60,000 training images by numpy's default_rng(SEED);
- t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz: all 10,000 test images;
- manifest.json: the sources' SHA-256, the subset, and the SHA-256 and FNV-1a 64 of every
  file's decompressed bytes (maskspec's tests check the FNV-1a; gzip's bytes depend on zlib).
Every image is downsampled 28x28 -> 14x14 by the mean of each 2x2 block, rounded half up.

Run it again to check: it rewrites the same decompressed bytes, and prints whether the
shipped files matched before it wrote.
"""
import gzip
import hashlib
import json
import os
import sys

import numpy as np

SOURCE = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 0
TRAIN_PER_CLASS = 1200


def read_idx(name):
    with gzip.open(os.path.join(SOURCE, name), "rb") as f:
        raw = f.read()
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def idx_bytes(array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def downsample(images):
    blocks = images.reshape(len(images), 14, 2, 14, 2).astype(np.uint32).sum(axis=(2, 4))
    return ((blocks + 2) // 4).astype(np.uint8)


def fnv1a(data):
    h = 0xCBF29CE484222325
    for chunk in np.array_split(np.frombuffer(data, dtype=np.uint8), max(1, len(data) // (1 << 20))):
        for b in chunk.tolist():
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def main():
    sources = {}
    for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]:
        with open(os.path.join(SOURCE, name), "rb") as f:
            sources[name] = hashlib.sha256(f.read()).hexdigest()
    train_x, train_y = read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz")
    test_x, test_y = read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz")
    rng = np.random.default_rng(SEED)
    chosen = np.sort(np.concatenate([rng.choice(np.flatnonzero(train_y == c), TRAIN_PER_CLASS, replace=False) for c in range(10)]))
    outputs = {
        "train-images-idx3-ubyte": idx_bytes(downsample(train_x[chosen])),
        "train-labels-idx1-ubyte": idx_bytes(train_y[chosen]),
        "t10k-images-idx3-ubyte": idx_bytes(downsample(test_x)),
        "t10k-labels-idx1-ubyte": idx_bytes(test_y),
    }
    files = {}
    matched = True
    for name, data in outputs.items():
        path = os.path.join(HERE, name + ".gz")
        if os.path.exists(path):
            with gzip.open(path, "rb") as f:
                matched &= f.read() == data
        else:
            matched = False
        with open(path + ".tmp", "wb") as f:
            f.write(gzip.compress(data, compresslevel=9, mtime=0))
        os.replace(path + ".tmp", path)
        files[name + ".gz"] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "fnv1a64": fnv1a(data)}
    manifest = {
        "source": "Fashion-MNIST (Xiao, Rasul, Vollgraf 2017), Debian package dataset-fashion-mnist",
        "license": "MIT",
        "source_sha256": sources,
        "subset": {
            "train": f"{TRAIN_PER_CLASS} images per class of the 60,000 training images, numpy default_rng({SEED}), in their original order",
            "test": "all 10,000 test images",
            "pixels": "14x14, the mean of each 2x2 block rounded half up",
        },
        "decompressed": files,
    }
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print("the shipped files matched" if matched else "the shipped files differed (or were missing); written anew")
    return 0


if __name__ == "__main__":
    sys.exit(main())
