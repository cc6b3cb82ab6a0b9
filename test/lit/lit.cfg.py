# -*- Python -*-
# lit configuration for mixq's FileCheck tests.
import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "mixq"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.mixq_obj_root, "test", "lit")
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "Inputs"]

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

shlib_ext = ".so"
config.substitutions.append(
    ("%mlir_runner_utils",
     os.path.join(config.llvm_shlib_dir, "libmlir_runner_utils" + shlib_ext)))
config.substitutions.append(
    ("%mlir_c_runner_utils",
     os.path.join(config.llvm_shlib_dir, "libmlir_c_runner_utils" + shlib_ext)))

tools = [
    ToolSubst("mixq-opt", unresolved="fatal"),
    ToolSubst("mlir-runner", unresolved="fatal"),
    ToolSubst("mixq-compile", unresolved="fatal"),
    ToolSubst("mixq-synth", unresolved="fatal"),
    ToolSubst("mixq-inspect", unresolved="fatal"),
    ToolSubst("mixq-run", unresolved="fatal"),
    ToolSubst("mixq-schedule", unresolved="fatal"),
    ToolSubst("mixq-bench", unresolved="fatal"),
]
llvm_config.add_tool_substitutions(
    tools, [config.mixq_tools_dir, config.llvm_tools_dir])

# Real checkpoints live beside the repository (../shared/models); tests that
# need them are marked `REQUIRES: shared-models`.
models_dir = os.path.join(os.path.dirname(config.mixq_src_root), "shared",
                          "models")
config.substitutions.append(("%models", models_dir))
# test/lib's fp4 scheme, built as a dialect plugin (mixq-opt
# --load-dialect-plugin=%fp4_plugin, mixq-compile --load-scheme-plugin=).
config.substitutions.append(
    ("%fp4_plugin",
     os.path.join(config.mixq_obj_root, "lib", "libMixQTestSchemesPlugin.so")))
if os.path.exists(os.path.join(models_dir, "stories260K.bin")):
    config.available_features.add("shared-models")

if config.mixq_cuda_enabled:
    config.available_features.add("cuda")

# The CUDA toolkit MLIR links libdevice from when it lowers to PTX
# (mlir::NVVM::getCUDAToolkitPath: $CUDA_ROOT, $CUDA_HOME, $CUDA_PATH). lit
# does not pass these through, so the tests' PTX calls the __nv_* functions
# unresolved; tests of libdevice's code ask for `libdevice` and set
# %cuda_toolkit themselves.
cuda_toolkit = next((os.environ[var] for var in
                     ("CUDA_ROOT", "CUDA_HOME", "CUDA_PATH")
                     if os.environ.get(var)), "/usr/local/cuda")
if os.path.isfile(os.path.join(cuda_toolkit, "nvvm", "libdevice",
                               "libdevice.10.bc")):
    config.available_features.add("libdevice")
    config.substitutions.append(("%cuda_toolkit", cuda_toolkit))
