"""Tests of scripts/gpu_bench: summarize.py on the 2026-12-04 H200 outputs,
on a hand-written folder (ncu CSVs, sanitizer logs, the new bench columns,
torch_baselines.py's JSON) and on an empty folder; torch_baselines.py's
--help, --dry-run, its failure without torch, and one run against a mocked
torch (no GPU here: that checks the control flow and the JSON keys, not
torch's API).

    python3 -m unittest discover -s test/scripts -p 'test_gpu_bench_summary.py' -v
"""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

sys.dont_write_bytecode = True  # no __pycache__ in scripts/gpu_bench
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, "scripts", "gpu_bench")
FIXTURES = os.path.join(ROOT, "test", "fixtures")
REAL = os.path.join(FIXTURES, "gpu-2026-12-04")
SYNTHETIC = os.path.join(FIXTURES, "gpu-synthetic")


def load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(SCRIPTS, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


summarize = load("summarize")
torch_baselines = load("torch_baselines")


def run_script(name, *args):
    return subprocess.run([sys.executable, os.path.join(SCRIPTS, name), *args],
                          capture_output=True, text=True, timeout=60)


def section(text, title):
    """The body of '## title' up to the next '## '."""
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def row(text, first_cell):
    """The cells of the markdown table row starting with first_cell."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in:\n{text}")


class RealRunTest(unittest.TestCase):
    """The outputs of the first H200 run (test/fixtures/gpu-2026-12-04)."""

    @classmethod
    def setUpClass(cls):
        proc = run_script("summarize.py", REAL)
        cls.rc, cls.out = proc.returncode, proc.stdout

    def test_exit_and_length(self):
        self.assertEqual(self.rc, 0)
        self.assertLess(len(self.out), 12000)
        self.assertTrue(self.out.startswith("# mixq GPU run summary"))

    def test_speed_table(self):
        speed = section(self.out, "Speed (mixq-bench)")
        self.assertIn("copy bandwidth 3968–4040 GB/s", speed)
        affine = row(speed, "affine4")
        header = row(speed, "scheme")
        cell = dict(zip(header, affine))
        self.assertEqual(cell["bits/w"], "4.25")
        self.assertEqual(cell["pp512 t/s"], "5338.9")
        self.assertEqual(cell["tg128 t/s"], "52.92")
        self.assertEqual(cell["step ms"], "20.15")
        self.assertEqual(cell["kernels"], "419")
        # 4096 x 4096: k12 (96 calls) and k15 (32 calls), 44.1 us at 5.0 %.
        self.assertEqual(cell["4096x4096"], "44.1 / 5.0%")
        self.assertEqual(cell["11008x4096"], "107.5 / 5.5%")
        self.assertEqual(cell["32000x4096"], "101.9 / 63.8%")
        lut3 = dict(zip(header, row(speed, "lut3")))
        self.assertEqual(lut3["tg128 t/s"], "92.74")
        # time-weighted: (96 * 23.65 * 6.7 + 32 * 21.90 * 7.2) / (96 * 23.65 + 32 * 21.90)
        self.assertEqual(lut3["4096x4096"], "23.2 / 6.8%")
        mixed = dict(zip(header, row(speed, "mixed-tg2")))
        self.assertEqual(mixed["pp512 t/s"], "n/a")
        self.assertEqual(mixed["tg128 t/s"], "4.65 (tg2)")
        self.assertEqual(mixed["step ms"], "208.88")
        self.assertEqual(mixed["4096x11008"], "2188 / 0.2%")
        self.assertIn("4096x4096 17.8,", speed)  # fastest cuBLAS of the three runs

    def test_second_model_own_table(self):
        speed = section(self.out, "Speed (mixq-bench)")
        stories = speed[speed.index("**stories260K**"):]
        cell = dict(zip(row(stories, "scheme"), row(stories, "stories260K-mixed")))
        self.assertEqual(cell["pp128 t/s"], "265747.4")
        self.assertEqual(cell["tg64 t/s"], "1901.5")
        self.assertEqual(cell["kernels"], "68")
        # 64 x 64 is q (k14) and o (k19), not adjacent in the kernel table.
        self.assertEqual(cell["64x64"], "19.1 / 0.0%")
        self.assertEqual(cell["512x64"], "3.9 / 0.8%")

    def test_gpu_check(self):
        check = section(self.out, "Correctness: GPU against CPU")
        self.assertIn("(NVIDIA H200, 580.159.04, 143771 MiB): 9 equal, 1 differ", check)
        self.assertEqual(row(check, "quik4act8"),
                         ["quik4act8", "**differ**", "0.47438", "0.00170413", "4097.7"])
        self.assertEqual(row(check, "lut3")[1], "equal")

    def test_old_torch_baselines(self):
        torch = section(self.out, "torch baselines")
        self.assertIn("copy_ 3855 GB/s", torch)
        self.assertIn("torch fp16 tg128 144.6 tok/s", torch)
        self.assertEqual(row(torch, "4096x4096"), ["4096x4096", "17.4", "50", "9.4", "25"])
        self.assertEqual(row(torch, "12288x4096")[3], "19.0")

    def test_missing_and_as_is(self):
        self.assertIn("nvidia-smi.txt: missing", self.out)
        self.assertIn("sanitizer-*.txt: missing", self.out)
        self.assertIn("ncu-*.csv: missing", self.out)
        self.assertIn("400 empty kernels in one graph: 0.81 us each", self.out)

    def test_cut_to_a_smaller_limit(self):
        text = summarize.summarize(REAL, limit=2500)
        self.assertLess(len(text), 2500)
        self.assertIn("the summary is limited to 2,500 characters", text)
        # Highest priority first: the speed table survives, the readbw log does not.
        self.assertIn("| affine4 | 4.25 |", text)
        self.assertNotIn("400 empty kernels", text)


class SyntheticTest(unittest.TestCase):
    """Hand-written inputs (test/fixtures/gpu-synthetic)."""

    @classmethod
    def setUpClass(cls):
        proc = run_script("summarize.py", SYNTHETIC)
        cls.rc, cls.out = proc.returncode, proc.stdout

    def test_exit_and_length(self):
        self.assertEqual(self.rc, 0)
        self.assertLess(len(self.out), 12000)

    def test_device(self):
        self.assertIn("NVIDIA H200; driver 580.159.04, CUDA 13.0", self.out)

    def test_gpu_check_failed_row(self):
        check = section(self.out, "Correctness: GPU against CPU")
        self.assertIn("1 equal, 1 differ, 1 FAILED", check)
        self.assertEqual(row(check, "bitplane")[1], "**FAILED**")

    def test_sanitizer(self):
        san = section(self.out, "compute-sanitizer")
        self.assertIn("sanitizer-affine4.txt: 0 errors", san)
        self.assertIn("sanitizer-mixed.txt: **3 errors**: `Invalid __global__ read of size 2 bytes`", san)
        self.assertIn("sanitizer-lut3.txt: no ERROR SUMMARY line", san)

    def test_ceiling_columns_by_header_name(self):
        speed = section(self.out, "Speed (mixq-bench)")
        # mixq-bench's new columns: ceiling us | graph ceiling us | % of ceiling
        self.assertIn("us per call / % of copy / % of ceiling / % of graph ceiling", speed)
        cell = dict(zip(row(speed, "scheme"), row(speed, "affine4")))
        # alone 7.17 / 44.1 us = 16 %, graph 4.06 / 44.1 us = 9 %
        self.assertEqual(cell["4096x4096"], "44.1 / 5.0% / 16% / 9%")
        self.assertEqual(cell["32000x4096"], "101.9 / 63.8% / 71% / 61%")
        self.assertEqual(cell["step ms"], "20.15")
        self.assertEqual(cell["step ceiling ms"], "1.264")

    def test_new_torch_baselines(self):
        torch = section(self.out, "torch baselines")
        self.assertIn("NVIDIA H200, torch 2.11.0+cu130; copy_ 3855 GB/s", torch)
        self.assertEqual(row(torch, "22016x4096"), ["22016x4096", "60.2", "78", "", ""])
        self.assertIn("22016x4096 int4_error: uint8 [N, K/2], inner_k_tiles 8: RuntimeError", torch)
        self.assertIn("8.9 MB 7.5 us (31%)", torch)

    def test_ncu_raw_with_units(self):
        ncu = section(self.out, "ncu")
        self.assertIn("**decode-affine4-7b**: 5 launches, 4 kernels; weights per call from "
                      "weights-affine4.json", ncu)
        # two launches averaged; 7,090,176 warp instructions / 16,777,216 weights;
        # latency-ratio family, 'selected' left out: 15.1 / (5.1 + 15.1 + 8.2)
        self.assertEqual(row(ncu, "decode_k12_matmul"),
                         ["decode_k12_matmul", "2", "44.1", "4.4", "94.0", "0.42", "40", "58.6",
                          "mio_throttle 53%"])
        self.assertEqual(row(ncu, "decode_k11_rms_norm")[5], "")  # no weights: blank

    def test_ncu_without_units_row_and_details_page(self):
        ncu = section(self.out, "ncu")
        lut3 = ncu[ncu.index("**decode-lut3-7b**"):ncu.index("**details-mixed**")]
        # 23,650 ns without a units row; per-issue-active family: 2.75 / 3.65
        self.assertEqual(row(lut3, "decode_k12_matmul"),
                         ["decode_k12_matmul", "1", "23.7", "6.9", "71.2", "", "48", "40.1",
                          "lg_throttle 75%"])
        mixed = ncu[ncu.index("**details-mixed**"):]
        # 0.49 msecond; 205 Minst / 16,777,216 weights
        self.assertEqual(row(mixed, "decode_k12_matmul")[:7],
                         ["decode_k12_matmul", "1", "490.0", "0.3", "", "12.22", "96"])

    def test_ncu_parser_directly(self):
        launches = summarize.read_ncu_csv(os.path.join(SYNTHETIC, "ncu-decode-affine4-7b.csv"))
        self.assertEqual(len(launches), 5)
        name, metrics = launches[1]
        self.assertEqual(name, "decode_k12_matmul")
        self.assertEqual(metrics["smsp__inst_executed.sum"], 7090176)
        self.assertAlmostEqual(metrics["gpu__time_duration.sum"], 44.45)


class EmptyTest(unittest.TestCase):
    def test_every_section_missing(self):
        with tempfile.TemporaryDirectory() as d:
            proc = run_script("summarize.py", d)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for name in ("nvidia-smi.txt", "gpu-check*.txt", "sanitizer-*.txt", "bench-*.txt",
                     "torch-baselines.json", "ncu-*.csv", "readbw*.txt"):
            self.assertIn(f"{name}: missing", proc.stdout)

    def test_broken_inputs_do_not_crash(self):
        with tempfile.TemporaryDirectory() as d:
            for name, text in (("torch-baselines.json", "{not json"),
                               ("ncu-x.csv", "no header here\n"),
                               ("bench-7b-cut.txt", "| model | scheme bits/w |\n| --- |\n"),
                               ("gpu-check.txt", "garbage\n")):
                with open(os.path.join(d, name), "w") as f:
                    f.write(text)
            proc = run_script("summarize.py", d)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("torch-baselines.json: unreadable", proc.stdout)
        self.assertIn("ncu-x.csv**: unreadable: no header row", proc.stdout)

    def test_not_a_folder(self):
        proc = run_script("summarize.py", os.path.join(SYNTHETIC, "no-such-dir"))
        self.assertEqual(proc.returncode, 0)
        self.assertIn("missing (not a folder)", proc.stdout)


class TorchBaselinesTest(unittest.TestCase):
    def test_help_and_dry_run(self):
        self.assertEqual(run_script("torch_baselines.py", "--help").returncode, 0)
        proc = run_script("torch_baselines.py", "--dry-run")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for shape in ("4096 x 4096", "11008 x 4096", "4096 x 11008", "12288 x 4096",
                      "22016 x 4096", "32000 x 4096"):
            self.assertIn(shape, proc.stdout)
        self.assertIn("33562624", proc.stdout)  # 4096 x 4096 fp16 + x
        self.assertIn("8921088", proc.stdout)   # 4-bit + bf16 scale/zero per 128 + x

    def test_bad_shape(self):
        proc = run_script("torch_baselines.py", "--dry-run", "--shapes", "4096x100")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("multiple of 128", proc.stderr)

    def test_fails_clearly_without_torch_or_cuda(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "torch-baselines.json")
            fake = mock.MagicMock(__version__="0.0-fake")
            fake.cuda.is_available.return_value = False
            with mock.patch.dict(sys.modules, {"torch": fake}), \
                    mock.patch("sys.stderr", new=mock.MagicMock()), \
                    self.assertRaises(SystemExit) as exit_:
                torch_baselines.main(["--out", out])
            self.assertEqual(exit_.exception.code, 1)
            with open(out) as f:
                self.assertIn("CUDA is not available", json.load(f)["error"])
            self.assertIn("torch-baselines.json: **error**: CUDA is not available",
                          summarize.torch_section(d))

    def test_run_against_mocked_torch(self):
        fake = mock.MagicMock(__version__="2.11.0-fake")
        fake.version.cuda = "13.0"
        fake.cuda.is_available.return_value = True
        fake.cuda.get_device_name.return_value = "Fake H200"
        fake.cuda.get_device_capability.return_value = (9, 0)
        fake.cuda.Event.return_value.elapsed_time.return_value = 0.02  # ms
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "torch-baselines.json")
            with mock.patch.dict(sys.modules, {"torch": fake}), \
                    mock.patch("sys.stdout", new=mock.MagicMock()):
                torch_baselines.main(["--out", out, "--shapes", "4096x4096,11008x4096",
                                      "-r", "3", "--warmup", "1"])
            with open(out) as f:
                result = json.load(f)
            self.assertEqual(result["device_name"], "Fake H200")
            self.assertEqual(result["torch_version"], "2.11.0-fake")
            g = result["gemv"]["4096x4096"]
            self.assertAlmostEqual(g["fp16_us"], 20.0)
            self.assertAlmostEqual(g["fp16_gb_per_s"], 33562624 / 20.0 / 1e3)
            self.assertIn("int4_us", g)
            self.assertIn("uint8 [N, K/2]", g["int4_packing"])
            self.assertAlmostEqual(result["copy_gb_per_s"], 2 * (1 << 30) / 20.0 / 1e3)
            self.assertIn("fp16_pct_of_copy", g)
            self.assertEqual(len(result["read_ceiling"]), 4)
            # and summarize reads it back
            text = summarize.torch_section(d)
            self.assertIn("Fake H200, torch 2.11.0-fake", text)


if __name__ == "__main__":
    unittest.main()
