"""Flower's FedAvg aggregation (flwr.server.strategy.aggregate.aggregate), timed over the same safetensors updates
the C# merge benchmark reads. Only the aggregation is timed; loading the files is not.

usage: python3 flower_aggregate.py REPEAT COMPARE_PATH|- FILE:SAMPLES...
prints one JSON line: {"seconds": [...], "loadSeconds": float, "numpy": version, "maxAbsDiff": float|null}
"""
import json
import sys
import time
from functools import reduce

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64}


def load(path):
    """The tensors of a safetensors file, in data order, as numpy arrays (copied into memory)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = np.fromfile(f, dtype=np.uint8)
    header.pop("__metadata__", None)
    layers = []
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = t["data_offsets"]
        layers.append(data[begin:end].view(DTYPES[t["dtype"]]).reshape(t["shape"]).copy())
    return layers


def aggregate(results):
    """Compute weighted average. (Flower 1.x, flwr/server/strategy/aggregate.py, verbatim.)"""
    # Calculate the total number of examples used during training
    num_examples_total = sum(num_examples for (_, num_examples) in results)

    # Create a list of weights, each multiplied by the related number of examples
    weighted_weights = [
        [layer * num_examples for layer in weights] for weights, num_examples in results
    ]

    # Compute average weights of each layer
    weights_prime = [
        reduce(np.add, layer_updates) / num_examples_total
        for layer_updates in zip(*weighted_weights)
    ]
    return weights_prime


def main():
    repeat = int(sys.argv[1])
    compare = sys.argv[2]
    results = []
    start = time.perf_counter()
    for arg in sys.argv[3:]:
        path, samples = arg.rsplit(":", 1)
        results.append((load(path), int(samples)))
    load_seconds = time.perf_counter() - start
    seconds = []
    merged = None
    for _ in range(repeat):
        start = time.perf_counter()
        merged = aggregate(results)
        seconds.append(time.perf_counter() - start)
    diff = None
    if compare != "-":
        ours = load(compare)
        diff = max(float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) for a, b in zip(merged, ours))
    print(json.dumps({"seconds": seconds, "loadSeconds": load_seconds, "numpy": np.__version__, "maxAbsDiff": diff}))


if __name__ == "__main__":
    main()
