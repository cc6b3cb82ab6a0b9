//===- CUDAPasses.td - codegen/cuda passes -----------------*- tablegen -*-===//
#ifndef MIXQ_CODEGEN_CUDA_CUDAPASSES_TD
#define MIXQ_CODEGEN_CUDA_CUDAPASSES_TD

include "mlir/Pass/PassBase.td"

def MixQBuildGPUKernels : Pass<"mixq-build-gpu-kernels", "ModuleOp"> {
  let summary = "Rebuild every L2 kernel as a gpu.func (CUDA kernel ABI)";
  let description = [{
    The first step of the CUDA backend (`codegen/cuda`, `mixq-compile
    --target=cuda`), exposed for lit tests and `--emit=gpu`. Every
    `mixq.kernel` function of a dispatch-formed module is matched by its
    anchor op and rebuilt by an op-specific generator as a `gpu.func` in one
    `gpu.module @mixq_kernels` carrying an `#nvvm.target` per chip; the
    module's other contents (the host plan's entry functions, the L2
    kernels) are replaced by it.

    Kernel ABI: one argument per plan binding in ABI order (`--mixq-kernel-abi`
    order: the kernel's arguments, a qtensor expanded into its components,
    then its untied results), each a statically shaped memref — an S-sized
    dimension is `max-tokens` — or an `i64` for `start_pos`, then a trailing
    `i64`, the call's token count S. Memrefs become bare pointers when lowered
    (`convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv=1}`).

    Each `gpu.func` records its launch: `known_block_size` and
    `mixq.grid = [[count, tokens_per_block] x 3]`, a grid dimension being
    `count * ceil(S / tokens_per_block)`, or `count` when `tokens_per_block`
    is 0.

    The generators:

    * `mixq.matmul`, `llm.linear`, `llm.logits` (with a fused residual
      `llm.add`): a fused dequant-GEMV with one warp per output row and up to
      8 token rows per block (grid `[ceil(N / 4), ceil(S / 8)]`, 128
      threads); decode GEMVs without split-K whose tile is cheap (a plain
      matrix, or at most one scalar op per weight) give each warp two rows
      (grid `ceil(N / 8)`), so that each x element serves both. Each lane dequantizes consecutive weights of its row with the
      scheme's `buildDequantVector` (QuantSchemeAttrInterface; no scheme is
      special-cased; a scheme may unpack whole words), accumulates `x * w` in f32 with `math.fma`, and the warp
      reduces with `gpu.shuffle xor`. The rows of the scheme's column-tiled
      component (the packed codes) are staged through shared memory by
      per-lane 4/8/16-byte vector copies, which
      `--mixq-pipeline-async-copies` turns into `cp.async` groups.
      Prefill matmuls on f16/bf16 go to the tensor-core generator (m16n8k16
      `nvgpu.mma.sync`) where it applies.
    * `llm.embed`, `llm.rms_norm`, `llm.rope` (both layouts; the frequency
      table is a constant `memref.global`), `llm.swiglu`, `llm.add`,
      `mixq.quantize_act`: one block of 128 threads per token row,
      block-stride loops, block reductions through shared memory.
    * `llm.attention`: one block per (query head, token), causal, GQA; the
      scores of the live prefix in shared memory; keys and values before
      `start_pos` come from the caches, the call's own from the k/v inputs
      (which the first query head of each KV group also writes into the
      caches).

    An op without a generator, or a kernel that holds more than one op (other
    than a matmul and its residual add), is an error on that op.
  }];
  let options = [
    Option<"maxTokens", "max-tokens", "int64_t", /*default=*/"0",
           "The static bound of S-sized dimensions (the context length)">,
    ListOption<"chips", "chips", "std::string",
               "NVIDIA chips of the gpu.module's #nvvm.target list "
               "(default: sm_80, sm_86, sm_89, sm_90)">,
    Option<"tensorCores", "tensor-cores", "bool", /*default=*/"true",
           "Use the tensor-core generator for f16/bf16 prefill matmuls">,
    Option<"tensorCoreGemv", "tensor-core-gemv", "bool", /*default=*/"true",
           "Use mma.sync (f32 accumulators) for f16/bf16 decode GEMVs; "
           "false: f32 FMAs per weight">,
    Option<"stageGemvWeights", "stage-gemv-weights", "bool",
           /*default=*/"true",
           "Copy the GEMVs' weight codes to shared memory with pipelined "
           "cp.async; false: load them straight into registers">,
    Option<"gemvTileFactors", "gemv-tile-factors", "bool",
           /*default=*/"false",
           "Apply scale factors per lane tile in tensor-core GEMVs whose "
           "steps span several factor runs (B's columns split among the "
           "lanes' tiles)">,
    Option<"biasedGemvTiles", "biased-gemv-tiles", "bool",
           /*default=*/"true",
           "Tensor-core GEMVs whose scales are applied to their sums take "
           "the schemes' biased tiles (2^(10-k) + q) and subtract the "
           "biases once per step with a second mma">,
    Option<"shareGemvCopies", "share-gemv-copies", "bool",
           /*default=*/"false",
           "Stage tensor-core GEMV weight slices that are not a multiple of "
           "16 bytes by 16-byte cp.async pieces the lanes of a row copy "
           "together (sm_90+ chips only)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def MixQMagicIntToFloat : Pass<"mixq-magic-int-to-float"> {
  let summary = "Small unsigned ints to float with the magic-number trick";
  let description = [{
    On NVIDIA GPUs an int -> float conversion (`cvt.rn.f32.u32`) issues at a
    quarter of the FP32 rate, and a dequantizing GEMV converts every packed
    code. A code known to be small converts exactly with integer and FP32
    ops at full rate instead: OR it into the mantissa of a power of two
    (0x4B000000 = 2^23 for f32, 0x6400 = 1024 for f16), reinterpret the bits
    as a float and subtract the power of two. ptxas fuses the mask, shift
    and OR that feed it into one `lop3`.

    Rewritten: `arith.uitofp %x : i32 to f32` where `%x` is an `arith.andi`
    with a constant mask below 2^23 (every code extraction of the packed
    schemes), and `... : i32 to f16` where the mask is below 2^10; the same
    on vectors of i32 (word-level dequantization) where every element of
    the mask is. The result is bit-identical (both sides are exact).
    Anything else is left alone.

    ```mlir
    %c = arith.andi %w, %c15 : i32
    %f = arith.uitofp %c : i32 to f32
    // becomes
    %o = arith.ori %c, %c0x4B000000 : i32
    %b = arith.bitcast %o : i32 to f32
    %f = arith.subf %b, %cst_2p23 : f32
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def MixQFuseLop3 : Pass<"mixq-fuse-lop3"> {
  let summary = "Masked ORs and bitwise selects by a constant to one lop3.b32";
  let description = [{
    `(x & C1) | C2` on i32 is one `LOP3` on NVIDIA GPUs, but ptxas emits two
    when both constants are immediates (it fuses them only when one is in a
    register). Word-level dequantization does this once per pair of codes
    (`buildCenteredHalfCodePairs`: the mask of a pair, then the f16 bias
    0x6400'6400), and so does `--mixq-magic-int-to-float`. This pass writes
    each such pair of ops as one `lop3.b32` (function 0xEA = (a & b) | c)
    in pure inline PTX, which ptxas assembles into one `LOP3` with the
    second constant hoisted into a register.

    Likewise `(a & M) | (b & ~M)`, a bitwise select of two values by a
    constant mask: ptxas emits an and and an and-or, where one `LOP3`
    (function 0xE4 = (a & c) | (b & ~c), the mask an immediate) does. mixed
    widens its 2-bit low and extra codes into 4-bit fields so, two selects
    per 16 weights (`buildWidenedCodeWords`).

    Rewritten: `arith.ori` of an `arith.andi` with a constant and a constant,
    and `arith.ori` of two `arith.andi` with complementary constant masks,
    on i32 or a vector of i32 (per element; constants may differ per
    element). The result is bit-identical. Run it last: nothing sees through
    the asm afterwards.

    ```mlir
    %a = arith.andi %x, %c983055 : i32
    %o = arith.ori %a, %c1677747200 : i32
    // becomes
    %o = llvm.inline_asm "lop3.b32 $0, $1, 983055, 1677747200, 0xEA;", "=r,r" %x
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::vector::VectorDialect"];
}

def MixQNarrowLoopIndices : Pass<"mixq-narrow-loop-indices"> {
  let summary = "Index-typed scf.for loops with 32-bit bounds to i32 loops";
  let description = [{
    The NVPTX lowering makes `index` 64 bits wide, so every K loop counts in
    64 bits: an add with carry and a compare with carry each step, more
    where the pipelined loops test the copies' guard. The upstream
    `arith-int-range-narrowing` narrows the arithmetic on an induction
    variable but not the loop's own increment and compare. This pass
    rewrites an `scf.for` over `index` whose lower bound integer range
    analysis proves non-negative, whose step it proves positive and whose
    upper bound plus step it proves below 2^31 into an `scf.for` over
    `i32` (the bounds `arith.index_castui` to i32, the induction variable
    cast back to `index` for the body, iter_args and `unsignedCmp` kept).
    Only reductions (loops with iter_args: the K loops) of a trip count
    known at run time are candidates: LLVM folds or unrolls a loop of a
    constant trip count anyway, and a loop without results (a strided
    copy) has its counter strength-reduced into its pointers; narrowed,
    such loops moved ptxas's register allocation of a fused sm_80 kernel
    into a spill. Loops whose bounds it cannot bound are left alone. The
    CUDA backend runs it after `lower-affine`, before
    `arith-int-range-narrowing`.

    ```mlir
    %r = scf.for %i = %lb to %c4096 step %c1024 iter_args(%a = %z) -> f32 {
      ... %i ...
    }
    // becomes (%lb's range [0, 1023])
    %lb32 = arith.index_castui %lb : index to i32
    %r = scf.for %j = %lb32 to %c4096_i32 step %c1024_i32
        iter_args(%a = %z) -> (f32) : i32 {
      %i = arith.index_castui %j : i32 to index
      ... %i ...
    }
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect"];
}

def MixQProgrammaticLaunch : Pass<"mixq-programmatic-launch", "ModuleOp"> {
  let summary = "Programmatic dependent launch (griddepcontrol) on sm_90+";
  let description = [{
    In a CUDA graph a kernel normally starts only once its predecessor has
    finished, so each of a decode step's ~160 launches pays the launch and
    the block scheduling (about 0.8 us on an H200) on the critical path.
    With programmatic dependent launch (sm_90 and newer) the next kernel's
    blocks are scheduled while the current one is still running, and wait
    in `griddepcontrol.wait` until it has completed and its writes are
    visible.

    Every kernel of a `gpu.module` whose `#nvvm.target`s include sm_90 or
    newer gets `nvvm.griddepcontrol launch_dependents` at the top of its
    entry block, and `nvvm.griddepcontrol wait` before the first op of the
    entry block that may touch memory an earlier kernel writes or a later
    one reads, an op nested in it included:

    ```mlir
    nvvm.griddepcontrol launch_dependents
    %row = gpu.block_id x                 // index math
    scf.if %live {                        // the first weight tiles' copies
      %cp = nvgpu.device_async_copy %w[...], %tile[...], 4
      %g = nvgpu.device_async_create_group %cp
    }
    nvvm.griddepcontrol wait
    %x = vector.load %act[...]            // an earlier kernel's output
    ```

    What may precede the wait: ops without memory effects, accesses of
    shared or private memory, cp.async group bookkeeping, barriers (they
    order only the block's own accesses), and reads of weights: memrefs
    viewed from a kernel argument marked `mixq.weight` (the CUDA generators
    mark every argument a plan binds to a package weight, which nothing
    writes on the GPU). Anything else waits: global stores, reads of
    activations, caches or tokens, ops whose effects are not declared.
    `--mixq-pipeline-async-copies hoist-prologue` puts each K loop's first
    weight copies at the kernel's first memory access, so they are in
    flight while the previous kernel finishes.

    `launch_dependents` lets the next kernel's blocks be scheduled once
    every block of this one has started (they then occupy no slot this
    kernel's own blocks still need); `wait` keeps this kernel from touching
    its predecessor's memory before that kernel is complete. Every kernel
    waits before it writes, so the completion of one implies that of all
    before it, as with ordinary graph edges. Where nothing launches a
    kernel programmatically (eager launches, ordinary graph edges) `wait`
    returns at once: the kernels are correct under either launch.

    `griddepcontrol` does not exist below sm_90, so a module that also
    targets older chips is split: the sm_90+ targets move to a copy named
    `<name>_pdl`, marked `mixq.programmatic_launch`, which gets the
    instructions; the original keeps the older targets and stays as it
    was. Each chip's PTX then comes from one of the two. A module without
    an sm_90+ target is left alone, with a remark.

    The runtime joins the decode graph's kernel nodes with programmatic
    edges only for a package whose manifest lists the loaded chip under
    `targets.cuda.programmatic_launch` (docs/cuda.md).
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::NVVM::NVVMDialect"];
}

#endif // MIXQ_CODEGEN_CUDA_CUDAPASSES_TD
