#!/usr/bin/env python3
"""Torch baselines for mixq's decode GEMVs (M = 1), run on the GPU machine.

For each weight shape N x K it times, with CUDA events around one call made
right after overwriting a 256 MiB scratch buffer (so the weight comes from
DRAM, as mixq-bench's cuBLAS baseline does), the median of R calls after a
warm-up:

  - torch fp16 F.linear: x [1, K] fp16, W [N, K] fp16;
  - torch int4 tinygemm, group 128: torch._weight_int4pack_mm(x bf16,
    packed W, 128, scales_and_zeros [K/128, N, 2] bf16).

It also measures the device copy bandwidth (a 1 GiB copy_, bytes read plus
written, the yardstick mixq-bench uses) and a read "ceiling" per byte size
(a torch sum over a buffer of the weight's size, L2 flushed). Everything
goes to one JSON file (--out); units are in the key names.

    torch_baselines.py --out torch-baselines.json [--shapes 4096x4096,...]
    torch_baselines.py --dry-run          # lists the shapes and bytes, no torch

Exits 1 with a message (and an {"error": ...} JSON when --out is given) when
torch or CUDA is not available; a failing measurement is recorded as an
*_error key instead of stopping the run.
"""
import argparse
import json
import statistics
import sys
import time

# llama2-7b decode GEMVs: q/k/v/o, gate/up, down, fused qkv, fused gate/up,
# and the lm_head.
DEFAULT_SHAPES = "4096x4096,11008x4096,4096x11008,12288x4096,22016x4096,32000x4096"
L2_FLUSH_BYTES = 256 << 20  # the H200's L2 is 60 MB: 256 MiB evicts it
COPY_BYTES = 1 << 30
GROUP_SIZE = 128


def parse_shapes(text):
    """'4096x4096,11008x4096' -> [(4096, 4096), (11008, 4096)] as (N, K)."""
    shapes = []
    for item in text.split(","):
        item = item.strip().lower()
        if not item:
            continue
        try:
            n, k = (int(v) for v in item.split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad shape {item!r}: want NxK")
        if n <= 0 or k <= 0 or k % GROUP_SIZE:
            raise argparse.ArgumentTypeError(
                f"bad shape {item!r}: K must be a positive multiple of {GROUP_SIZE}")
        shapes.append((n, k))
    return shapes


def fp16_bytes(n, k):
    """DRAM bytes an fp16 GEMV reads: the weight and x."""
    return 2 * n * k + 2 * k


def int4_bytes(n, k):
    """DRAM bytes tinygemm reads: 4-bit weight, bf16 scale+zero per group, x."""
    return n * k // 2 + (k // GROUP_SIZE) * n * 2 * 2 + 2 * k


def dry_run(shapes):
    print(f"{'shape (N x K)':>14} {'fp16 bytes':>12} {'int4 g128 bytes':>16}")
    for n, k in shapes:
        print(f"{n:>6} x {k:<6} {fp16_bytes(n, k):>12} {int4_bytes(n, k):>16}")
    print(f"L2 flush {L2_FLUSH_BYTES} B before each timed call; "
          f"copy bandwidth from a {COPY_BYTES} B copy_")


def first_line(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


class Timer:
    """Times one callable per repetition with CUDA events, L2 flushed first."""

    def __init__(self, torch, reps, warmup):
        self.torch = torch
        self.reps = reps
        self.warmup = warmup
        self.scratch = torch.empty(L2_FLUSH_BYTES, dtype=torch.uint8, device="cuda")

    def median_us(self, fn):
        torch = self.torch
        for _ in range(self.warmup):
            fn()
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(self.reps)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(self.reps)]
        for i in range(self.reps):
            # The flush is a 256 MiB write (~70 us on an H200): long enough for
            # the host to queue the events and the call behind it, so the
            # start event is not separated from the call by launch overhead.
            self.scratch.fill_(i & 0xFF)
            starts[i].record()
            fn()
            ends[i].record()
        torch.cuda.synchronize()
        return statistics.median(s.elapsed_time(e) * 1e3 for s, e in zip(starts, ends))


def rate(nbytes, us):
    """GB/s for nbytes moved in us microseconds."""
    return nbytes / us / 1e3


def measure_copy(torch, reps):
    """1 GiB device-to-device copy_: bytes read + written per second."""
    src = torch.empty(COPY_BYTES, dtype=torch.uint8, device="cuda").fill_(1)
    dst = torch.empty_like(src)
    dst.copy_(src)
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for i in range(reps):
        starts[i].record()
        dst.copy_(src)
        ends[i].record()
    torch.cuda.synchronize()
    us = statistics.median(s.elapsed_time(e) * 1e3 for s, e in zip(starts, ends))
    del src, dst
    return {"copy_bytes": COPY_BYTES, "copy_us": us,
            "copy_gb_per_s": rate(2 * COPY_BYTES, us)}


def torch_op(torch, name):
    """torch.NAME, else torch.ops.aten.NAME (raises AttributeError if neither)."""
    return getattr(torch, name, None) or getattr(torch.ops.aten, name)


def make_int4_call(torch, n, k):
    """Returns (fn, how) for a tinygemm GEMV, or (None, why-not).

    The packing API changed: torch <= 2.4 packs an int32 [N, K] tensor of
    values 0..15; torch >= 2.5 on CUDA wants uint8 [N, K/2] (two values per
    byte, the even column in the high nibble). x must be bf16 on CUDA."""
    convert = torch_op(torch, "_convert_weight_to_int4pack")
    mm = torch_op(torch, "_weight_int4pack_mm")
    w = torch.randint(0, 16, (n, k), dtype=torch.int32, device="cuda")
    scales_and_zeros = torch.rand(k // GROUP_SIZE, n, 2, dtype=torch.bfloat16, device="cuda")
    x = torch.randn(1, k, dtype=torch.bfloat16, device="cuda")
    layouts = [
        ("uint8 [N, K/2]", lambda: ((w[:, ::2] << 4) | w[:, 1::2]).to(torch.uint8)),
        ("int32 [N, K]", lambda: w),
    ]
    tried = []
    for inner_k_tiles in (8, 4, 2):
        for name, make in layouts:
            try:
                packed = convert(make(), inner_k_tiles)
                mm(x, packed, GROUP_SIZE, scales_and_zeros)
                torch.cuda.synchronize()
            except Exception as exc:  # each signature mismatch is a different error type
                tried.append(f"{name}, inner_k_tiles {inner_k_tiles}: {first_line(exc)}")
                continue
            how = f"{name} packed with inner_k_tiles {inner_k_tiles}, x bf16"
            return (lambda: mm(x, packed, GROUP_SIZE, scales_and_zeros)), how
    return None, " | ".join(tried)


def measure_shape(torch, timer, n, k):
    """fp16 F.linear and int4 tinygemm times for one shape (errors recorded)."""
    F = torch.nn.functional
    entry = {"n": n, "k": k, "fp16_bytes": fp16_bytes(n, k), "int4_bytes": int4_bytes(n, k)}
    try:
        w = torch.randn(n, k, dtype=torch.float16, device="cuda")
        x = torch.randn(1, k, dtype=torch.float16, device="cuda")
        us = timer.median_us(lambda: F.linear(x, w))
        entry.update(fp16_us=us, fp16_gb_per_s=rate(entry["fp16_bytes"], us))
        del w, x
    except Exception as exc:
        entry["fp16_error"] = first_line(exc)
    try:
        fn, how = make_int4_call(torch, n, k)
        if fn is None:
            entry["int4_error"] = how
        else:
            us = timer.median_us(fn)
            entry.update(int4_us=us, int4_gb_per_s=rate(entry["int4_bytes"], us),
                         int4_packing=how)
    except Exception as exc:
        entry["int4_error"] = first_line(exc)
    torch.cuda.empty_cache()
    return entry


def measure_read_ceiling(torch, timer, sizes):
    """A torch sum over S bytes (fp16), L2 flushed: what a plain read costs."""
    out = []
    buf = torch.ones(max(sizes) // 2 + 1, dtype=torch.float16, device="cuda")
    for size in sorted(sizes):
        view = buf[: size // 2]
        us = timer.median_us(lambda: view.sum(dtype=torch.float32))
        out.append({"bytes": size, "us": us, "gb_per_s": rate(size, us)})
    return out


def add_pct_of_copy(result):
    """The share of the copy bandwidth each rate reaches, as mixq-bench shows."""
    copy = result.get("copy_gb_per_s")
    if not copy:
        return
    for entry in list(result["gemv"].values()) + result.get("read_ceiling", []):
        for prefix in ("fp16_", "int4_", ""):
            gbps = entry.get(prefix + "gb_per_s")
            if gbps is not None:
                entry[prefix + "pct_of_copy"] = 100.0 * gbps / copy


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def fail(args, message):
    print(f"torch_baselines: error: {message}", file=sys.stderr)
    if args.out:
        write_json(args.out, {"error": message})
    sys.exit(1)


def run(args, shapes):
    try:
        import torch
    except ImportError as exc:
        fail(args, f"cannot import torch ({exc})")
    if not torch.cuda.is_available():
        fail(args, f"CUDA is not available to torch {torch.__version__}")
    began = time.monotonic()
    result = {
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "device_name": torch.cuda.get_device_name(0),
        "device_capability": "%d.%d" % torch.cuda.get_device_capability(0),
        "l2_flush_bytes": L2_FLUSH_BYTES,
        "group_size": GROUP_SIZE,
        "repetitions": args.reps,
        "warmup": args.warmup,
        "timing": "CUDA events around one call after a 256 MiB scratch write; median",
        "gemv": {},
    }
    try:
        result.update(measure_copy(torch, max(3, args.reps // 3)))
    except Exception as exc:
        result["copy_error"] = first_line(exc)
    timer = Timer(torch, args.reps, args.warmup)
    for n, k in shapes:
        # The whole run must fit a short device slot: skip what is left.
        if time.monotonic() - began > args.budget_s:
            result["gemv"][f"{n}x{k}"] = {"n": n, "k": k, "error": "skipped: over --budget-s"}
            continue
        result["gemv"][f"{n}x{k}"] = measure_shape(torch, timer, n, k)
    if not args.no_read_ceiling and time.monotonic() - began < args.budget_s:
        sizes = {fp16_bytes(n, k) for n, k in shapes} | {int4_bytes(n, k) for n, k in shapes}
        try:
            result["read_ceiling"] = measure_read_ceiling(torch, timer, sizes)
            result["read_ceiling_method"] = "torch sum over an fp16 buffer of that size"
        except Exception as exc:
            result["read_ceiling_error"] = first_line(exc)
    add_pct_of_copy(result)
    result["elapsed_s"] = time.monotonic() - began
    write_json(args.out, result)
    print(f"torch_baselines: {len(shapes)} shapes in {result['elapsed_s']:.1f} s "
          f"on {result['device_name']}, written to {args.out}")


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Time torch fp16 F.linear and int4 tinygemm GEMVs (M = 1) and "
                    "the copy bandwidth on the GPU; write one JSON file.")
    p.add_argument("--out", help="the JSON file to write (required unless --dry-run)")
    p.add_argument("--shapes", type=parse_shapes, default=parse_shapes(DEFAULT_SHAPES),
                   help=f"comma-separated N x K weight shapes (default {DEFAULT_SHAPES})")
    p.add_argument("-r", "--reps", type=int, default=30, help="timed calls per measurement")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls first")
    p.add_argument("--budget-s", type=float, default=15.0,
                   help="skip the shapes left after this many seconds (default 15)")
    p.add_argument("--no-read-ceiling", action="store_true",
                   help="skip the torch sum read ceiling")
    p.add_argument("--dry-run", action="store_true",
                   help="list the shapes and bytes and exit (needs no torch)")
    args = p.parse_args(argv)
    if args.dry_run:
        dry_run(args.shapes)
        return
    if not args.out:
        p.error("--out is required")
    if args.reps < 1 or args.warmup < 0:
        p.error("--reps must be at least 1 and --warmup at least 0")
    run(args, args.shapes)


if __name__ == "__main__":
    main()
