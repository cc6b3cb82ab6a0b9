# -*- Python -*-
# lit configuration for mixq's FileCheck tests.
import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "mixq"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir"]
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
]
llvm_config.add_tool_substitutions(
    tools, [config.mixq_tools_dir, config.llvm_tools_dir])

if config.mixq_cuda_enabled:
    config.available_features.add("cuda")
