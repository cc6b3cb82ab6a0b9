//===- Passes.td - mixq passes -----------------------------*- tablegen -*-===//
#ifndef MIXQ_PASSES_PASSES_TD
#define MIXQ_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

def MixQLowerToLinalg : Pass<"mixq-lower-to-linalg", "ModuleOp"> {
  let summary = "Reference lowering of mixq ops to linalg, tensor and arith";
  let description = [{
    Lowers `mixq.dequantize` and `mixq.matmul` to upstream `linalg.generic`
    ops on tensors. It is the executable definition of what those ops mean,
    used to check every other backend.

    The lowering is generic: a qtensor value becomes its component tensors
    (a 1:N type conversion, applied to function signatures, calls and
    returns too), and each weight is dequantized by the IR its scheme emits
    through `QuantSchemeAttrInterface::buildDequantTile`. There is no switch
    on scheme kinds, so any attribute implementing the interface lowers.

    * `mixq.assemble` folds away into its component tensors.
    * `mixq.quantize` of a constant is first folded by the scheme's host
      quantizer; a non-constant `mixq.quantize` is an error.
    * `mixq.dequantize` becomes one elementwise `linalg.generic`.
    * `mixq.matmul` becomes that dequantization followed by a contraction
      `y[m, n] = sum_k x[m, k] * W[n, k]` accumulated in f32.
    * `mixq.quantize_act` (QUIK) becomes a per-row min/max reduction over
      the non-outlier columns followed by one elementwise generic that
      quantizes and dequantizes each element; the outlier columns are read
      from the weight's `col_map` component.
    * `mixq.weight` is an error: its components live in the WeightStore,
      which this reference lowering does not read.

    With `dequant-vector-width=W` (the CPU backend sets 16), a `mixq.matmul`
    whose scheme dequantizes whole words (at most two scalar ops per weight
    in a tile of W columns, or else of 2W, `isWordLevelTile`: 3-bit codes
    fill whole words 32 at a time) and whose K is a multiple of that width
    becomes instead one `linalg.generic` over (m, n) whose body loops over
    K in steps of that width: the scheme's `buildDequantVector`, x as a
    vector, a `vector.fma` into an f32 vector accumulator, and one
    `vector.reduction <add>` at the end of the row, plus the scheme's sparse
    terms (`buildSparseDot`: outliers) once per row.

    A scheme with scale factors (`getScaleFactorColumns`: affine's and
    mixed's groups, QUIK's rows) whose runs hold whole tiles is taken
    factored: a loop over the runs around a loop over the run's tiles sums
    `buildUnscaledDequantVectorInAnyOrder` (q - z) times x into a vector of
    partial sums, which one more `vector.fma` multiplies by the run's
    `buildScaleFactor`. That saves a multiply per weight and the scale's
    decode per tile. When the unscaled tiles are not in column order (f16
    pairs, mixed's widened codes), x is permuted to match once per matmul,
    before the rows (a `linalg.generic` reading each tile's columns through
    a table of the order), so the row loop reads x with plain vector loads.
    The sums then differ from those of the rounded weights as the GPU's
    factored GEMV's do: the scale is applied in f32, once per run.

    Where the unscaled tiles are values less one scalar for every lane
    (`v - broadcast(c)`, `matchLaneOffsetTile`: affine's and mixed's f32
    `q - z`), the loop sums `v` times x, and beside it, in a scalar, `c`
    times x's sum over the tile (summed once per matmul, before the rows);
    the run's factor scales both, and the scalar is subtracted after the
    row's reduction. That saves a vector subtraction per weight for two
    scalar FMAs per tile, and changes the sums by fp32 rounding only.

    With `register-table-entries=E`, a scheme's table lookup
    (`ComponentReader::gather`: lut's codebook, bitplane's LUT) from a
    table of at most 4E entries (a power of two) extracts each lane's
    entry at a dynamic position from the table's row in f32 registers,
    which LLVM's x86 backend turns into one variable permute (`vpermps`)
    per register of E = 8 entries, instead of a `vector.gather`, a load
    per lane (`vpgatherdd`, microcoded on many cores). A larger table is
    permuted in pieces of E entries by the codes' low bits and the pieces
    selected by their high bits. Codes are masked to the table.

    With `vector-sum-lanes=L`, a run's products are summed into a
    vector<L x f32> (the tile's slices of L lanes chained through FMAs),
    so that the run's scale costs one FMA of L lanes instead of one per
    slice of the tile.

    The named pipeline `--mixq-reference-to-llvm` runs this pass and lowers
    on to the LLVM dialect for mlir-runner; its option
    `dequant-vector-width=W` is passed on (0 by default: the reference
    contraction everywhere). Without scale factors the products are the
    same and only the order of the sum differs, which the contraction's
    `reassoc` flag already allows.
  }];
  let options = [
    Option<"dequantVectorWidth", "dequant-vector-width", "int64_t",
           /*default=*/"0",
           "Lower word-level mixq.matmul to a vector dot product of this "
           "many columns a step (0: the reference linalg contraction)">,
    Option<"vectorSumLanes", "vector-sum-lanes", "int64_t",
           /*default=*/"0",
           "Sum a factored dot product's runs in vectors of this many f32 "
           "lanes (the CPU backend sets 8, one AVX2 register; 0, or a count "
           "that does not divide the tile width: the tile width)">,
    Option<"registerTableEntries", "register-table-entries", "int64_t",
           /*default=*/"0",
           "Look codes up in tables of up to 4x this many entries by "
           "permuting registers of this many f32 entries (the CPU backend "
           "sets 8, one AVX2 register); 0: vector.gather">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def MixQQuantize : Pass<"mixq-quantize", "ModuleOp"> {
  let summary = "Quantize llm.linear weights: llm.linear -> mixq.matmul";
  let description = [{
    Rewrites every `llm.linear` whose weight is an `llm.weight` symbol or a
    constant into `mixq.matmul` on a `!mixq.qtensor<N x K, #scheme>`:

    * `llm.weight @name : tensor<NxKxT>` becomes
      `mixq.weight @name : !mixq.qtensor<NxK, #scheme>`; the packed
      components are produced by the scheme's host quantizer when the model
      is compiled (the WeightStore is not part of the IR);
    * an `arith.constant` weight becomes `mixq.quantize` of that constant,
      which canonicalization folds into packed component constants (small
      lit tests).

    The scheme comes from `scheme`, a SPEC in the grammar shared with
    `mixq-compile --scheme=` (`affine:bits=4,group=128`, `fp16`, ...; every
    scheme's keys and defaults are listed in docs/schemes.md), or
    from the first entry of `overrides` whose regex matches the weight's
    symbol name (`down_proj=affine:bits=8;blk0\..*=affine:bits=8`). `fp16`,
    `fp32` and `none` leave a weight unquantized. `llm.logits` and
    `llm.embed` tables are never quantized.

    A SPEC names a registered scheme (dialect/MixQ/SchemeRegistry.h): each
    scheme attribute says how its keys map to its parameters
    (`QuantSchemeAttrInterface::getSpecSyntax`), so omitted keys take the
    attribute's defaults and its `verify` checks the values. The pass
    depends on the dialects of all registered schemes.

    A scheme with activation bits (`quik:cols=N,bits=4|8,act-bits=4|8`
    builds `#mixq.outlier_cols<cols = N, bits = B, act_bits = A>`) gets a
    `mixq.quantize_act` of that many bits before each `mixq.matmul` of its
    weights, modelling QUIK's per-token activation quantization of the
    non-outlier columns; without `act-bits` it is weight-only.

    A malformed SPEC is an error that points at the bad key; a scheme that
    cannot describe a weight's shape (e.g. a group that does not divide K)
    falls back to a close one that can, with a warning naming the weight
    (`QuantSchemeAttrInterface::getShapeFallback`), or is an error on the
    `llm.linear` where there is none.
  }];
  let options = [
    Option<"scheme", "scheme", "std::string", /*default=*/"\"affine:bits=4,group=128\"",
           "Default scheme SPEC for every weight">,
    Option<"overrides", "overrides", "std::string", /*default=*/"\"\"",
           "Per-weight overrides: REGEX=SPEC entries separated by ';', "
           "first match wins">,
  ];
  let dependentDialects = [
    "::mlir::mixq::MixQDialect",
  ];
}

def MixQLowerLLMToLinalg : Pass<"mixq-lower-llm-to-linalg", "ModuleOp"> {
  let summary = "Lower llm ops to linalg, tensor, arith and math on tensors";
  let description = [{
    The executable definition of the `llm` dialect: every op except
    `llm.weight` (embed, rms_norm, linear, rope, attention, swiglu, add,
    logits) becomes upstream `linalg`/`tensor`/`arith`/`math` IR on tensors
    that computes exactly what the op's description says (f32 arithmetic,
    round-to-nearest-even into the element type with `arith.truncf`).
    Row (sequence) dimensions may be dynamic; operands that disagree on
    whether S is static are `tensor.cast` to the most static type first.

    * `llm.embed` is a `linalg.generic` over `[S, D]` that gathers with
      `tensor.extract` at the token id (ids are not range-checked).
    * `llm.rms_norm` is a sum of squares per row (reduction), then
      `r = 1 / sqrt(sum / D + eps)` per row, then `x * r * w`.
    * `llm.linear` and `llm.logits` are an f32 contraction
      `y[m, n] = sum_k x[m, k] * W[n, k]`; `llm.linear` then rounds into T,
      `llm.logits` stays f32. With `last_token_only` the row `S - 1` is taken
      with `tensor.extract_slice` before the contraction.
    * `llm.rope`: the `head_dim / 2` frequencies depend only on attributes
      and are computed when the pass runs (`theta^(-(2i)/Dh)` in double,
      rounded once to f32; the `#llm.llama3_rope_scaling` rescaling in f32)
      into a constant tensor; a `[S, Dh/2]` cos/sin table of the angles
      `float(pos) * freq` (`math.cos`/`math.sin`) is shared by all heads,
      and each element is rotated with its pair partner.
    * `llm.attention` writes the step's keys and values into the caches with
      `tensor.insert_slice` at rows `[start_pos, start_pos + S)`
      (bufferization updates the caches in place) and attends over the
      dynamic prefix `[0, start_pos + S)` of the new caches only, viewed as
      `[T, Hkv, Dh]`, with q viewed as `[S, Hkv, H / Hkv, Dh]` (query head
      `h` uses kv head `h / (H / Hkv)`). Scores `[S, Hkv, H/Hkv, T]` (f32,
      memory O(S * H * T)), a max per query head over the keys with
      `j <= start_pos + s` (causal mask, `-inf` elsewhere), `exp` (0 where
      masked), their sum, the probabilities and the weighted sum of values
      are each one `linalg.generic`.
    * `llm.swiglu` and `llm.add` are elementwise `linalg.generic`s.
    * Reductions (dot products, sums of squares, softmax sums) carry the
      `reassoc` and `contract` fast-math flags so that the CPU backend may
      vectorize them; nothing else is relaxed.
    * `llm.weight` is left alone: the CPU backend binds weights as kernel
      arguments.

    Errors: an `llm.attention` whose `start_pos` is a constant that is
    negative or, with the static S, runs past the end of the KV cache (a
    context overflow known at compile time); an `llm.logits` with
    `last_token_only` on a static 0-row input (also rejected by its
    verifier; checked again for IR built without verification).

    With `--mixq-lower-to-linalg` (for `mixq.matmul`), this is the CPU code
    generator's front half and the reference path for mlir-runner tests.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def MixQFormDispatches : Pass<"mixq-form-dispatches", "ModuleOp"> {
  let summary = "Group llm/mixq ops into kernels called from a host plan";
  let description = [{
    Outlines the compute of every entry function (`@prefill`, `@decode`)
    into kernel functions (`func.func private @k<N>_<op>` marked
    `mixq.kernel`), one per dispatch, and replaces each group with a
    `func.call`. What remains in an entry function is its host plan: weight
    references (`llm.weight` / `mixq.weight`), kernel calls in launch order,
    and the function's arguments (tokens, `start_pos`, KV caches) and
    results.

    Grouping and fusion:
    * every `llm`/`mixq` compute op anchors a dispatch;
    * an `llm.add` whose operand is the single-use result of a
      `llm.linear`/`mixq.matmul` joins that matmul's dispatch as a residual
      epilogue, so the matmul result is never written to memory alone;
    * with `fuse-decode` (the default), a single-row (decode) `llm.rms_norm`
      whose only readers are matmuls (`llm.linear`, `mixq.matmul`,
      `llm.logits`) becomes their prologue, and those sibling matmuls share
      one dispatch: q, k and v, or gate and up, or the final norm and the
      lm_head. An `llm.rope` of one of their results and an `llm.swiglu`
      of two of them (gate and up with weights of one type) join as
      epilogues. A Llama layer's decode step is then 5 kernels: norm +
      q/k/v + rope, attention, o + residual, norm + gate/up + SwiGLU,
      down + residual. Fusion changes no arithmetic: each fused op computes
      what its own kernel did, up to the order of fp32 sums;
    * with `fuse-decode`, a `mixq.quantize_act` (QUIK's activation
      quantization, `act-bits`) between a fused x and a matmul joins the
      dispatch as part of its prologue: the norm's matmuls may each read x
      through their own weight's quantize_act, and a single-row
      quantize_act whose x no norm fuses (o_proj's, down_proj's) opens a
      dispatch with its matmul and residual add. The kernel quantizes x on
      chip, so the layer stays 5 dispatches. Only while its quantized
      copies of x (one a matmul, two for gate and up) fit
      `max-quantized-row-bytes`; otherwise each quantize_act stays a
      kernel of its own;
    * a group is fused only where every outside user of its results comes
      after its last op (the call stands there);
    * cheap index/position computations (`tensor.generate`, `tensor.dim`,
      `arith` on scalars) feeding a dispatch are recomputed inside it
      instead of becoming buffers;
    * weights, function arguments and the results of other dispatches
      become kernel arguments.

    Kernels whose bodies are identical (the same op on the same shapes and
    schemes in different layers) are deduplicated, so a 32-layer model
    needs about as many kernels as one layer.
  }];
  let options = [
    Option<"fuseDecode", "fuse-decode", "bool", /*default=*/"true",
           "Fuse single-row (decode) rms_norm prologues, sibling matmuls "
           "and their rope/SwiGLU epilogues into one dispatch">,
    Option<"maxQuantizedRowBytes", "max-quantized-row-bytes", "int64_t",
           /*default=*/"24576",
           "The most bytes of x that a fused dispatch's quantize_act "
           "prologues may keep on chip, over all its quantized copies "
           "(one, or two for gate and up): the CUDA fused GEMV stages them "
           "in shared memory">,
  ];
  let dependentDialects = [
    "::mlir::func::FuncDialect",
  ];
}

def MixQKernelABI : Pass<"mixq-kernel-abi", "ModuleOp"> {
  let summary = "Give kernel functions a destination-passing memref signature";
  let description = [{
    Rewrites every `mixq.kernel` function (after its ops have been lowered
    to linalg on tensors) into the calling convention the runtime uses:

    * each tensor argument becomes a memref of the same shape (identity
      layout) marked `llvm.noalias`, read through
      `bufferization.to_tensor restrict`; arguments that a result updates
      in place (`mixq.tied`, the KV caches) are also `writable`;
    * each result that is not tied becomes a trailing memref argument (an
      *out* buffer the caller allocates), written with
      `bufferization.materialize_in_destination`; tied results are
      materialized into their argument;
    * the function returns nothing; `index` arguments stay scalars.

    So the ABI of a kernel is: its arguments in order, then its untied
    results, every tensor as an MLIR memref descriptor. One-shot
    bufferization and empty-tensor elimination then compute directly in the
    caller's buffers. `mixq.tied` indices must refer to the current
    signature (backends remap them after the qtensor 1:N conversion).
  }];
  let dependentDialects = [
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::memref::MemRefDialect",
  ];
}

def MixQAllocateBits : Pass<"mixq-allocate-bits", "ModuleOp"> {
  let summary = "Choose each weight's scheme under a bits-per-weight budget";
  let description = [{
    Picks, for every `llm.linear` weight, one scheme among `candidates` so
    that the parameter-weighted average of the schemes' exact bits per weight
    (`QuantSchemeAttrInterface::getBitsPerWeight`: codes, scales, zeros,
    maps, LUTs, outliers, padding, everything) stays within `budget`, and the
    total error proxy is minimal. The error proxy of a weight W under scheme
    s is the squared Frobenius error `||W - dequant(quant_s(W))||^2`,
    computed with the scheme's own host quantizer (so `mixed` candidates
    contribute their per-group 2/4-bit choice at each `hi-frac`).

    The choice is a multiple-choice knapsack, solved greedily on each
    weight's lower convex hull of (bits, error): every weight starts at its
    cheapest candidate and the upgrade with the largest error reduction per
    added bit is taken while the budget allows (exact on the hull, within
    one upgrade of the optimum otherwise).

    The result is an annotation: each `llm.linear` gets `mixq.scheme =
    #scheme`, which `--mixq-quantize` then applies ahead of its `scheme` and
    `overrides` options. A candidate whose shape constraints a weight does
    not meet is skipped for that weight.

    In `mixq-opt` the pass sees constant weights only (`arith.constant`); a
    weight that is an `llm.weight` symbol is an error there, since its
    values live in the WeightStore. `mixq-compile --budget=B` runs the same
    allocation over the checkpoint's WeightStore.

    Errors: a malformed candidate SPEC (with a caret), a budget below the
    cheapest assignment (the message gives the minimum), a weight that no
    candidate can describe.
  }];
  let options = [
    Option<"budget", "budget", "double", /*default=*/"3.0",
           "Average bits per weight over all quantized weights">,
    Option<"candidates", "candidates", "std::string",
           /*default=*/"\"affine:bits=2,group=64;affine:bits=3,group=64;"
           "affine:bits=4,group=64;affine:bits=8,group=64\"",
           "Candidate scheme SPECs separated by ';'">,
  ];
  let dependentDialects = [
    "::mlir::mixq::MixQDialect",
  ];
}

def MixQDecodeWidths : Pass<"mixq-decode-widths", "ModuleOp"> {
  let summary = "One decode entry per width of nested-width weights "
                "(progressive mixed-precision decoding)";
  let description = [{
    Weights whose scheme has nested widths
    (`QuantSchemeAttrInterface::getNestedWidths`, e.g. `#mixq.bitplane`)
    store one copy of their codes that can be decoded at every width from
    the scheme's floor (`seed`) to its ceiling (`parent`). This pass gives
    the module one decode entry function per requested width, all reading
    the same weights, so that the runtime can switch width between decode
    steps (PMPD, Chen et al. 2024) without a second copy of the weights.

    Widths are levels below the widest weight. With C the largest decode
    width of any nested weight of `@decode`, the entry for width W decodes
    every nested weight at `max(floor, current - (C - W))`: all weights step
    down together, and each stops at its own floor. Layers that
    `--mixq-allocate-bits` gave a higher width keep their lead. Weights
    without nested widths are the same in every entry.

    * The first width of `widths` is `@decode` itself (the default plan);
      every other width W becomes a copy named `@decode_w<W>`.
    * `prefill-width` (0: leave `@prefill` as it is) rewrites `@prefill`'s
      nested weights the same way.
    * The module gets `mixq.decode_widths`, an array of
      `{width = W : i64, entry = "decode_w<W>"}` dictionaries in the order
      given, and `mixq.prefill_width` (the prefill level), which the
      package's manifest records.

    Run it after `--mixq-quantize` and before `--mixq-form-dispatches`.

    Errors: an empty, repeated or out-of-range width (the message gives the
    range the weights allow), a module whose `@decode` has no nested-width
    weight (the message names the scheme kinds that have them), a missing
    `@decode`, and a module that already has decode widths.
  }];
  let options = [
    ListOption<"widths", "widths", "unsigned",
               "Decode widths, the default first (e.g. 4,3,2)">,
    Option<"prefillWidth", "prefill-width", "unsigned", /*default=*/"0",
           "Width of @prefill's nested weights (0: unchanged)">,
  ];
  let dependentDialects = [
    "::mlir::mixq::MixQDialect",
  ];
}

def MixQPrefetchLoads : Pass<"mixq-prefetch-loads"> {
  let summary = "Software-pipeline a loop's global loads into registers";
  let description = [{
    A register prefetch: every `scf.for` that carries the unit attribute
    `mixq.prefetch` (set by the kernel generator on the K loops whose
    weights are read straight into registers, not staged through shared
    memory) is software-pipelined with upstream's `scf::pipelineForLoop`
    so that iteration `i` issues the global loads of iteration
    `i + stages - 1` before it computes, and those values reach their
    iteration through loop-carried values (registers). A warp then has
    `stages - 1` steps of loads in flight while it computes instead of
    waiting out the memory latency every step. Loops without the attribute
    are left alone; the attribute is removed from every loop the pass
    visits.

    Schedule: the *loads* (`vector.load` and `memref.load` ops of the loop
    body itself, not in nested regions, from memory outside the GPU's
    shared address space) and, transitively, the body ops their operands
    are computed from run in stage 0, issued first; everything else runs in
    stage `stages - 1`, in its original order.

    The epilogue is predicated, not peeled, so dynamic bounds and trip
    counts below `stages - 1` work: a load of an iteration past the end
    reads element 0 of its memref instead (each index computed in the loop
    becomes `arith.select %live, %index, 0`); its value is never used.
    Other stage-0 ops are free of side effects and run unpredicated.

    A marked loop is left unchanged, with a remark saying why, when: its
    body has no such load; it already contains `nvgpu` async copies (the
    weights are staged; `--mixq-pipeline-async-copies` pipelined it); an
    op in it may write memory other than shared memory (a later
    iteration's load could read it); what the loads are computed from has
    side effects or reads a loop-carried value; or it yields a value not
    computed in its body.

    Unrolled by `unroll` (best: `stages`), the prefetched values rotate
    through the copies of the body, where a loop-carried value otherwise
    costs a register move per iteration (ptxas does not rename across the
    back edge). Upstream's `loopUnrollByFactor` adds a remainder loop for
    dynamic trip counts. The enclosing function records the depth of a loop
    it pipelined in `mixq.prefetch_stages` and the unroll factor in
    `mixq.loop_unroll` (the CUDA backend reports the one in the manifest's
    GEMV records and scales the manifest's weights per warp iteration by
    the other).

    With `stages=1` nothing is rewritten; the markers are still removed.

    Errors: `stages` or `unroll` below 1.
  }];
  let options = [
    Option<"stages", "stages", "int64_t", /*default=*/"2",
           "Pipeline stages: loads are issued stages - 1 iterations ahead "
           "(1: not at all)">,
    Option<"unroll", "unroll", "int64_t", /*default=*/"1",
           "Unroll the pipelined loop by this factor (1: not at all)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::scf::SCFDialect",
  ];
}

def MixQPipelineAsyncCopies : Pass<"mixq-pipeline-async-copies"> {
  let summary = "Software-pipeline global->shared copies into cp.async groups";
  let description = [{
    Overlaps the global-memory latency of a tiled loop with its compute:
    while the loop computes on tile `k`, the copies of tiles `k+1 ..
    k+stages-1` are already in flight as `cp.async` transfers into rotating
    shared-memory buffers. The pass assembles upstream utilities the way
    `transform.nvgpu.pipeline_shared_memory_copies` does:
    `memref::multiBuffer`, `nvgpu::createAsyncGroups`,
    `scf::pipelineForLoop` and, with `swizzle`,
    `nvgpu::optimizeSharedMemoryReadsAndWrites`.

    The pass is not tied to an op: it rewrites every `gpu.func` and
    `func.func` at or below the op it runs on (a module, a `gpu.module`, or a
    single function), innermost loops first.

    Input. A *copy* is a `vector.transfer_write` or `vector.store` of a 1-D
    vector that a `vector.transfer_read` or `vector.load` read from
    non-shared (global) memory, into shared memory
    (`#gpu.address_space<workgroup>`). An `scf.for` is rewritten when its
    body contains copies and all of the following hold; otherwise it gets a
    remark and is left unchanged (a loop without copies is left alone
    silently):

    - every copy in the loop (nested regions included) is an op of the loop
      body itself and writes directly into the result of a
      `memref.alloc` with a static shape and the identity layout, defined
      before the loop (typically at the top of the function);
    - every user of such an alloc, except `memref.dealloc`s after the loop,
      is inside the loop, and the first of them in the body is a copy: each
      iteration overwrites the buffer before reading it, so no data flows
      between iterations through it (the pass cannot prove that the
      threads' copies cover the whole tile; that is the producer's
      contract);
    - the loop contains no `nvgpu` async copy ops yet.

    Only contiguous copies of 4, 8 or 16 bytes become
    `nvgpu.device_async_copy` (`createAsyncGroups`); other copies stay
    synchronous, in program order, with a remark. When what the copies'
    operands are computed from has side effects or depends on a
    loop-carried value (or the loop yields a value not computed in its
    body), the loop keeps async copies that wait for all groups, without
    multi-buffering, and gets a remark.

    Output, for `stages` = N > 1:

    1. each alloc is multi-buffered N times (`memref<N x ...>`); iteration
       `i` uses slice `((iv - lb) / step) mod N` through a `memref.subview`;
    2. the copies become `nvgpu.device_async_copy` (with `bypassL1`, i.e.
       `cp.async.cg`, for 16-byte copies when `bypass-l1` is set), grouped by
       `nvgpu.device_async_create_group`, each group followed by an
       `nvgpu.device_async_wait`;
    3. the loop is software-pipelined over N stages: the copies, their
       groups and everything their operands are computed from run in stage
       0, the rest (barriers included) in stage N-1. The prologue issues the groups of iterations 0 .. N-2; each
       steady-state iteration waits for its oldest group with
       `numGroups = G*(N-1) - 1 - k` for its k-th of G groups per iteration
       (`N-2` for the usual single group), computes, then issues the copies
       of iteration `i+N-1`. The epilogue is predicated, not peeled, so
       dynamic trip counts (including ones below N-1) work: copies of
       iterations past the end become zero-filling `cp.async` with
       `src_elements = 0` (their results are never read), and a
       `nvgpu.device_async_wait {numGroups = 0}` after the loop drains
       them;
    4. barriers keep their place among the stage N-1 ops. The wait is
       inserted right after its group, so a `gpu.barrier` between the
       copies and the shared-memory reads in the input ends up between the
       wait and the reads, where it makes the other threads' copies
       visible. The pass never adds a barrier: the kernel issues the copies
       after the stage N-1 ops, so with N >= 2 buffers that same barrier
       also orders the previous iteration's reads of a buffer before the
       copies that reuse it. The input needs the one barrier it needs
       without pipelining; a barrier in front of the copies is kept (and
       redundant).

    With `stages=1` nothing is multi-buffered or pipelined: the copies
    become async copies with `numGroups = 0` waits.

    With `hoist-prologue`, each pipelined loop of a `gpu.func` kernel then
    has its prologue's copies and groups moved to the kernel's first op
    with memory effects or regions (after its index math; in program order
    when several loops qualify), under an `scf.if` of the conditions of
    the `scf.if`s that enclose the loop, their operands cloned there; the
    loop gets `ub.poison` for their tokens (the waits count groups, not
    tokens). The first tiles' global latency then overlaps whatever the
    kernel does before the loop (staging x, its group parameters), and
    with programmatic dependent launch the previous kernel's tail. A group
    committed earlier only makes the waits that count it conservative. A
    loop's prologue stays, with a remark, when another loop encloses it,
    when an address or a condition is computed from memory, when a copy
    reads memory the kernel may write, or when an op that may run between
    the kernel's first memory access and the loop touches a copy's shared
    buffer: ops in the other branch of an `scf.if`, or under a condition
    that excludes the loop's (disjoint unsigned ranges of one value, as a
    fused kernel's block ranges and a kernel's warp halves are), do not.

    Each rewritten alloc is aligned to at least 16 bytes (`alignment`), as
    a 16-byte `cp.async` needs. With `workgroup-attributions` (default) the
    rewritten allocs of a `gpu.func` become workgroup attributions of that
    function with the same `llvm.align` (their `memref.dealloc`s are
    dropped), because upstream has no lowering for a shared `memref.alloc`.
    Allocs that carry the same `mixq.exclusive_slot` attribute and have one
    type share one attribution: the producer promises they never touch the
    same bytes at the same time (the block ranges of a fused kernel run in
    different blocks; within a block, each warp uses only its own rows of
    whichever tile its branch takes), so their shared memory is counted
    once.
    Behind the multi-buffer subview a buffer's offset is dynamic, so vector
    reads of it should carry `{alignment = ...}` to stay vector loads in
    PTX. With `swizzle`, each alloc of
    rank >= 2 whose accesses qualify is XOR-swizzled against bank conflicts
    before multi-buffering (a remark says when it does not qualify).

    Errors: `stages` below 1.
  }];
  let options = [
    Option<"stages", "stages", "int64_t", /*default=*/"3",
           "Pipeline stages = shared buffers per copied tile (>= 1)">,
    Option<"bypassL1", "bypass-l1", "bool", /*default=*/"true",
           "Bypass L1 (cp.async.cg) for 16-byte copies">,
    Option<"hoistPrologue", "hoist-prologue", "bool", /*default=*/"false",
           "Move each pipelined loop's prologue copies up to the kernel's "
           "first memory access">,
    Option<"swizzle", "swizzle", "bool", /*default=*/"false",
           "Swizzle shared allocs of rank >= 2 against bank conflicts">,
    Option<"workgroupAttributions", "workgroup-attributions", "bool",
           /*default=*/"true",
           "Turn the rewritten allocs of a gpu.func into workgroup "
           "attributions">,
  ];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::ub::UBDialect",
    "::mlir::vector::VectorDialect",
  ];
}

#endif // MIXQ_PASSES_PASSES_TD
