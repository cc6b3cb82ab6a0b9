// RUN: mixq-opt %s -split-input-file -mixq-build-gpu-kernels="max-tokens=16 chips=sm_80,sm_90 tensor-core-gemv=false" | FileCheck %s
// The decode GEMVs here are the f32-FMA ones (tensor-core-gemv=false);
// cuda-mma-gemv.mlir tests the tensor-core form.

// One gpu.module with a target per chip; the host plan is dropped. Embedding:
// the row copied bit-exactly in 16-byte pieces (8 f16), tokens along grid x,
// the row's pieces split over grid y, 128 a block (one piece for 8 columns).

// CHECK:       module attributes {gpu.container_module}
// CHECK-NEXT:  gpu.module @mixq_kernels [#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">, #nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">]
// CHECK-LABEL: gpu.func @k_embed(
// CHECK-SAME:    %[[TABLE:.*]]: memref<10x8xf16>, %[[TOKENS:.*]]: memref<16xi32>, %[[OUT:.*]]: memref<16x8xf16>, %{{.*}}: i64) kernel
// CHECK-SAME:    known_block_size = array<i32: 128, 1, 1>
// CHECK-SAME:    mixq.grid = [array<i64: 1, 1>, array<i64: 1, 0>, array<i64: 1, 0>]
// CHECK:         %[[ROW:.*]] = gpu.block_id x
// CHECK:         %[[ID:.*]] = memref.load %[[TOKENS]][%[[ROW]]]
// CHECK:         %[[T:.*]] = arith.index_cast %[[ID]] : i32 to index
// CHECK:         %[[PIECE:.*]] = gpu.block_id y
// CHECK:         %[[BASE:.*]] = arith.muli %[[PIECE]], %c1
// CHECK:         %[[END:.*]] = arith.minui %{{.*}}, %c1
// CHECK:         %[[TID:.*]] = gpu.thread_id x
// CHECK:         %[[FIRST:.*]] = arith.addi %[[BASE]], %[[TID]]
// CHECK:         scf.for %[[P:.*]] = %[[FIRST]] to %[[END]] step %c128
// CHECK:           %[[D:.*]] = arith.muli %[[P]], %c8
// CHECK:           %[[V:.*]] = vector.load %[[TABLE]][%[[T]], %[[D]]] {alignment = 16 : i64} : memref<10x8xf16>, vector<8xf16>
// CHECK:           vector.store %[[V]], %[[OUT]][%[[ROW]], %[[D]]] {alignment = 16 : i64} : memref<16x8xf16>, vector<8xf16>
// CHECK-NOT:   func.func
func.func @prefill(%table: tensor<10x8xf16>, %tokens: tensor<?xi32>) -> tensor<?x8xf16> {
  %0 = call @k_embed(%table, %tokens) : (tensor<10x8xf16>, tensor<?xi32>) -> tensor<?x8xf16>
  return %0 : tensor<?x8xf16>
}
func.func private @k_embed(%arg0: tensor<10x8xf16>, %arg1: tensor<?xi32>) -> tensor<?x8xf16> attributes {mixq.kernel} {
  %0 = llm.embed %arg0, %arg1 : tensor<10x8xf16>, tensor<?xi32> -> tensor<?x8xf16>
  return %0 : tensor<?x8xf16>
}

// -----

// RMSNorm: one block of 1024 threads per token, a block reduction of the
// squares (warp shuffles, then the warps' partial sums through shared
// memory), r = 1 / sqrt(sum / D + eps).

// CHECK-LABEL: gpu.func @k_norm(
// CHECK-SAME:    workgroup(%[[SCRATCH:.*]] : memref<32xf32, #gpu.address_space<workgroup>>)
// CHECK-SAME:    known_block_size = array<i32: 1024, 1, 1>
// CHECK-SAME:    mixq.grid = [array<i64: 1, 1>, array<i64: 1, 0>, array<i64: 1, 0>]
// CHECK:         scf.for {{.*}} step %c1024 iter_args
// CHECK:           arith.mulf
// CHECK:         gpu.shuffle  xor %{{.*}}, %c16_i32, %c32_i32 : f32
// CHECK:         gpu.shuffle  xor %{{.*}}, %c1_i32{{.*}}, %c32_i32{{.*}} : f32
// CHECK:         memref.store %{{.*}}, %[[SCRATCH]]
// CHECK:         gpu.barrier
// CHECK:         %[[MEAN:.*]] = arith.divf %{{.*}}, %cst{{.*}} : f32
// CHECK:         %[[SHIFTED:.*]] = arith.addf %[[MEAN]], %cst{{.*}} : f32
// CHECK:         %[[ROOT:.*]] = math.sqrt %[[SHIFTED]] : f32
// CHECK:         arith.divf %{{.*}}, %[[ROOT]] : f32
// CHECK:         arith.truncf %{{.*}} : f32 to bf16
func.func private @k_norm(%x: tensor<1x64xbf16>, %w: tensor<64xbf16>) -> tensor<1x64xbf16> attributes {mixq.kernel} {
  %0 = llm.rms_norm %x, %w {eps = 1.0e-5 : f32} : tensor<1x64xbf16>, tensor<64xbf16> -> tensor<1x64xbf16>
  return %0 : tensor<1x64xbf16>
}

// -----

// Rope with positions rematerialized from start_pos: the tensor.generate body
// is cloned with its index bound to the row; the frequencies are a constant
// global of the gpu.module (theta^(-2i/Dh) for Dh = 4: 1, 0.01).

// CHECK:       memref.global "private" constant @k_rope_freqs : memref<2xf32> = dense<[1.000000e+00, 0.00999999977]> {alignment = 16 : i64}
// CHECK-LABEL: gpu.func @k_rope(
// CHECK-SAME:    %{{.*}}: memref<16x8xf32>, %{{.*}}: memref<16xi32>, %[[START:[^:]*]]: i64, %{{.*}}: memref<16x8xf32>, %{{.*}}: i64)
// CHECK:         %[[START_INDEX:.*]] = arith.index_cast %[[START]] : i64 to index
// CHECK:         memref.get_global @k_rope_freqs
// CHECK:         %[[ROW:.*]] = gpu.block_id x
// CHECK:         arith.addi %[[ROW]], %[[START_INDEX]] : index
// Interleaved pairs: a 16-byte piece (4 f32) is two pairs, their two
// frequencies one 8-byte load; each element takes its partner from the piece.
// CHECK:         scf.for
// CHECK:           vector.load %{{.*}} : memref<16x8xf32>, vector<4xf32>
// CHECK:           vector.load %{{.*}} : memref<2xf32>, vector<2xf32>
// CHECK:           math.cos
// CHECK:           math.sin
// CHECK:           vector.store %{{.*}} : memref<16x8xf32>, vector<4xf32>
func.func private @k_rope(%x: tensor<?x8xf32>, %tokens: tensor<?xi32>, %start: index) -> tensor<?x8xf32> attributes {mixq.kernel} {
  %c0 = arith.constant 0 : index
  %dim = tensor.dim %tokens, %c0 : tensor<?xi32>
  %pos = tensor.generate %dim {
  ^bb0(%i: index):
    %1 = arith.addi %i, %start : index
    %2 = arith.index_cast %1 : index to i32
    tensor.yield %2 : i32
  } : tensor<?xi32>
  %0 = llm.rope %x, %pos {head_dim = 4 : i64, layout = #llm.rope_layout<interleaved>, num_heads = 2 : i64, theta = 1.0e4 : f32} : tensor<?x8xf32>, tensor<?xi32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Rotate-half pairs (i, i + Dh/2) with positions from an argument.

// CHECK-LABEL: gpu.func @k_rope_half(
// CHECK:         memref.load %{{.*}}[%{{.*}}] : memref<16xi32>
// CHECK:         scf.for
// CHECK:           arith.cmpi ult
// CHECK-NOT:       arith.xori
// CHECK:           math.cos
func.func private @k_rope_half(%x: tensor<?x8xf32>, %pos: tensor<?xi32>) -> tensor<?x8xf32> attributes {mixq.kernel} {
  %0 = llm.rope %x, %pos {head_dim = 4 : i64, layout = #llm.rope_layout<rotate_half>, num_heads = 2 : i64, theta = 1.0e4 : f32} : tensor<?x8xf32>, tensor<?xi32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Attention: one block per (query head, token) (grid [H, S]); the caches are
// updated in place (tied results are the cache arguments, so only `out` is
// an extra argument); scores in shared memory (cache rows), max and sum as
// block reductions, exp. K and V rows are read 16 bytes at a time: a 4-wide
// f32 head is one piece, so each lane scores its own key (32 a warp), and
// the value sums of 16 thread groups (at most 16: 64 floats) meet in shared
// memory.

// CHECK-LABEL: gpu.func @k_attn(
// CHECK-SAME:    %[[Q:.*]]: memref<16x8xf32>, %[[K:.*]]: memref<16x4xf32>, %[[V:.*]]: memref<16x4xf32>, %[[KC:.*]]: memref<32x4xf32>, %[[VC:.*]]: memref<32x4xf32>, %{{.*}}: i64, %[[OUT:.*]]: memref<16x8xf32>, %{{.*}}: i64)
// CHECK-SAME:    workgroup(%[[SCORES:.*]] : memref<32xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<32xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<4xf32, #gpu.address_space<workgroup>>, %[[PARTIALS:.*]] : memref<64xf32, #gpu.address_space<workgroup>>)
// CHECK-SAME:    mixq.grid = [array<i64: 2, 0>, array<i64: 1, 1>, array<i64: 1, 0>]
// CHECK-DAG:     gpu.block_id x
// CHECK-DAG:     gpu.block_id y
// CHECK:         scf.if
// CHECK:           memref.store %{{.*}}, %[[KC]]
// CHECK:           memref.store %{{.*}}, %[[VC]]
// CHECK:         gpu.barrier
// CHECK:         scf.for
// CHECK:           vector.load %[[KC]][%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<32x4xf32>, vector<4xf32>
// CHECK:           memref.store %{{.*}}, %[[SCORES]]
// CHECK:           arith.maximumf
// CHECK:         scf.for
// CHECK:           vector.load %[[K]][%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<16x4xf32>, vector<4xf32>
// CHECK:         math.exp
// CHECK:         scf.for
// CHECK:           vector.load %[[VC]][%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<32x4xf32>, vector<4xf32>
// CHECK:         scf.for
// CHECK:           vector.load %[[V]][%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<16x4xf32>, vector<4xf32>
// CHECK:         memref.store %{{.*}}, %[[PARTIALS]]
// CHECK:         gpu.barrier
// CHECK:         memref.load %[[PARTIALS]]
// CHECK:         memref.store %{{.*}}, %[[OUT]]
func.func private @k_attn(%q: tensor<?x8xf32>, %k: tensor<?x4xf32>, %v: tensor<?x4xf32>, %kc: tensor<32x4xf32>, %vc: tensor<32x4xf32>, %start: index) -> (tensor<?x8xf32>, tensor<32x4xf32>, tensor<32x4xf32>) attributes {mixq.kernel, mixq.tied = array<i64: 1, 3, 2, 4>} {
  %out, %nk, %nv = llm.attention %q, %k, %v, %kc, %vc, %start {head_dim = 4 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64} : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<32x4xf32>, tensor<32x4xf32> -> tensor<?x8xf32>, tensor<32x4xf32>, tensor<32x4xf32>
  return %out, %nk, %nv : tensor<?x8xf32>, tensor<32x4xf32>, tensor<32x4xf32>
}

// -----

// Decode attention over a cache of more than 256 rows is split along the
// keys (flash-decoding) in one launch, grid [H, ceil(600 / 256) = 3]: each
// block writes its split's unnormalized output, max and sum (Dh + 2 floats)
// to a workspace argument passed before S (2 heads x 3 splits x 6 floats,
// then one arrival counter per head: 38 floats); thread 0 publishes the
// record (device-scope fence), counts the block in atomically, and the
// head's last block combines the records, read from L2, and resets the
// counter. No second entry. A register bound keeps ptxas from aiming it at
// 32 registers and spilling.

// CHECK-LABEL: gpu.func @k_decode_attn(
// CHECK-SAME:    %{{.*}}: memref<1x8xf16>, %{{.*}}: memref<1x4xf16>, %{{.*}}: memref<1x4xf16>, %{{.*}}: memref<600x4xf16>, %{{.*}}: memref<600x4xf16>, %{{.*}}: i64, %{{.*}}: memref<1x8xf16>, %[[WS:.*]]: memref<38xf32>, %{{.*}}: i64)
// CHECK-SAME:    workgroup(%{{.*}} : memref<256xf32, #gpu.address_space<workgroup>>
// CHECK-SAME:    mixq.grid = [array<i64: 2, 0>, array<i64: 3, 0>, array<i64: 1, 0>]
// CHECK-SAME:    nvvm.maxnreg = 64 : i32
// CHECK:         math.exp
// CHECK:         memref.store %{{.*}}, %[[WS]]
// CHECK:         gpu.barrier
// CHECK:         nvvm.memory.barrier <gpu>
// CHECK:         memref.atomic_rmw addf %{{.*}}, %[[WS]][%{{.*}}]
// CHECK:         nvvm.memory.barrier <gpu>
// CHECK:         gpu.barrier
// CHECK:         scf.if
// CHECK:           memref.extract_aligned_pointer_as_index %[[WS]]
// CHECK:           llvm.inline_asm has_side_effects asm_dialect = att "ld.global.cg.f32 $0, [$1];", "=f,l"
// CHECK:           math.exp
// CHECK:           arith.divf
// CHECK:           arith.truncf %{{.*}} : f32 to f16
// CHECK:           memref.store %{{.*}}, %[[WS]]
// CHECK-NOT:   gpu.func @k_decode_attn_combine(
func.func private @k_decode_attn(%q: tensor<1x8xf16>, %k: tensor<1x4xf16>, %v: tensor<1x4xf16>, %kc: tensor<600x4xf16>, %vc: tensor<600x4xf16>, %start: index) -> (tensor<1x8xf16>, tensor<600x4xf16>, tensor<600x4xf16>) attributes {mixq.kernel, mixq.tied = array<i64: 1, 3, 2, 4>} {
  %out, %nk, %nv = llm.attention %q, %k, %v, %kc, %vc, %start {head_dim = 4 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64} : tensor<1x8xf16>, tensor<1x4xf16>, tensor<1x4xf16>, tensor<600x4xf16>, tensor<600x4xf16> -> tensor<1x8xf16>, tensor<600x4xf16>, tensor<600x4xf16>
  return %out, %nk, %nv : tensor<1x8xf16>, tensor<600x4xf16>, tensor<600x4xf16>
}

// -----

// SwiGLU and add are elementwise row kernels, 16 bytes of every operand at a
// time. A decode row of 11008 f16 columns, 1376 pieces of 8, is split over
// ceil(1376 / 128) = 11 blocks along y, each taking 126 or fewer pieces.

// CHECK-LABEL: gpu.func @k_swiglu(
// CHECK:         math.exp
// CHECK:         arith.divf
// CHECK-LABEL: gpu.func @k_swiglu_wide(
// CHECK-SAME:    known_block_size = array<i32: 128, 1, 1>
// CHECK-SAME:    mixq.grid = [array<i64: 1, 1>, array<i64: 11, 0>, array<i64: 1, 0>]
// CHECK:         %[[PIECE:.*]] = gpu.block_id y
// CHECK:         %[[BASE:.*]] = arith.muli %[[PIECE]], %c126
// CHECK:         arith.minui %{{.*}}, %c1376
// CHECK:         scf.for
// CHECK:           vector.load %{{.*}} : memref<1x11008xf16>, vector<8xf16>
// CHECK:           vector.load %{{.*}} : memref<1x11008xf16>, vector<8xf16>
// CHECK:           vector.store %{{.*}} : memref<1x11008xf16>, vector<8xf16>
// CHECK-LABEL: gpu.func @k_add(
// CHECK:         arith.extf %{{.*}} : f16 to f32
// CHECK:         arith.addf
// CHECK:         arith.truncf %{{.*}} : f32 to f16
func.func private @k_swiglu(%g: tensor<1x8xf32>, %u: tensor<1x8xf32>) -> tensor<1x8xf32> attributes {mixq.kernel} {
  %0 = llm.swiglu %g, %u : tensor<1x8xf32>, tensor<1x8xf32> -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}
func.func private @k_swiglu_wide(%g: tensor<1x11008xf16>, %u: tensor<1x11008xf16>) -> tensor<1x11008xf16> attributes {mixq.kernel} {
  %0 = llm.swiglu %g, %u : tensor<1x11008xf16>, tensor<1x11008xf16> -> tensor<1x11008xf16>
  return %0 : tensor<1x11008xf16>
}
func.func private @k_add(%a: tensor<1x8xf16>, %b: tensor<1x8xf16>) -> tensor<1x8xf16> attributes {mixq.kernel} {
  %0 = llm.add %a, %b : tensor<1x8xf16>, tensor<1x8xf16> -> tensor<1x8xf16>
  return %0 : tensor<1x8xf16>
}

// -----

// Decode matmul on a 4-bit affine qtensor with the residual add fused: the
// qtensor is its three components. N = 6 is small, so split-K: the block's
// four warps share one output row (grid [N, S]), each taking every fourth
// step of K, and their sums meet in shared memory after a barrier. The codes are column-tiled: each lane copies its 16-byte
// slice (32 weights) of every step global -> shared (a vector.load/store pair
// that --mixq-pipeline-async-copies turns into cp.async) and the scheme's
// dequantization reads the lane's four words back from shared memory in one
// aligned 16-byte load and unpacks them a word at a time
// (buildDequantVector: a shift and a mask per code). The row's scales
// and zeros are small: the warp copies them into shared memory once, before
// the loop (bar.warp.sync: the warp may be alone in its branch). The lane's
// 32 x elements of the step come in eight aligned 16-byte vector loads, not
// one element at a time. fma in f32, a shuffle reduction,
// and the product is rounded before the residual is added.

// CHECK-LABEL: gpu.func @k_mm(
// CHECK-SAME:    %[[X:.*]]: memref<1x64xf32>, %[[CODES:.*]]: memref<6x8xi32> {mixq.weight}, %[[SCALES:.*]]: memref<6x2xf16> {mixq.weight}, %[[ZEROS:.*]]: memref<6x2xf16> {mixq.weight}, %[[RES:.*]]: memref<1x6xf32>, %[[OUT:.*]]: memref<1x6xf32>, %{{.*}}: i64)
// CHECK-SAME:    workgroup(%[[RS_BYTES:.*]] : memref<16xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[RZ_BYTES:.*]] : memref<16xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[PARTIALS:.*]] : memref<4xf32, #gpu.address_space<workgroup>>)
// CHECK-SAME:    mixq.grid = [array<i64: 6, 0>, array<i64: 1, 1>, array<i64: 1, 0>]
// CHECK-DAG:     %[[RS:.*]] = memref.view %[[RS_BYTES]][%{{.*}}][] : memref<16xi8, #gpu.address_space<workgroup>> to memref<4x2xf16, #gpu.address_space<workgroup>>
// CHECK-DAG:     %[[RZ:.*]] = memref.view %[[RZ_BYTES]][%{{.*}}][] : memref<16xi8, #gpu.address_space<workgroup>> to memref<4x2xf16, #gpu.address_space<workgroup>>
// CHECK:         %[[TILE:.*]] = memref.alloc() : memref<4x128xi32, #gpu.address_space<workgroup>>
// CHECK:         scf.if
// CHECK:           memref.load %[[SCALES]]
// CHECK:           memref.store %{{.*}}, %[[RS]]
// CHECK:           memref.load %[[ZEROS]]
// CHECK:           memref.store %{{.*}}, %[[RZ]]
// CHECK:           nvvm.bar.warp.sync
// CHECK:           scf.for %{{.*}} = %{{.*}} to %c64 step %c4096 iter_args
// CHECK:             %[[SLICE:.*]] = vector.load %[[CODES]][%{{.*}}, %{{.*}}] : memref<6x8xi32>, vector<4xi32>
// CHECK:             vector.store %[[SLICE]], %[[TILE]][%{{.*}}, %{{.*}}] : memref<4x128xi32, #gpu.address_space<workgroup>>, vector<4xi32>
// CHECK:             memref.load %[[RS]]
// CHECK:             memref.load %[[RZ]]
// CHECK:             %[[WORDS:.*]] = vector.load %[[TILE]][%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<4x128xi32, #gpu.address_space<workgroup>>, vector<4xi32>
// CHECK:             vector.shuffle %[[WORDS]], %[[WORDS]]
// CHECK:             arith.shrui %{{.*}} : vector<32xi32>
// CHECK:             arith.uitofp %{{.*}} : vector<32xi32> to vector<32xf32>
// CHECK-COUNT-8:     vector.load %[[X]][%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<1x64xf32>, vector<4xf32>
// CHECK-COUNT-32:    math.fma
// CHECK:           gpu.shuffle  xor
// CHECK:           memref.store %{{.*}}, %[[PARTIALS]]
// CHECK:           gpu.barrier
// CHECK-COUNT-4:   memref.load %[[PARTIALS]]
// CHECK:           scf.if
// CHECK:             memref.load %[[RES]]
// CHECK:             memref.store %{{.*}}, %[[OUT]]
func.func private @k_mm(%x: tensor<1x64xf32>, %w: !mixq.qtensor<6x64, #mixq.affine<bits = 4, group = 32>>, %r: tensor<1x6xf32>) -> tensor<1x6xf32> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x64xf32>, !mixq.qtensor<6x64, #mixq.affine<bits = 4, group = 32>> -> tensor<1x6xf32>
  %1 = llm.add %r, %0 : tensor<1x6xf32>, tensor<1x6xf32> -> tensor<1x6xf32>
  return %1 : tensor<1x6xf32>
}

// -----

// A decode matmul of more than 2048 rows (no split-K) on f16, whose scheme
// unpacks whole words: two output rows per warp (grid ceil(N / 8)), each
// lane staging both rows' 16-byte code slices into rows warp * 2 + j of the
// tile, both copies before any dequantization (one cp.async group a step); the codes become f16x2 pairs by one masked OR with 0x6400'6400
// (25600 = 0x6400, 1024 as f16) and a multiply-add, then one multiply by the
// scale. Each x element is loaded once for both rows: 4 x loads, 64 fmas.
// Row 2 * warp + 1 may be past N (here N is even, but the load is clamped
// and the store guarded all the same).

// CHECK-LABEL: gpu.func @k_mm_rows(
// CHECK-SAME:    %[[X:.*]]: memref<1x64xf16>, %[[CODES:.*]]: memref<4100x8xi32> {mixq.weight},
// CHECK-SAME:    mixq.grid = [array<i64: 513, 0>, array<i64: 1, 1>, array<i64: 1, 0>]
// CHECK:         %[[TILE:.*]] = memref.alloc() : memref<8x128xi32, #gpu.address_space<workgroup>>
// CHECK:         scf.if
// CHECK:           scf.for {{.*}} iter_args(%{{.*}} = %cst, %{{.*}} = %cst) -> (f32, f32)
// CHECK-COUNT-2:     vector.store %{{.*}}, %[[TILE]]
// CHECK:             vector.load %[[TILE]]{{.*}} {alignment = 16 : i64} : memref<8x128xi32, #gpu.address_space<workgroup>>, vector<4xi32>
// CHECK:             arith.andi %{{.*}} : vector<16xi32>
// CHECK:             arith.ori %{{.*}} : vector<16xi32>
// CHECK:             vector.bitcast %{{.*}} : vector<16xi32> to vector<32xf16>
// CHECK:             arith.mulf %{{.*}} fastmath<contract> : vector<32xf16>
// CHECK:             arith.addf %{{.*}} fastmath<contract> : vector<32xf16>
// CHECK:             arith.mulf %{{.*}} : vector<32xf16>
// CHECK:             vector.shuffle
// CHECK-NOT:         vector.store %{{.*}}, %[[TILE]]
// CHECK-COUNT-4:     vector.load %[[X]][%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<1x64xf16>, vector<8xf16>
// CHECK-COUNT-64:    math.fma
// CHECK-NOT:       gpu.barrier
// CHECK:           arith.cmpi ult, %{{.*}}, %c4100
func.func private @k_mm_rows(%x: tensor<1x64xf16>, %w: !mixq.qtensor<4100x64, #mixq.affine<bits = 4, group = 32>>) -> tensor<1x4100xf16> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x64xf16>, !mixq.qtensor<4100x64, #mixq.affine<bits = 4, group = 32>> -> tensor<1x4100xf16>
  return %0 : tensor<1x4100xf16>
}

// -----

// Prefill: 8 token rows per block (grid.y = ceil(S / 8)), 8 accumulators per
// lane and 4 weights per step (a 16-byte slice of the plain f32 matrix,
// staged like packed codes).

// CHECK-LABEL: gpu.func @k_linear(
// CHECK-SAME:    %{{.*}}: memref<16x12xf32>, %[[W:.*]]: memref<5x12xf32>, %{{.*}}: memref<16x5xf32>, %{{.*}}: i64)
// CHECK-SAME:    mixq.grid = [array<i64: 2, 0>, array<i64: 1, 8>, array<i64: 1, 0>]
// CHECK:         memref.alloc() : memref<4x128xf32, #gpu.address_space<workgroup>>
// CHECK:         arith.minui
// CHECK:         scf.for {{.*}} step %c128 iter_args(%{{.*}} = %cst, %{{.*}} = %cst, %{{.*}} = %cst, %{{.*}} = %cst, %{{.*}} = %cst, %{{.*}} = %cst, %{{.*}} = %cst, %{{.*}} = %cst)
// CHECK:           vector.load %[[W]]{{.*}} : memref<5x12xf32>, vector<4xf32>
func.func private @k_linear(%x: tensor<?x12xf32>, %w: tensor<5x12xf32>) -> tensor<?x5xf32> attributes {mixq.kernel} {
  %0 = llm.linear %x, %w : tensor<?x12xf32>, tensor<5x12xf32> -> tensor<?x5xf32>
  return %0 : tensor<?x5xf32>
}

// -----

// Last-token logits: one grid row, row S - 1 of x, into a [1, V] output
// (a small V: split-K, one row per block).

// CHECK-LABEL: gpu.func @k_logits(
// CHECK-SAME:    %{{.*}}: memref<16x8xf32>, %{{.*}}: memref<11x8xf32>, %[[OUT:.*]]: memref<1x11xf32>, %[[S:.*]]: i64)
// CHECK-SAME:    mixq.grid = [array<i64: 11, 0>, array<i64: 1, 0>, array<i64: 1, 0>]
// CHECK:         %[[TOKENS:.*]] = arith.index_cast %[[S]] : i64 to index
// CHECK:         %[[LAST:.*]] = arith.subi %[[TOKENS]], %c1{{.*}} : index
// CHECK:         memref.store %{{.*}}, %[[OUT]][%c0{{.*}}, %{{.*}}]
func.func private @k_logits(%x: tensor<?x8xf32>, %w: tensor<11x8xf32>) -> tensor<1x11xf32> attributes {mixq.kernel} {
  %0 = llm.logits %x, %w {last_token_only} : tensor<?x8xf32>, tensor<11x8xf32> -> tensor<1x11xf32>
  return %0 : tensor<1x11xf32>
}

// -----

// Every scheme goes through the same generator: its components become the
// kernel's arguments in storage order and its buildDequantVector is
// inlined. Small per-row components the dequantization reads (the lut's
// codebook; here also the short rows of 3-bit codes, which cannot be staged
// in 4, 8 or 16 bytes per lane) are copied into shared memory once per
// warp: shared bytes (16-byte aligned) read through typed views. lut's
// pair table (QuantSchemeAttrInterface::getRowTables: the codebook's f16
// values for each of the 64 pairs of 3-bit codes) is built after them, an
// entry per lane in turn, once per row. lut's tile is word-level: 32 3-bit
// codes from one load of their 3 words, read as 16 6-bit pairs, then one
// lookup per pair in the table's bytes at row * 256 + pair * 4, one lop3
// each (gatherResidentBytes), the 16 words bitcast to 32 f16 weights.

// CHECK-LABEL: gpu.func @k_lut(
// CHECK-SAME:    %{{.*}}: memref<1x64xf16>, %{{.*}}: memref<4x6xi32> {mixq.weight}, %{{.*}}: memref<4x8xf16> {mixq.weight}, %{{.*}}: memref<1x4xf16>
// CHECK-SAME:    workgroup(%[[CODE_BYTES:.*]] : memref<96xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[LUT_BYTES:.*]] : memref<64xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[PAIR_BYTES:.*]] : memref<1024xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<4xf32, #gpu.address_space<workgroup>>)
// CHECK-DAG:     %[[PAIRS:.*]] = memref.view %[[PAIR_BYTES]][%{{.*}}][] : memref<1024xi8, #gpu.address_space<workgroup>> to memref<4x64xi32, #gpu.address_space<workgroup>>
// CHECK-DAG:     %[[LUT:.*]] = memref.view %[[LUT_BYTES]][%{{.*}}][] : memref<64xi8, #gpu.address_space<workgroup>> to memref<4x8xf16, #gpu.address_space<workgroup>>
// CHECK-DAG:     %[[CODES:.*]] = memref.view %[[CODE_BYTES]][%{{.*}}][] : memref<96xi8, #gpu.address_space<workgroup>> to memref<4x6xi32, #gpu.address_space<workgroup>>
// CHECK:         memref.store %{{.*}}, %[[LUT]]
// CHECK:         nvvm.bar.warp.sync
// CHECK:         scf.for %[[E:.*]] = %{{.*}} to %c64{{.*}} step %c32
// CHECK-DAG:       %[[FIRST:.*]] = arith.andi %[[E]], %c7
// CHECK-DAG:       %[[SECOND:.*]] = arith.shrui %[[E]], %c3
// CHECK:           memref.load %[[LUT]][%{{.*}}, %[[SECOND]]]
// CHECK:           %[[HIGH:.*]] = arith.shli %{{.*}}, %c16_i32
// CHECK:           memref.load %[[LUT]][%{{.*}}, %[[FIRST]]]
// CHECK:           %[[ENTRY:.*]] = arith.ori %{{.*}}, %[[HIGH]] : i32
// CHECK:           memref.store %[[ENTRY]], %[[PAIRS]][%{{.*}}, %[[E]]]
// CHECK:         nvvm.bar.warp.sync
// CHECK:         scf.for
// CHECK:           vector.load %[[CODES]][%{{.*}}, %{{.*}}] : memref<4x6xi32, #gpu.address_space<workgroup>>, vector<3xi32>
// CHECK:           %[[ROW:.*]] = arith.muli %{{.*}}, %c256_i32{{.*}} : i32
// CHECK-COUNT-16:  llvm.inline_asm asm_dialect = att "lop3.b32 $0, $1, 252, $2, 234;", "=r,r,r" %{{.*}}, %[[ROW]]
// CHECK:           vector.bitcast %{{.*}} : vector<16xi32> to vector<32xf16>
// CHECK-NOT:       vector.gather
// CHECK-NOT:       memref.view %[[LUT_BYTES]]
// CHECK:           math.fma
// mixed: one group decode per tile of 64 weights (the tile's low codes and
// extra codes staged first: the extra codes from row isHigh ? h : H of
// high_codes, h the map word's high_group_start plus a popcount, H = 1 the
// last row, all zeros; no branch), the codes widened to 4 bits and
// dequantized in f16x2 (the magic-number fma subtracts 1024 + zero, then
// (qq - zero) * scale); the outliers after the K loop, a few CSR entries
// per lane (buildSparseDot), before the warp reduction.
// CHECK-LABEL: gpu.func @k_mixed(
// CHECK-SAME:    %{{.*}}: memref<1x128xf16>, %[[LOW:[^:]*]]: memref<2x8xi32> {mixq.weight}, %[[HIGH:[^:]*]]: memref<2x4xi32> {mixq.weight}, %{{.*}}: memref<2x1xi32> {mixq.weight}, %{{.*}}: memref<2x1xi32> {mixq.weight}, %{{.*}}: memref<2x2xi8> {mixq.weight}, %{{.*}}: memref<2x1xi32> {mixq.weight}, %{{.*}}: memref<2x2xf16> {mixq.weight}, %{{.*}}: memref<3xi32> {mixq.weight}, %{{.*}}: memref<1xi16> {mixq.weight}, %{{.*}}: memref<1xf16> {mixq.weight}, %{{.*}}: memref<1x2xf16>
// CHECK:         %[[LOWTILE:.*]] = memref.alloc() : memref<4x128xi32, #gpu.address_space<workgroup>>
// CHECK:         %[[HIGHTILE:.*]] = memref.alloc() : memref<4x128xi32, #gpu.address_space<workgroup>>
// CHECK:         scf.for {{.*}} iter_args
// CHECK:           math.ctpop
// CHECK:           %[[ROW:.*]] = arith.select %{{.*}}, %{{.*}}, %c1{{.*}} : index
// CHECK:           vector.load %[[LOW]]
// CHECK:           vector.store %{{.*}}, %[[LOWTILE]]
// CHECK:           vector.load %[[HIGH]][%[[ROW]], %{{.*}}] : memref<2x4xi32>, vector<4xi32>
// CHECK:           vector.store %{{.*}}, %[[HIGHTILE]]
// CHECK-NOT:       scf.if
// CHECK:           vector.load %[[HIGHTILE]]
// CHECK:           %[[MAGIC:.*]] = arith.mulf %{{.*}} fastmath<contract> : vector<64xf16>
// CHECK:           %[[CENTERED:.*]] = arith.addf %[[MAGIC]], %{{.*}} fastmath<contract> : vector<64xf16>
// CHECK-NEXT:      %[[SCALE:.*]] = vector.broadcast %{{.*}} : f16 to vector<64xf16>
// CHECK-NEXT:      arith.mulf %[[CENTERED]], %[[SCALE]] : vector<64xf16>
// CHECK:           math.fma
// CHECK:         scf.for {{.*}} iter_args
// CHECK:           memref.load %{{.*}} : memref<1xi16>
// CHECK:           memref.load %{{.*}} : memref<1xf16>
// CHECK:         gpu.shuffle
// CHECK-LABEL: gpu.func @k_bitplane(
// CHECK-SAME:    %{{.*}}: memref<2x2xi32> {mixq.weight}, %{{.*}}: memref<2x2xi32> {mixq.weight}, %{{.*}}: memref<2x2xi32> {mixq.weight}, %{{.*}}: memref<2x2xi32> {mixq.weight}, %{{.*}}: memref<2x4xf16> {mixq.weight}, %{{.*}}: memref<2x8xf16> {mixq.weight}, %{{.*}}: memref<2x16xf16> {mixq.weight}
// CHECK-LABEL: gpu.func @k_sparse(
// CHECK:         scf.for
// CHECK:           scf.for
// CHECK-LABEL: gpu.func @k_quik(
// CHECK:         math.fma
func.func private @k_lut(%x: tensor<1x64xf16>, %w: !mixq.qtensor<4x64, #mixq.lut<bits = 3>>) -> tensor<1x4xf16> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x64xf16>, !mixq.qtensor<4x64, #mixq.lut<bits = 3>> -> tensor<1x4xf16>
  return %0 : tensor<1x4xf16>
}
func.func private @k_mixed(%x: tensor<1x128xf16>, %w: !mixq.qtensor<2x128, #mixq.mixed<group = 64, hi_frac = 0.25, outliers = 0.005>>) -> tensor<1x2xf16> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x128xf16>, !mixq.qtensor<2x128, #mixq.mixed<group = 64, hi_frac = 0.25, outliers = 0.005>> -> tensor<1x2xf16>
  return %0 : tensor<1x2xf16>
}
func.func private @k_bitplane(%x: tensor<1x40xf16>, %w: !mixq.qtensor<2x40, #mixq.bitplane<seed = 2, parent = 4, width = 3>>) -> tensor<1x2xf16> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x40xf16>, !mixq.qtensor<2x40, #mixq.bitplane<seed = 2, parent = 4, width = 3>> -> tensor<1x2xf16>
  return %0 : tensor<1x2xf16>
}
func.func private @k_sparse(%x: tensor<1x8xf32>, %w: !mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125>>) -> tensor<1x2xf32> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x8xf32>, !mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125>> -> tensor<1x2xf32>
  return %0 : tensor<1x2xf32>
}
func.func private @k_quik(%x: tensor<1x128xf16>, %w: !mixq.qtensor<64x128, #mixq.outlier_cols<cols = 8, bits = 4>>) -> tensor<1x64xf16> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x128xf16>, !mixq.qtensor<64x128, #mixq.outlier_cols<cols = 8, bits = 4>> -> tensor<1x64xf16>
  return %0 : tensor<1x64xf16>
}

// -----

// QUIK activations: the row's range over the non-outlier columns (min/max
// block reductions), then the element formula the reference lowering uses.

// CHECK-LABEL: gpu.func @k_qact(
// CHECK:         arith.minnumf
// CHECK:         gpu.barrier
// CHECK:         arith.maxnumf
// CHECK:         math.round
// CHECK:         arith.select
func.func private @k_qact(%x: tensor<?x128xf16>, %w: !mixq.qtensor<64x128, #mixq.outlier_cols<cols = 8, bits = 4, act_bits = 8>>) -> tensor<?x128xf16> attributes {mixq.kernel} {
  %0 = mixq.quantize_act %x, %w bits = 8 : tensor<?x128xf16>, !mixq.qtensor<64x128, #mixq.outlier_cols<cols = 8, bits = 4, act_bits = 8>> -> tensor<?x128xf16>
  return %0 : tensor<?x128xf16>
}

// -----

// Only the components the dequantization reads are staged: a bitplane of
// width 3 (parent 4) reads three of its four planes, so three shared tiles
// of two words per lane (its word-level tile is 64 weights), and one plane
// argument is never loaded. Each plane's two words come in one 8-byte
// load. The scheme's pair table (64 i32 entries a row, built from the
// resident LUT) turns a 32-weight word into 16 lookups: the planes'
// rotated bits give four registers of four table indices, one a byte, and
// each index becomes its table offset by one lop3 (byte 0) or one byte
// permute under the row's offset (bytes 1-3, whose other bits are known
// zero). No LUT lookup is left in the loop.

// CHECK-LABEL: gpu.func @k_bitplane_width(
// CHECK-SAME:    %{{.*}}: memref<1x64xf16>, %[[P0:.*]]: memref<2x2xi32> {mixq.weight}, %[[P1:.*]]: memref<2x2xi32> {mixq.weight}, %[[P2:.*]]: memref<2x2xi32> {mixq.weight}, %[[P3:.*]]: memref<2x2xi32> {mixq.weight},
// CHECK-SAME:    workgroup(%[[LUT_BYTES:.*]] : memref<64xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[PAIR_BYTES:.*]] : memref<1024xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64},
// CHECK-DAG:     memref.view %[[PAIR_BYTES]][%{{.*}}][] : memref<1024xi8, #gpu.address_space<workgroup>> to memref<4x64xi32, #gpu.address_space<workgroup>>
// CHECK-DAG:     memref.view %[[LUT_BYTES]][%{{.*}}][] : memref<64xi8, #gpu.address_space<workgroup>> to memref<4x8xf16, #gpu.address_space<workgroup>>
// CHECK-COUNT-3: memref.alloc() : memref<4x64xi32, #gpu.address_space<workgroup>>
// CHECK-NOT:     memref.alloc()
// CHECK:         scf.for
// CHECK:         scf.for
// CHECK-COUNT-3:   vector.load %{{.*}} : memref<2x2xi32>, vector<2xi32>
// CHECK-COUNT-3:   vector.load %{{.*}} {alignment = 8 : i64} : memref<4x64xi32, #gpu.address_space<workgroup>>, vector<2xi32>
// CHECK-NOT:       memref<1xf16, #gpu.address_space<workgroup>>
// CHECK-COUNT-4:   llvm.inline_asm asm_dialect = att "lop3.b32 $0, $1, 252, $2, 234;"
// CHECK-COUNT-4:   llvm.inline_asm asm_dialect = att "prmt.b32 $0, $1, $2, 0x7651;"
// CHECK-COUNT-4:   llvm.inline_asm asm_dialect = att "prmt.b32 $0, $1, $2, 0x7652;"
// CHECK-COUNT-4:   llvm.inline_asm asm_dialect = att "prmt.b32 $0, $1, $2, 0x7653;"
// CHECK-COUNT-4:   llvm.inline_asm asm_dialect = att "lop3.b32 $0, $1, 252, $2, 234;"
// CHECK-COUNT-12:  llvm.inline_asm asm_dialect = att "prmt.b32
// CHECK:           vector.bitcast %{{.*}} : vector<32xi32> to vector<64xf16>
// CHECK-NOT:       memref<1xf16, #gpu.address_space<workgroup>>
// CHECK-COUNT-8:   vector.load %{{.*}} {alignment = 16 : i64} : memref<1x64xf16>, vector<8xf16>
// CHECK-NOT:       vector.load
func.func private @k_bitplane_width(%x: tensor<1x64xf16>, %w: !mixq.qtensor<2x64, #mixq.bitplane<seed = 2, parent = 4, width = 3>>) -> tensor<1x2xf16> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x64xf16>, !mixq.qtensor<2x64, #mixq.bitplane<seed = 2, parent = 4, width = 3>> -> tensor<1x2xf16>
  return %0 : tensor<1x2xf16>
}
