#!/usr/bin/env python3
"""Weights per call of every decode matmul kernel of a .mixq package.

    kernel_weights.py PKG > weights.json

Reads the package's manifest (docs/package.md: a 64-byte header whose u64 at
byte 24 is the manifest's size, the manifest at byte 64), walks the decode
plan's steps and, for each matmul kernel (a name with _matmul, _linear or
_logits), sums the logical shapes N x K of the 2-D weights its bindings
belong to (one for a plain matmul; q, k and v, or gate and up, for a fused
decode kernel, whose norm vector is no matrix). Prints {"kernel": weights
per call}, the mean over the
kernel's calls, which summarize.py turns ncu's warp instructions into
instructions per weight with. A weightless package works (only the
manifest is read).
"""
import json
import struct
import sys

MATMUL_KINDS = ("_matmul", "_linear", "_logits")


def read_manifest(path):
    with open(path, "rb") as f:
        header = f.read(64)
        if len(header) < 64 or header[:8] != b"MIXQPKG\0":
            raise ValueError(f"{path}: not a mixq package")
        (size,) = struct.unpack_from("<Q", header, 24)
        text = f.read(size)
        if len(text) != size:
            raise ValueError(f"{path}: truncated manifest")
    return json.loads(text)


def kernel_weights(manifest):
    owners = {}  # blob -> (weight name, N x K, or 0 for a non-matrix)
    for weight in manifest.get("weights", []):
        shape = weight.get("shape", [])
        count = 1
        for d in shape:
            count *= d
        for component in weight.get("components", []):
            owners[component.get("blob")] = (weight.get("name"),
                                             count if len(shape) == 2 else 0)
    calls = {}
    for step in manifest.get("plan", {}).get("decode", {}).get("steps", []):
        kernel = step.get("kernel", "")
        if not any(kind in kernel for kind in MATMUL_KINDS):
            continue
        bound = dict(owners[a["weight"]] for a in step.get("args", [])
                     if "weight" in a and a["weight"] in owners)
        total = sum(bound.values())
        if total:
            calls.setdefault(kernel, []).append(total)
    return {k: sum(v) / len(v) for k, v in sorted(calls.items())}


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        print(json.dumps(kernel_weights(read_manifest(argv[1])), indent=1))
    except (OSError, ValueError) as error:
        print(f"kernel_weights.py: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
