#!/usr/bin/env python3
"""Unit tests of scripts/sass-report on recorded ptxas/nvdisasm output.

Needs no CUDA tool: the inputs are recorded under test/fixtures/sass/
(README.md there says how). The expected values were counted by hand from
the flat `nvdisasm -c` listings (instruction offsets step by 16 bytes, so
a contiguous loop from offset a to b holds (b - a) / 16 + 1 instructions).

    python3 -m unittest discover -s test/scripts -p sass_report_test.py -v
"""

import importlib.machinery
import importlib.util
import json
import os
import struct
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "test", "fixtures", "sass")


def load_tool():
    """scripts/sass-report has no .py suffix: load it by path."""
    path = os.path.join(ROOT, "scripts", "sass-report")
    loader = importlib.machinery.SourceFileLoader("sass_report", path)
    spec = importlib.util.spec_from_loader("sass_report", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


sr = load_tool()


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def analyze(cfg, ptxas_log, manifest):
    """The report records of a recorded disassembly, as report_package
    builds them from live tool output."""
    return sr.analyze_kernels(json.loads(fixture(manifest)) if manifest
                              else {},
                              sr.parse_ptxas_log(fixture(ptxas_log))
                              if ptxas_log else {},
                              sr.parse_cfg(fixture(cfg)))


class LoadWidths(unittest.TestCase):
    def test_widths(self):
        cases = {
            "LDG.E.128": 128, "LDG.E.128.CONSTANT": 128, "LDG.E.64": 64,
            "LDG.E": 32, "LDG.E.U16": 16, "LDG.E.S16": 16, "LDG.E.U8": 8,
            "LDG.E.EL.S8": 8, "LDS": 32, "LDS.U16": 16, "LDS.64": 64,
            "LDS.128": 128, "LDGSTS.E.BYPASS.128": 128,
            "LDGSTS.E.BYPASS.LTC128B.128": 128, "LDGSTS.E.64": 64,
            "LDGSTS.E": 32, "LDSM.16.M88.4": 128, "LDSM.16.MT88.2": 64,
            "LD.E.128": 128,
        }
        for opcode, bits in cases.items():
            self.assertEqual(sr.load_bits(opcode), bits, opcode)

    def test_kinds(self):
        self.assertEqual(sr.load_kind("LDG.E.U16"), "global")
        self.assertEqual(sr.load_kind("LD.E"), "global")
        self.assertEqual(sr.load_kind("LDS.U8"), "shared")
        self.assertEqual(sr.load_kind("LDSM.16.M88.4"), "shared")
        self.assertEqual(sr.load_kind("LDGSTS.E.BYPASS.128"), "async")
        for other in ("LDC.64", "ULDC", "LDGDEPBAR", "LDL", "STG.E",
                      "DEPBAR.LE"):
            self.assertIsNone(sr.load_kind(other), other)


class Labels(unittest.TestCase):
    def test_escapes_and_ports(self):
        # An escaped | is an absolute value, not a field separator; <exit0>
        # is a port name, not text.
        label = (r"{<entry>.L_x_1:\l0010:\ \ \ FADD\ R1,\ \|R2\|,\ R3\ ;\l"
                 r"|<exit0>0020:\ \ \ @!P0\ BRA\ `(.L_x_1)\ ;\l}")
        ins = sr.parse_label(label)
        self.assertEqual([(i.offset, i.predicate, i.opcode) for i in ins],
                         [(0x10, "", "FADD"), (0x20, "@!P0", "BRA")])
        self.assertEqual(ins[0].operands, "R1, |R2|, R3")


class PtxasLog(unittest.TestCase):
    def test_affine4_log(self):
        res = sr.parse_ptxas_log(fixture("affine4.ptxas.txt"))
        self.assertEqual(len(res), 22)
        self.assertEqual(res["decode_k12_matmul"], {
            "registers": 40, "spill_store_bytes": 0, "spill_load_bytes": 0,
            "stack_bytes": 0, "shared_bytes": 6656})
        self.assertEqual(res["prefill_k2_matmul"]["registers"], 72)
        self.assertEqual(res["prefill_k2_matmul"]["shared_bytes"], 20480)

    def test_spills(self):
        log = ("ptxas info    : Compiling entry function 'k' for 'sm_90'\n"
               "ptxas info    : Function properties for k\n"
               "    8 bytes stack frame, 12 bytes spill stores, "
               "16 bytes spill loads\n"
               "ptxas info    : Used 255 registers, used 1 barriers, "
               "48 bytes smem, 400 bytes cmem[0]\n")
        self.assertEqual(sr.parse_ptxas_log(log)["k"], {
            "registers": 255, "spill_store_bytes": 12,
            "spill_load_bytes": 16, "stack_bytes": 8, "shared_bytes": 48})


class SmallLoops(unittest.TestCase):
    """loop.ptx: two copies of a loop that ptxas unrolls by 4 (main loop
    .L_x_1 from 0x1b0 to 0x440, then straight-line remainders)."""

    def test_functions_and_loops(self):
        functions = sr.parse_cfg(fixture("loop.cfg"))
        self.assertEqual(sorted(functions), ["loopa", "loopk"])
        f = functions["loopk"]
        # 0x000..0x6e0; the BRA-to-self and NOP padding after EXIT are not
        # part of any block.
        self.assertEqual(f.instruction_count(sr._reachable(f)), 111)
        loops = sr.find_loops(f)
        self.assertEqual(len(loops), 1)
        loop = loops[0]
        self.assertEqual(len(loop["blocks"]), 1)
        ins = sr._loop_instructions(f, loop)
        self.assertEqual(len(ins), (0x440 - 0x1b0) // 16 + 1)  # 42
        self.assertEqual(ins[-1].opcode, "BRA")
        loads = [(k, b) for k, _, b in sr.loads_of(ins)]
        self.assertEqual(loads.count(("global", 64)), 4)
        self.assertEqual(loads.count(("global", 16)), 4)
        self.assertEqual(len(loads), 8)

    def test_manifestless_records(self):
        records = analyze("loop.cfg", "loop.ptxas.txt", None)
        self.assertEqual([r["entry"] for r in records], ["loopa", "loopk"])
        for r in records:
            self.assertEqual(r["kind"], "row")
            self.assertEqual(r["registers"], 32)
            self.assertEqual(r["loops"], 1)
            self.assertIsNone(r["k_loop"])  # not a matmul


class Affine4DecodeGemv(unittest.TestCase):
    """affine 4-bit g128, 4096 x 4096, one warp per row, 32 weights per
    lane per iteration: one loop, one block, 0x680..0x1f60."""

    def setUp(self):
        (self.record,) = analyze("affine4-decode-gemv.cfg",
                                 "affine4.ptxas.txt", "affine4-manifest.json")
        self.loop = self.record["k_loop"]

    def test_resources(self):
        r = self.record
        self.assertEqual((r["kind"], r["registers"], r["spill_bytes"],
                          r["shared_bytes"], r["stack_bytes"]),
                         ("decode_gemv", 40, 0, 6656, 0))
        self.assertEqual(r["weights_per_warp_iteration"], 1024)
        self.assertEqual(r["weight"], "blk0.q_proj")
        self.assertEqual(r["k"], 4096)

    def test_loop(self):
        self.assertEqual(self.loop["loop_header"], ".L_x_122")
        self.assertEqual(self.loop["loop_blocks"], 1)
        self.assertEqual(self.loop["inner_loops"], 0)
        self.assertEqual(self.loop["loop_instructions"],
                         (0x1f60 - 0x680) // 16 + 1)  # 399

    def test_per_weight(self):
        # 399 instructions x 32 lanes / 1024 weights.
        self.assertAlmostEqual(self.loop["instructions_per_weight"],
                               399 * 32 / 1024, places=3)  # 12.469
        # Whole kernel: 534 instructions, 135 outside the loop, K / 1024 =
        # 4 trips: (135 + 4 * 399) * 32 / 4096 = 13.52 (ncu: 7,090,176
        # warp-instructions over 4096 warps = 1731 = 135 + 4 * 399).
        self.assertEqual(self.record["kernel_instructions"], 534)
        self.assertAlmostEqual(
            self.record["kernel_instructions_per_weight_estimate"],
            (135 + 4 * 399) * 32 / 4096, places=2)

    def test_estimate_spreads_over_the_warps_weights(self):
        # A tensor-core GEMV's warp takes 16 rows and a quarter of K
        # (the manifest's weights_per_warp = 16 * 4096 / 4 = 16384): 16
        # trips of the loop, the 135 other instructions spread over 16384
        # weights, not 4096.
        manifest = json.loads(fixture("affine4-manifest.json"))
        for kernel in manifest["targets"]["cuda"]["kernels"]:
            if kernel.get("weights_per_warp_iteration"):
                kernel["weights_per_warp"] = 16384
        (record,) = sr.analyze_kernels(
            manifest, sr.parse_ptxas_log(fixture("affine4.ptxas.txt")),
            sr.parse_cfg(fixture("affine4-decode-gemv.cfg")))
        self.assertEqual(record["weights_per_warp"], 16384)
        self.assertAlmostEqual(
            record["kernel_instructions_per_weight_estimate"],
            (135 + 16 * 399) * 32 / 16384, places=2)
        self.assertIsNone(sr.kernel_estimate(534, 399, 0, 16384))

    def test_loads(self):
        counts = {l["opcode"]: l["count"] for l in self.loop["loads"]}
        # 10 LDS in the listing, 3 of them `@!PT LDS RZ, [RZ]` (never
        # executed: padding of the cp.async wait).
        self.assertEqual(counts, {"LDG.E.U16": 32, "LDS.U16": 5, "LDS": 7,
                                  "LDS.U8": 3, "LDGSTS.E.BYPASS.128": 1})
        self.assertEqual(self.loop["global_loads"], 33)
        self.assertEqual(self.loop["async_copies"], 1)
        self.assertEqual(self.loop["shared_loads"], 15)
        self.assertEqual(self.loop["weight_load_bits"], 16)
        self.assertEqual(self.loop["widest_global_load_bits"], 128)
        # Narrower than 32 bits: 32 LDG.E.U16 + 5 LDS.U16 + 3 LDS.U8.
        self.assertEqual(self.loop["scalar_x_loads"], 40)
        # 1024 weights x 4.25 bits / 8 = 544 bytes over 33 global loads.
        self.assertAlmostEqual(self.loop["weight_bytes_per_global_load"],
                               544 / 33, places=1)


class Lut3SparseDecodeGemv(unittest.TestCase):
    """lut 3-bit + CSR outliers: the K loop (11 blocks, 0x310..0x1810)
    holds an inner loop (0x10f0..0x1500, 4 LDG.E.U16); the report must
    pick the outer loop, which carries the 32-bit code reads."""

    def test_outer_loop_is_the_k_loop(self):
        (record,) = analyze("lut3sparse-decode-gemv.cfg", None,
                            "lut3sparse-manifest.json")
        loop = record["k_loop"]
        self.assertEqual(record["loops"], 2)
        self.assertEqual(loop["loop_blocks"], 11)
        self.assertEqual(loop["inner_loops"], 1)
        self.assertEqual(loop["loop_instructions"],
                         (0x1810 - 0x310) // 16 + 1)  # 337
        self.assertAlmostEqual(loop["instructions_per_weight"],
                               337 * 32 / 256, places=3)  # 42.125
        self.assertEqual(loop["loads"], [
            {"kind": "global", "opcode": "LDG.E", "bits": 32, "count": 13},
            {"kind": "global", "opcode": "LDG.E.U16", "bits": 16,
             "count": 22}])
        self.assertEqual(loop["scalar_x_loads"], 22)
        self.assertEqual(loop["widest_global_load_bits"], 32)

    def test_inner_loop_found(self):
        f = sr.parse_cfg(fixture("lut3sparse-decode-gemv.cfg"))[
            "decode_k12_matmul"]
        inner = [l for l in sr.find_loops(f) if l["innermost"]]
        self.assertEqual(len(inner), 1)
        self.assertEqual(len(sr._loop_instructions(f, inner[0])),
                         (0x1500 - 0x10f0) // 16 + 1)  # 66


class Budgets(unittest.TestCase):
    def record(self, **fields):
        base = {"entry": "decode_k1_matmul", "kind": "decode_gemv",
                "registers": 40, "spill_bytes": 0, "stack_bytes": 0,
                "shared_bytes": 0, "weights_per_warp_iteration": 1024,
                "k_loop": {"instructions_per_weight": 12.5,
                           "weight_load_bits": 16, "scalar_x_loads": 40}}
        base.update(fields)
        return base

    def check(self, records, budget, name="p"):
        report = [{"name": name, "chip": "sm_90", "kernels": records}]
        return sr.check_budgets(report, {"arch": "sm_90",
                                         "packages": budget})

    def test_within_and_over(self):
        budget = {"p": {"decode_gemv": {
            "max_instructions_per_weight": 13.1, "max_registers": 42,
            "min_weight_load_bits": 16, "max_scalar_x_loads": 40,
            "max_spill_bytes": 0}}}
        self.assertEqual(self.check([self.record()], budget), [])
        bad = self.record(registers=43, spill_bytes=8,
                          k_loop={"instructions_per_weight": 13.2,
                                  "weight_load_bits": 8,
                                  "scalar_x_loads": 41})
        got = {v[2]: (v[3], v[4]) for v in self.check([bad], budget)}
        self.assertEqual(got, {
            "max_registers": (43, 42), "max_spill_bytes": (8, 0),
            "max_instructions_per_weight": (13.2, 13.1),
            "min_weight_load_bits": (8, 16),
            "max_scalar_x_loads": (41, 40)})

    def test_star_and_override(self):
        budget = {"*": {"decode_gemv": {"max_registers": 32,
                                        "max_spill_bytes": 0}},
                  "p": {"decode_gemv": {"max_registers": 64}}}
        self.assertEqual(self.check([self.record()], budget), [])
        budget["p"]["decode_gemv"]["max_registers"] = 39
        self.assertEqual([v[2] for v in self.check([self.record()], budget)],
                         ["max_registers"])

    def test_unmeasured_loop_is_a_violation(self):
        budget = {"p": {"decode_gemv": {"max_instructions_per_weight": 99}}}
        got = self.check([self.record(k_loop=None)], budget)
        self.assertEqual([(v[2], v[3]) for v in got],
                         [("max_instructions_per_weight", "not measured")])

    def test_loop_metrics_skip_non_matmuls(self):
        # A tensor-core prefill matmul has no weights_per_warp_iteration.
        budget = {"p": {"prefill_matmul": {"max_instructions_per_weight": 1,
                                           "max_registers": 80}}}
        mma = self.record(kind="prefill_matmul", registers=72,
                          weights_per_warp_iteration=0, k_loop=None)
        self.assertEqual(self.check([mma], budget), [])

    def test_unknown_package_and_metric(self):
        self.assertEqual([v[2] for v in self.check([self.record()], {},
                                                   "q")], ["no budget"])
        with self.assertRaises(sr.ReportError):
            self.check([self.record()],
                       {"p": {"decode_gemv": {"max_bogus": 1}}})

    def test_repository_budget_file_parses(self):
        budgets = sr.load_budgets(os.path.join(ROOT, "scripts",
                                               "sass-budgets.json"))
        self.assertEqual(budgets["arch"], "sm_90")
        for name, kinds in budgets["packages"].items():
            for kind, metrics in kinds.items():
                self.assertIn(kind, ("decode_gemv", "logits",
                                     "prefill_matmul", "attention", "row"))
                for metric in metrics:
                    self.assertIn(metric, sr.BUDGET_METRICS, (name, kind))


class Packages(unittest.TestCase):
    """The reader needs only the header, the manifest and the PTX blob."""

    def write_package(self, manifest, blobs, magic=b"MIXQPKG\0"):
        """docs/package.md's layout, with the data section at 4096."""
        data_offset, body = 4096, b""
        for name, data in blobs.items():
            manifest["blobs"][name] = {"offset": data_offset + len(body),
                                       "size": len(data), "xxh3": "0" * 16}
            body += data + b"\0" * (-len(data) % 256)
        text = json.dumps(manifest).encode()
        header = magic + struct.pack("<IIQQQQQQ", 1, 64, 64, len(text), 0,
                                     data_offset, data_offset + len(body), 0)
        f = tempfile.NamedTemporaryFile(suffix=".mixq", delete=False)
        f.write(header + text.ljust(data_offset - 64, b"\0") + body)
        f.close()
        self.addCleanup(os.unlink, f.name)
        return f.name

    def manifest(self, cuda=True):
        m = {"format": "mixq", "version": 1, "weight_data": "absent",
             # docs/package.md: an absent blob has a size, no offset.
             "blobs": {"blk0.q_proj:codes": {"absent": True,
                                             "size": 1 << 30}},
             "targets": {}}
        if cuda:
            m["targets"]["cuda"] = {"ptx": {"sm_90": "cuda/sm_90.ptx"},
                                    "kernels": []}
        return m

    def test_weightless_package(self):
        path = self.write_package(self.manifest(),
                                  {"cuda/sm_90.ptx": b".version 8.0\n"})
        manifest, read_blob = sr.read_package(path)
        self.assertEqual(sr.package_ptx(path, manifest, read_blob, "sm_90"),
                         ".version 8.0\n")
        with self.assertRaisesRegex(sr.ReportError, "absent"):
            read_blob("blk0.q_proj:codes")
        with self.assertRaisesRegex(sr.ReportError, "no PTX for sm_80"):
            sr.package_ptx(path, manifest, read_blob, "sm_80")

    def test_no_cuda_target(self):
        path = self.write_package(self.manifest(cuda=False), {})
        manifest, read_blob = sr.read_package(path)
        with self.assertRaisesRegex(sr.ReportError, "no cuda target"):
            sr.package_ptx(path, manifest, read_blob, "sm_90")

    def test_bad_magic(self):
        path = self.write_package(self.manifest(), {}, magic=b"GGUF\0\0\0\0")
        with self.assertRaisesRegex(sr.ReportError, "not a mixq package"):
            sr.read_package(path)


if __name__ == "__main__":
    unittest.main()
