#!/usr/bin/env python3
"""Sums up one GPU run's results folder as markdown (< 12,000 characters).

    summarize.py RESULTS_DIR > summary.md

Every input is optional; a missing one is reported as "missing", and an
unreadable one as "unreadable: <why>": the summary is printed (exit 0)
whatever the folder holds. Inputs, by file name:

  nvidia-smi.txt          the device and driver
  gpu-check*.txt          scripts/gpu-bench.sh's correctness table: ids, max diff, KL, tok/s
  sanitizer-*.txt         compute-sanitizer logs ("ERROR SUMMARY: N errors")
  bench-*.txt             mixq-bench text output; bench-7b-SCHEME.txt is shown
                          as SCHEME, grouped by the model column
  torch-baselines.json    torch_baselines.py's output (or the 2026-12-04 format)
  readbw*.txt             a read-bandwidth log, shown as it is (shortened)
  ncu-NAME.csv            `ncu --import R.ncu-rep --csv --page raw`; weights
                          per call from weights-NAME.json (or the weights-X.json
                          whose X is a dash-separated part of NAME)

Tables in the inputs are found by their header names, not column positions,
so that mixq-bench can add columns (e.g. "ceiling us", "% of ceiling").
"""
import csv
import glob
import io
import itertools
import json
import os
import re
import statistics
import sys

LIMIT = 12000  # characters of markdown, the whole summary


# ---------------------------------------------------------------- helpers

def read_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def number(text):
    """'1,234.5' -> 1234.5; None for '', 'n/a' and other non-numbers."""
    if text is None:
        return None
    text = str(text).strip().replace(",", "").rstrip("%").strip()
    try:
        return float(text)
    except ValueError:
        return None


def fmt(value, digits=1):
    """A number for a table cell ('' when unknown)."""
    if value is None:
        return ""
    if abs(value) >= 1000:  # 5338.9, 1128: four digits are precise enough
        digits = max(0, digits - 1)
    return f"{value:.{digits}f}"


def md_table(header, rows, right=()):
    """A markdown table; columns whose index is in `right` are right-aligned."""
    sep = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_tables(text):
    """Every '|'-table in text, as a list of dicts keyed by header name."""
    tables, block = [], []
    for line in text.splitlines() + [""]:
        if line.lstrip().startswith("|"):
            block.append(line.strip())
            continue
        if len(block) >= 2:
            cells = [[c.strip() for c in row.strip("|").split("|")] for row in block]
            header = cells[0]
            body = [r for r in cells[1:] if not all(set(c) <= set("-: ") for c in r)]
            tables.append([dict(zip(header, r)) for r in body] or [dict.fromkeys(header, "")])
        block = []
    return tables


def find_table(tables, *columns):
    """The first table having all these header names."""
    for t in tables:
        if t and all(c in t[0] for c in columns):
            return t
    return None


def shorten(text, max_lines, max_chars):
    lines = text.rstrip().splitlines()
    out = "\n".join(lines[:max_lines])[:max_chars]
    if len(lines) > max_lines or len(out) < len("\n".join(lines[:max_lines])):
        out += f"\n... ({len(lines)} lines in all)"
    return out


# ---------------------------------------------------------------- sections

def device_section(d):
    path = os.path.join(d, "nvidia-smi.txt")
    if not os.path.exists(path):
        return "nvidia-smi.txt: missing"
    text = read_text(path)
    # Plain `nvidia-smi` draws a box: pick the versions and the GPU names out.
    m = re.search(r"Driver Version:\s*(\S+).*?CUDA Version:\s*(\S+)", text)
    if m:
        gpus = re.findall(r"^\|\s*\d+\s+(.+?)\s{2,}", text, re.M)
        names = ", ".join(g for g in gpus if not g.lower().startswith("n/a")) or "?"
        return f"{names}; driver {m.group(1)}, CUDA {m.group(2)}"
    # --query-gpu ... --format=csv: a header line and one line per GPU.
    return shorten(text, 4, 400).replace("\n", "; ")


def gpu_check_section(d):
    paths = sorted(glob.glob(os.path.join(d, "gpu-check*.txt")))
    if not paths:
        return "gpu-check*.txt: missing"
    parts = []
    for path in paths:
        rows, device, counts = [], "", {"equal": 0, "differ": 0, "FAILED": 0}
        for line in read_text(path).splitlines():
            f = line.split()
            if not f:
                continue
            if line.startswith("NVIDIA") or (device == "" and "," in line and "name" not in line):
                device = line.strip()
            elif f[0] == "scheme" or "," in line:
                continue  # the table's or nvidia-smi's header
            elif len(f) >= 2 and f[1] == "FAILED":
                counts["FAILED"] += 1
                rows.append([f[0], "**FAILED**", "", "", " ".join(f[2:])])
            elif len(f) >= 2 and f[1] in ("equal", "differ"):
                # scheme, ids, max diff, KL, "4369.3 tok/s" (empty fields when
                # mixq-run printed no such line)
                counts[f[1]] += 1
                ids = f[1] if f[1] == "equal" else "**differ**"
                rest = [v for v in f[2:] if v != "tok/s"]
                rows.append([f[0], ids] + (rest + [""] * 3)[:3])
        name = os.path.basename(path)
        summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no rows"
        parts.append(f"**{name}** ({device or 'device ?'}): {summary}\n\n" + md_table(
            ["scheme", "ids GPU vs CPU", "max diff", "KL", "tok/s"], rows, right=(2, 3, 4)))
    return "\n\n".join(parts)


def sanitizer_section(d):
    paths = sorted(glob.glob(os.path.join(d, "sanitizer-*.txt")))
    if not paths:
        return "sanitizer-*.txt: missing"
    lines = []
    for path in paths:
        text = read_text(path)
        name = os.path.basename(path)
        m = re.findall(r"ERROR SUMMARY:\s*([\d,]+) errors?", text)
        if not m:
            last = text.strip().splitlines()[-1:] or ["(empty)"]
            lines.append(f"- {name}: no ERROR SUMMARY line (crashed or cut short?); "
                         f"last line: `{last[0][:150]}`")
            continue
        errors = sum(int(n.replace(",", "")) for n in m)
        if errors == 0:
            lines.append(f"- {name}: 0 errors")
            continue
        # The first few distinct error kinds say what to look for.
        kinds = []
        for e in re.findall(r"^=+\s+((?:Invalid|Program hit|Uninitialized|Race|Leaked|"
                            r"Barrier|Misaligned|Out-of-range)[^\n]*)", text, re.M):
            if e not in kinds:
                kinds.append(e.strip())
        shown = "; ".join(f"`{k[:120]}`" for k in kinds[:3])
        lines.append(f"- {name}: **{errors} errors**" + (f": {shown}" if shown else ""))
    return "\n".join(lines)


def parse_bench(path):
    """One mixq-bench text output -> dict of what the summary shows."""
    text = read_text(path)
    tables = markdown_tables(text)
    stem = os.path.basename(path)[len("bench-"):-len(".txt")]
    b = {"label": stem[3:] if stem.startswith("7b-") else stem, "tests": {},
         "model": stem, "bits": "", "matmuls": {}, "ceiling_cols": []}
    results = find_table(tables, "test", "t/s (mean ± sd)")
    for row in results or []:
        b["model"] = row.get("model", b["model"])
        scheme = row.get("scheme bits/w", "").split()  # "affine 4.25"
        b["bits"] = scheme[-1] if scheme else ""
        kind = "pp" if row["test"].startswith("pp") else "tg"
        b["tests"][kind] = (row["test"], number(row["t/s (mean ± sd)"].split("±")[0]))
    m = re.search(r"copy bandwidth:\s*([\d.,]+)", text)
    b["copy_gb_per_s"] = number(m.group(1)) if m else None
    kernels = find_table(tables, "kernel", "calls", "us/call") or []
    for row in kernels:
        if row["kernel"] == "total":
            b["step_ms"] = (number(row.get("us/step")) or 0) / 1e3 or None
            b["kernels_per_step"] = number(row.get("calls"))
    add_ceiling_percentages(kernels)
    b["ceiling_cols"] = [c for c in (kernels[0] if kernels else {}) if "%" in c and "ceiling" in c]
    m = re.search(r"decode step read ceiling[^:]*:\s*([\d.]+) ms", text)
    b["step_ceiling_ms"] = number(m.group(1)) if m else None
    gemms = find_table(tables, "plan", "N x K", "ours us") or []
    b["matmuls"] = match_matmul_kernels(
        [r for r in gemms if r["plan"] == "decode"],
        [r for r in kernels if re.search(r"_(matmul|linear|logits)", r["kernel"])],
        b["ceiling_cols"])
    return b


def add_ceiling_percentages(kernels):
    """For a 'graph ceiling us' column without its own % column, adds
    '% of graph ceiling' = ceiling / us per call, as mixq-bench computes
    '% of ceiling' from 'ceiling us'."""
    columns = list(kernels[0]) if kernels else []
    for col in columns:
        m = re.fullmatch(r"(\S.*) ceiling us", col)
        pct = f"% of {m.group(1)} ceiling" if m else None
        if not m or pct in columns:
            continue
        for row in kernels:
            ceiling, us = number(row.get(col)), number(row.get("us/call"))
            row[pct] = f"{100 * ceiling / us:.1f}" if ceiling is not None and us else ""


def match_matmul_kernels(gemms, kernels, ceiling_cols):
    """Per decode N x K: our us/call, cuBLAS us, and the % columns of the
    per-kernel table, which has kernels, not shapes. A shape's kernels are the
    smallest set of not yet used matmul kernels whose calls add up to the
    shape's and whose call-weighted us/call is the shape's 'ours us' (q and o
    share a shape but are different kernels, not always adjacent); their
    percentages are averaged weighted by time (= total bytes / total time)."""
    out, used = {}, set()
    pct_cols = ["% of copy"] + ceiling_cols
    for g in gemms:
        shape = g["N x K"].replace(" ", "")
        entry = {"us": number(g["ours us"]), "cublas_us": number(g.get("cuBLAS us"))}
        out[shape] = entry
        calls = number(g.get("calls"))
        free = [i for i in range(len(kernels)) if i not in used]
        for size in range(1, 5):
            match = next((c for c in itertools.combinations(free, size)
                          if same_shape(entry["us"], calls, [kernels[i] for i in c])), None)
            if match:
                break
        if not match:
            continue
        run = [kernels[i] for i in match]
        for col in pct_cols:
            # A ceiling is measured at some byte sizes only: average over the
            # kernels that have one.
            have = [(number(k.get(col)), number(k["calls"]) * number(k["us/call"]))
                    for k in run if number(k.get(col)) is not None]
            if have and sum(t for _, t in have):
                entry[col] = sum(v * t for v, t in have) / sum(t for _, t in have)
        used.update(match)
    return out


def same_shape(us, calls, run):
    """Whether these kernels' calls add up to `calls` at `us` per call (the
    table rounds to 0.1 us)."""
    counts = [number(k.get("calls")) for k in run]
    times = [number(k.get("us/call")) for k in run]
    if None in counts or None in times or sum(counts) != calls or not calls:
        return False
    mean = sum(c * t for c, t in zip(counts, times)) / calls
    return us is None or abs(mean - us) <= 0.01 * us + 0.06


def bench_section(d):
    paths = sorted(glob.glob(os.path.join(d, "bench-*.txt")))
    if not paths:
        return "bench-*.txt: missing"
    benches, parts = [], []
    for path in paths:
        try:
            benches.append(parse_bench(path))
        except Exception as exc:  # a cut-short file must not hide the others
            parts.append(f"{os.path.basename(path)}: unreadable: {exc!r}")
    models = []
    for b in benches:
        if b["model"] not in models:
            models.append(b["model"])
    for model in models:
        group = [b for b in benches if b["model"] == model]
        parts.append(bench_model_table(model, group))
    return "\n\n".join(parts)


def common_test(group, kind):
    names = [b["tests"][kind][0] for b in group if kind in b["tests"]]
    return statistics.mode(names) if names else kind


def bench_model_table(model, group):
    """One row per scheme; per decode shape 'us / % of copy [/ % of ceiling]'."""
    pp, tg = common_test(group, "pp"), common_test(group, "tg")
    shapes = []
    for b in group:
        shapes += [s for s in b["matmuls"] if s not in shapes]
    ceiling_cols = []
    for b in group:
        ceiling_cols += [c for c in b["ceiling_cols"] if c not in ceiling_cols]
    with_ceiling = any(b.get("step_ceiling_ms") for b in group)
    header = ["scheme", "bits/w", f"{pp} t/s", f"{tg} t/s", "step ms"]
    header += ["step ceiling ms"] if with_ceiling else []
    header += ["kernels"]
    header += [s for s in shapes]
    rows = []
    for b in group:
        row = [b["label"], b["bits"]]
        for kind, common in (("pp", pp), ("tg", tg)):
            name, value = b["tests"].get(kind, (None, None))
            cell = fmt(value, 2)
            row.append(cell + (f" ({name})" if name and name != common else "") if name else "n/a")
        row += [fmt(b.get("step_ms"), 2)]
        row += [fmt(b.get("step_ceiling_ms"), 3)] if with_ceiling else []
        row += [fmt(b.get("kernels_per_step"), 0)]
        for s in shapes:
            m = b["matmuls"].get(s)
            if not m:
                row.append("")
                continue
            pcts = [fmt(m.get("% of copy"))] + [fmt(m.get(c), 0) for c in ceiling_cols]
            cell = " / ".join([fmt(m["us"])] + [p + "%" if p else "?" for p in pcts])
            row.append(cell)
        rows.append(row)
    what = "us per call / % of copy" + "".join(f" / {c}" for c in ceiling_cols)
    copies = [b["copy_gb_per_s"] for b in group if b.get("copy_gb_per_s")]
    span = [fmt(min(copies), 0), fmt(max(copies), 0)] if copies else ["?", "?"]
    copy = f"copy bandwidth {span[0] if span[0] == span[1] else '–'.join(span)} GB/s"
    cublas = []
    for s in shapes:
        vals = [b["matmuls"][s]["cublas_us"] for b in group
                if s in b["matmuls"] and b["matmuls"][s]["cublas_us"] is not None]
        if vals:
            cublas.append(f"{s} {fmt(min(vals))}")
    text = (f"**{model}** ({copy}). Decode matmul cells: {what}; step ms = the per-kernel "
            f"total (kernel time, no launch gaps)"
            + ("; step ceiling = every call at its graph read ceiling" if with_ceiling else "")
            + "; kernels = launches per decode step.\n\n"
            + md_table(header, rows, right=tuple(range(1, len(header)))))
    if cublas:
        text += "\n\ncuBLAS fp16 us per call (fastest of the runs): " + ", ".join(cublas)
    return text


def torch_section(d):
    path = os.path.join(d, "torch-baselines.json")
    if not os.path.exists(path):
        return "torch-baselines.json: missing"
    try:
        t = json.loads(read_text(path))
    except ValueError as exc:
        return f"torch-baselines.json: unreadable: {exc}"
    if "error" in t:
        return f"torch-baselines.json: **error**: {t['error']}"
    # Keys of torch_baselines.py first, then those of the 2026-12-04 file.
    copy = t.get("copy_gb_per_s", t.get("copy_GBps_rw"))
    head = [f"{t['device_name']}, torch {t.get('torch_version', '?')}"] if "device_name" in t else []
    head.append(f"copy_ {fmt(copy, 0)} GB/s (read + written)")
    if t.get("copy_error"):
        head.append(f"copy error: {t['copy_error']}")
    if "torch_fp16_tg128_tok_s" in t:
        head.append(f"torch fp16 tg128 {fmt(t['torch_fp16_tg128_tok_s'])} tok/s")
    rows, errors = [], []
    for shape, g in t.get("gemv", {}).items():
        rows.append([shape, fmt(g.get("fp16_us")),
                     fmt(g.get("fp16_pct_of_copy", g.get("fp16_pct_copy")), 0),
                     fmt(g.get("int4_us", g.get("int4_tinygemm_us"))),
                     fmt(g.get("int4_pct_of_copy", g.get("int4_pct_copy")), 0)])
        for key in ("error", "fp16_error", "int4_error"):
            if g.get(key):
                errors.append(f"- {shape} {key}: {g[key][:300]}")
    text = "; ".join(head) + "\n\n" + md_table(
        ["N x K", "fp16 F.linear us", "% of copy", "int4 tinygemm g128 us", "% of copy"],
        rows, right=(1, 2, 3, 4))
    packing = {g.get("int4_packing") for g in t.get("gemv", {}).values()} - {None}
    if packing:
        text += "\n\nint4 packing: " + "; ".join(sorted(packing))
    if t.get("read_ceiling"):
        text += "\n\nread ceiling (" + t.get("read_ceiling_method", "?") + "): " + ", ".join(
            f"{r['bytes'] / 1e6:.1f} MB {fmt(r.get('us'))} us ({fmt(r.get('pct_of_copy'), 0)}%)"
            for r in t["read_ceiling"])
    if errors:
        # Long per-signature error texts: the first few are enough.
        text += "\n\n" + "\n".join(errors[:3]) + (
            f"\n- ... {len(errors) - 3} more" if len(errors) > 3 else "")
    return text


def readbw_section(d):
    paths = sorted(glob.glob(os.path.join(d, "readbw*.txt")))
    if not paths:
        return "readbw*.txt: missing"
    return "\n\n".join(f"{os.path.basename(p)}:\n```\n{shorten(read_text(p), 20, 1800)}\n```"
                       for p in paths)


# ---------------------------------------------------------------- ncu

# ncu metrics shown per kernel: column title -> metric name.
NCU_COLUMNS = {
    "DRAM %": "dram__throughput.avg.pct_of_peak_sustained_elapsed",
    "L1 %": "l1tex__throughput.avg.pct_of_peak_sustained_active",
    "regs": "launch__registers_per_thread",
    "occupancy %": "sm__warps_active.avg.pct_of_peak_sustained_active",
}
NCU_TIME = "gpu__time_duration.sum"
NCU_INST = "smsp__inst_executed.sum"
# Stall-reason metric families, most specific first; the first present wins.
STALL_FAMILIES = [
    r"smsp__average_warps_issue_stalled_(\w+?)_per_issue_active\.ratio",
    r"smsp__average_warp_latency_issue_stalled_(\w+?)\.ratio",
    r"smsp__pcsamp_warps_issue_stalled_(\w+)",
]
UNIT_SCALE = {"n": 1e-3, "u": 1.0, "m": 1e3, "": 1e6}  # seconds prefixes -> us
SI = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024.0, "Mi": 1024.0 ** 2, "Gi": 1024.0 ** 3}


def scale_value(value, unit, metric):
    """A value in the metric's base unit: us for times, plain counts otherwise
    (ncu scales units by default: 'usecond', 'Mbyte', 'Kinst' ...)."""
    if value is None:
        return None
    unit = (unit or "").strip()
    m = re.fullmatch(r"([num]?)s(?:econd)?", unit)
    if m:
        return value * UNIT_SCALE[m.group(1)]
    if metric == NCU_TIME:
        return value * 1e-3  # no units row: ncu's base unit is nanoseconds
    m = re.fullmatch(r"(Ki|Mi|Gi|K|M|G|T)(inst|byte|warp|cycle|sector|request)\w*", unit)
    return value * SI[m.group(1)] if m else value


def read_ncu_csv(path):
    """ncu CSV -> list of (kernel name, {metric: value in base units}).

    --page raw: a header row of metric names, an optional units row, one row
    per profiled launch. The details page (one row per metric, with 'Metric
    Name', 'Metric Unit', 'Metric Value') is accepted too. Lines before the
    header (==PROF== ...) are skipped."""
    lines = read_text(path).splitlines()
    start = next((i for i, l in enumerate(lines) if '"Kernel Name"' in l or "Kernel Name," in l), None)
    if start is None:
        raise ValueError("no header row with 'Kernel Name'")
    rows = list(csv.reader(io.StringIO("\n".join(lines[start:]))))
    header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    col = {name: i for i, name in enumerate(header)}
    if "Metric Name" in col and "Metric Value" in col:
        launches = {}
        for r in body:
            key = (r[col["ID"]] if "ID" in col else "", r[col["Kernel Name"]])
            unit = r[col["Metric Unit"]] if "Metric Unit" in col else ""
            launches.setdefault(key, {})[r[col["Metric Name"]]] = scale_value(
                number(r[col["Metric Value"]]), unit, r[col["Metric Name"]])
        return [(k[1], v) for k, v in launches.items()]
    units = {}
    # A units row has no kernel name and no numbers in the metric columns.
    if body and body[0][col["Kernel Name"]] == "" and not any(
            number(v) is not None for v in body[0]):
        units = dict(zip(header, body[0]))
        body = body[1:]
    return [(r[col["Kernel Name"]], {h: scale_value(number(v), units.get(h), h)
                                     for h, v in zip(header, r)}) for r in body]


def top_stall(metrics):
    """'long_scoreboard 91%': the largest stall reason and its share."""
    for family in STALL_FAMILIES:
        reasons = {}
        for name, value in metrics.items():
            m = re.fullmatch(family, name)
            # 'selected' is a warp issuing, not stalled; *_not_issued are duplicates.
            if m and value is not None and m.group(1) != "selected" \
                    and not m.group(1).endswith("not_issued"):
                reasons[m.group(1)] = value
        total = sum(reasons.values())
        if reasons and total > 0:
            best = max(reasons, key=reasons.get)
            return f"{best} {100 * reasons[best] / total:.0f}%"
    return ""


def load_weights(d, name):
    """weights-NAME.json, else weights-X.json for X a dash-separated part of NAME."""
    candidates = [os.path.join(d, f"weights-{name}.json")]
    parts = name.split("-")
    for p in sorted(glob.glob(os.path.join(d, "weights-*.json"))):
        if os.path.basename(p)[len("weights-"):-len(".json")] in parts:
            candidates.append(p)
    for p in candidates:
        if os.path.exists(p):
            w = json.loads(read_text(p))
            w = w.get("kernels", w) if isinstance(w, dict) else {}
            return {k: v for k, v in w.items() if isinstance(v, (int, float))}, os.path.basename(p)
    return {}, None


def kernel_key(name):
    """'decode_k12_matmul(...)' / 'void f<..>(..)' -> 'decode_k12_matmul' / 'f'."""
    name = re.sub(r"\(.*", "", name.strip())
    name = re.sub(r"<.*", "", name)
    return name.split()[-1] if name.split() else name


def ncu_section(d, max_kernels=12):
    paths = sorted(glob.glob(os.path.join(d, "ncu-*.csv")))
    if not paths:
        return "ncu-*.csv: missing"
    parts = []
    for path in paths:
        name = os.path.basename(path)[len("ncu-"):-len(".csv")]
        try:
            launches = read_ncu_csv(path)
            weights, wfile = load_weights(d, name)
        except Exception as exc:
            parts.append(f"**{os.path.basename(path)}**: unreadable: {exc}")
            continue
        grouped = {}
        for kernel, metrics in launches:
            grouped.setdefault(kernel_key(kernel), []).append(metrics)

        def mean(ms, metric):
            vals = [m.get(metric) for m in ms if m.get(metric) is not None]
            return statistics.fmean(vals) if vals else None

        # The slowest kernels first: they are what a decode step is made of.
        order = sorted(grouped, key=lambda k: -(mean(grouped[k], NCU_TIME) or 0))
        rows = []
        for k in order[:max_kernels]:
            ms = grouped[k]
            inst, w = mean(ms, NCU_INST), weights.get(k)
            per_weight = fmt(inst / w, 2) if inst is not None and w else ""
            merged = {}
            for m in ms:  # the stall reason over all launches of the kernel
                for key, v in m.items():
                    if v is not None:
                        merged[key] = merged.get(key, 0.0) + v
            rows.append([k, len(ms), fmt(mean(ms, NCU_TIME))]
                        + [fmt(mean(ms, NCU_COLUMNS[c]), 0 if c == "regs" else 1)
                           for c in ("DRAM %", "L1 %")]
                        + [per_weight, fmt(mean(ms, NCU_COLUMNS["regs"]), 0),
                           fmt(mean(ms, NCU_COLUMNS["occupancy %"])), top_stall(merged)])
        more = f" ({len(order) - max_kernels} more kernels left out)" if len(order) > max_kernels else ""
        note = f"weights per call from {wfile}" if wfile else "no weights-*.json: warp-inst/weight blank"
        parts.append(f"**{name}**: {len(launches)} launches, {len(grouped)} kernels; {note}{more}\n\n"
                     + md_table(["kernel", "launches", "us", "DRAM %", "L1 %", "warp-inst/weight",
                                 "regs", "occupancy %", "top stall"], rows,
                                right=tuple(range(1, 8))))
    return "\n\n".join(parts)


# ---------------------------------------------------------------- assembly

# (title, function, priority: lower keeps its text first when over LIMIT)
SECTIONS = [
    ("Device", device_section, 0),
    ("Correctness: GPU against CPU", gpu_check_section, 1),
    ("compute-sanitizer", sanitizer_section, 2),
    ("Speed (mixq-bench)", bench_section, 0),
    ("torch baselines", torch_section, 3),
    ("ncu", ncu_section, 4),
    ("Read bandwidth", readbw_section, 5),
]


def build_sections(d):
    out = []
    for title, fn, prio in SECTIONS:
        try:
            body = fn(d)
        except Exception as exc:  # the summary must print whatever one input holds
            body = f"summary failed: {exc!r}"
        out.append((title, body, prio))
    return out


def fit(sections, limit):
    """Cuts the bodies, lowest priority last to get room, so the whole
    document stays under `limit` characters."""
    head = "# mixq GPU run summary\n\n"
    left_out = f"left out: the summary is limited to {limit:,} characters"
    # Room is kept for every section's heading and, should it be left out
    # whole, its note; the bodies share the rest, highest priority first.
    budget = limit - len(head) - sum(len(f"## {t}\n\n\n\n{left_out}") for t, _, _ in sections)
    allowed = {}
    for i in sorted(range(len(sections)), key=lambda i: sections[i][2]):
        body = sections[i][1]
        if len(body) > budget:
            note = f"\n\n... cut: the summary is limited to {limit:,} characters; see the raw file."
            keep = budget - len(note)
            body = body[:keep].rsplit("\n", 1)[0] + note if keep > 200 else left_out
        allowed[i] = body
        if body is not left_out:
            budget -= len(body)
    return head + "\n\n".join(f"## {t}\n\n{allowed[i]}" for i, (t, _, _) in enumerate(sections)) + "\n"


def summarize(d, limit=LIMIT):
    if not os.path.isdir(d):
        return f"# mixq GPU run summary\n\n{d}: missing (not a folder)\n"
    return fit(build_sections(d), limit)


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) == 2 else 2
    sys.stdout.write(summarize(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
