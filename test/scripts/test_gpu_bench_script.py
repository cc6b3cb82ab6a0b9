"""Tests of scripts/gpu-bench.sh's CPU-side parts: `prepare` on a small
selection (stories260K fp16 and QUIK with 8-bit activations, a one-layer
llama2-7b-shaped fp16 package), `pack` on the 2026-12-04 H200 outputs, and
kernel_weights.py. The device run itself needs a GPU.

    MIXQ_BUILD_DIR=build python3 -m unittest discover -s test/scripts \
        -p 'test_gpu_bench_script.py' -v

Without MIXQ_BUILD_DIR's mixq-compile (or ../shared/models), the prepare
test is skipped.
"""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest

sys.dont_write_bytecode = True
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "gpu-bench.sh")
FIXTURE = os.path.join(ROOT, "test", "fixtures", "gpu-2026-12-04")
BUILD = os.path.abspath(os.environ.get("MIXQ_BUILD_DIR", os.path.join(ROOT, "build")))
STORIES = os.path.join(os.path.dirname(ROOT), "shared", "models", "stories260K.bin")


def run(*args, env=None, timeout=600):
    return subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


class PrepareTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(os.path.join(BUILD, "bin", "mixq-compile"), os.X_OK):
            raise unittest.SkipTest(f"no {BUILD}/bin/mixq-compile")
        if not os.path.exists(STORIES):
            raise unittest.SkipTest(f"no {STORIES}")
        cls.temp = tempfile.mkdtemp(prefix="mixq-gpu-bench-test-")
        cls.payload = os.path.join(cls.temp, "payload")
        cls.result = run("prepare", cls.payload, BUILD, env={
            "MIXQ_GPU_BENCH_MODELS": "stories260K wide16 7b",
            # affine3 is a tiny16-only entry: stories260K must not get it.
            # lut3-shared is wide16's only one: wide16 gets nothing else.
            "MIXQ_GPU_BENCH_SCHEMES": "fp16 quik4act8 affine3 lut3-shared",
            "MIXQ_GPU_BENCH_7B_SCHEMES": "fp16",
            "MIXQ_GPU_BENCH_7B_LAYERS": "1",
            "MIXQ_GPU_BENCH_WORK": os.path.join(cls.temp, "work"),
        })

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.temp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.payload, *parts)

    def test_prepare_succeeds_and_says_what_it_made(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        self.assertIn("gpu-bench: prepared 4 packages in", self.result.stdout)
        self.assertIn("on the GPU machine run", self.result.stdout)

    def test_payload_holds_the_runtime_and_the_scripts(self):
        for tool in ("mixq-run", "mixq-bench", "mixq-inspect"):
            self.assertTrue(os.access(self.path("bin", tool), os.X_OK), tool)
        self.assertTrue(any(n.startswith("libxxhash") for n in os.listdir(self.path("bin"))))
        self.assertTrue(os.access(self.path("run.sh"), os.X_OK))
        for script in ("summarize.py", "torch_baselines.py"):
            self.assertTrue(os.path.isfile(self.path("scripts", "gpu_bench", script)))

    def test_small_packages_carry_weights_cpu_code_and_sm90_ptx(self):
        names = sorted(os.listdir(self.path("pkgs", "stories260K")))
        self.assertEqual(names, ["fp16.mixq", "quik4act8.mixq"])
        inspect = subprocess.run(
            [os.path.join(BUILD, "bin", "mixq-inspect"),
             self.path("pkgs", "stories260K", "fp16.mixq")],
            capture_output=True, text=True)
        self.assertEqual(inspect.returncode, 0, inspect.stderr)  # checksums verified
        self.assertIn("cpu x86-64-v2", inspect.stdout)
        self.assertIn("ptx sm_90 cuda/sm_90.ptx", inspect.stdout)
        self.assertNotIn("sm_80", inspect.stdout)

    def test_wide16_takes_only_the_entries_that_name_it(self):
        self.assertEqual(os.listdir(self.path("pkgs", "wide16")),
                         ["lut3-shared.mixq"])
        inspect = subprocess.run(
            [os.path.join(BUILD, "bin", "mixq-inspect"),
             self.path("pkgs", "wide16", "lut3-shared.mixq")],
            capture_output=True, text=True)
        self.assertEqual(inspect.returncode, 0, inspect.stderr)
        self.assertIn("ptx sm_90 cuda/sm_90.ptx", inspect.stdout)

    def test_large_packages_are_weightless_with_kernel_weights(self):
        package = self.path("pkgs", "7b", "fp16.mixq")
        self.assertLess(os.path.getsize(package), 8 << 20)
        inspect = subprocess.run(
            [os.path.join(BUILD, "bin", "mixq-inspect"), package, "--no-verify"],
            capture_output=True, text=True)
        self.assertIn("ABSENT: a weightless package", inspect.stdout)
        with open(self.path("pkgs", "7b", "weights-fp16.json")) as f:
            weights = json.load(f)
        # o is 4096 x 4096, down 4096 x 11008; the fused decode kernels
        # read q, k and v (3 x 4096 x 4096), gate and up (2 x 11008 x
        # 4096), and the final norm's lm_head 32000 x 4096.
        self.assertIn(4096 * 4096, weights.values())
        self.assertIn(3 * 4096 * 4096, weights.values())
        self.assertIn(2 * 11008 * 4096, weights.values())
        self.assertEqual(max(weights.values()), 32000 * 4096)
        self.assertTrue(all(k.startswith("decode_") for k in weights))

    def test_payload_is_under_30_mib(self):
        size = sum(os.path.getsize(os.path.join(d, f))
                   for d, _, files in os.walk(self.payload) for f in files)
        self.assertLess(size, 30 << 20)


class PrepareErrorsTest(unittest.TestCase):
    def test_missing_build_is_named(self):
        with tempfile.TemporaryDirectory() as temp:
            result = run("prepare", os.path.join(temp, "p"), os.path.join(temp, "nobuild"))
        self.assertEqual(result.returncode, 1)
        self.assertIn("gpu-bench: error: no", result.stderr)
        self.assertIn("(build first)", result.stderr)

    def test_missing_directory_argument_is_usage(self):
        result = run("prepare")
        self.assertEqual(result.returncode, 1)
        self.assertIn("usage: gpu-bench.sh prepare DIR [BUILD_DIR]", result.stderr)


class PackTest(unittest.TestCase):
    def test_pack_summarizes_and_tars_the_results(self):
        with tempfile.TemporaryDirectory() as temp:
            results = os.path.join(temp, "gpu-bench-results")
            shutil.copytree(FIXTURE, results)
            out = os.path.join(temp, "out")
            result = run("pack", results, out)
            self.assertEqual(result.returncode, 0, result.stderr)
            # Only two files go back from a lent machine's $OUT.
            self.assertEqual(sorted(os.listdir(out)),
                             ["gpu-bench-results.tar.gz", "summary.md"])
            with open(os.path.join(out, "summary.md")) as f:
                summary = f.read()
            self.assertEqual(result.stdout, summary)
            self.assertIn("# mixq GPU run summary", summary)
            self.assertIn("| affine4 | 4.25 | 5338.9 | 52.92 |", summary)
            self.assertLess(len(summary), 12000)
            with tarfile.open(os.path.join(out, "gpu-bench-results.tar.gz")) as tar:
                names = tar.getnames()
            self.assertIn("gpu-bench-results/summary.md", names)
            self.assertIn("gpu-bench-results/bench-7b-affine4.txt", names)
            self.assertIn("gpu-bench-results/readbw.txt", names)


class KernelWeightsTest(unittest.TestCase):
    def test_not_a_package_is_an_error(self):
        with tempfile.NamedTemporaryFile(suffix=".mixq") as f:
            f.write(b"not a package at all" * 8)
            f.flush()
            result = subprocess.run(
                [sys.executable, os.path.join(ROOT, "scripts", "gpu_bench", "kernel_weights.py"),
                 f.name], capture_output=True, text=True)
        self.assertEqual(result.returncode, 1)
        self.assertIn("not a mixq package", result.stderr)


if __name__ == "__main__":
    unittest.main()
