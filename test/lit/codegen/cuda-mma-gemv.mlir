// RUN: mixq-opt %s -split-input-file -mixq-build-gpu-kernels="max-tokens=16 chips=sm_90" | FileCheck %s
// RUN: mixq-opt %s -split-input-file -mixq-build-gpu-kernels="max-tokens=16 chips=sm_90 tensor-core-gemv=false" | FileCheck %s --check-prefix=FMA
// RUN: mixq-opt %s -split-input-file -mixq-build-gpu-kernels="max-tokens=16 chips=sm_90 stage-gemv-weights=false" | FileCheck %s --check-prefix=REGS
// RUN: mixq-opt %s -split-input-file -mixq-build-gpu-kernels="max-tokens=16 chips=sm_90 gemv-tile-factors=true" | FileCheck %s --check-prefix=TILE
// RUN: mixq-opt %s -split-input-file -mixq-build-gpu-kernels="max-tokens=16 chips=sm_90 share-gemv-copies=true" | FileCheck %s --check-prefix=SHARE
// RUN: mixq-opt %s -split-input-file -mixq-build-gpu-kernels="max-tokens=16 chips=sm_90 biased-gemv-tiles=false" | FileCheck %s --check-prefix=UNBIASED

// The tensor-core decode GEMV: a warp group computes 16 rows with mma.sync
// m16n8k16 and f32 accumulators, the weights as A (rows lane/4 and
// lane/4 + 8), x as B. Each lane dequantizes a tile of both its rows per
// step (here 32 columns of affine4: one 16-byte staged slice per row) in
// the scheme's own order (buildDequantVectorInAnyOrder: the f16x2 pairs
// (code i, code i + 4) of a word). x is staged in shared memory first, laid
// out in that order within each 32-column tile (columns 0 4 1 5 2 6 3 7
// 8 12 ...: the codes of a word stay within its 8 columns, so one shuffle
// per 16-byte piece and block), so that B's registers are
// consecutive halves of the lane's 16-byte x loads (the pair [0, 9] of two
// equal vector<8xf16>: elements 0 and 1, no byte permute). The resident
// scales (weights only) are staged before x, and x's barrier publishes
// both, so that their loads are in flight together. Then split-K
// over the block's 4 warps: 16 rows a block (40 rows: 3 blocks); the lanes
// holding C's column 0 store the sums to shared memory, and after the
// barrier one thread per row adds the 4 slices and the residual.

// CHECK-LABEL: gpu.func @k_affine(
// CHECK-SAME:    %[[X:[^:]*]]: memref<1x256xf16>
// CHECK-SAME:    workgroup(%[[SCALE_BYTES:.*]] : memref<256xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<256xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[SUMS:.*]] : memref<64xf32, #gpu.address_space<workgroup>>, %[[XS:.*]] : memref<1x256xf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME:    mixq.grid = [array<i64: 3, 0>, array<i64: 1, 1>, array<i64: 1, 0>]
// CHECK-SAME:    nvvm.maxnreg = 128
// CHECK-DAG:     %[[SCALES:.*]] = memref.view %[[SCALE_BYTES]][%{{.*}}][] : memref<256xi8, #gpu.address_space<workgroup>> to memref<16x8xf16, #gpu.address_space<workgroup>>
// CHECK:         %[[CODES:.*]] = memref.alloc() : memref<8x128xi32, #gpu.address_space<workgroup>>
// CHECK:         scf.if
// CHECK:           scf.for
// CHECK:             memref.store %{{.*}}, %[[SCALES]]
// CHECK:             nvvm.bar.warp.sync
// CHECK:         %[[XT:.*]] = vector.load %[[X]]{{.*}} : memref<1x256xf16>, vector<8xf16>
// CHECK:         %[[XP8:.*]] = vector.shuffle %[[XT]], %[[XT]] [0, 4, 1, 5, 2, 6, 3, 7] : vector<8xf16>, vector<8xf16>
// CHECK:         vector.store %[[XP8]], %[[XS]]
// CHECK:         gpu.barrier
// CHECK-NOT:     gpu.barrier
// CHECK:         scf.for {{.*}} iter_args({{.*}}) -> (vector<2x2xf32>) {
// Each row's staged slice is read at the lane's slot, lane * 4 words: the
// word the scheme asks for (col / 8) is the slice's first (col * 32 / 256),
// and no difference of the two is computed.
// CHECK-NOT:       arith.subi
// CHECK:           vector.load %[[CODES]][%{{.*}}, %{{.*}}] {alignment = 16 : i64}
// CHECK:           vector.load %[[XS]]
// CHECK:           %[[B0:.*]] = vector.shuffle %[[XP:.*]], %[[XP]] [0, 9] : vector<8xf16>, vector<8xf16>
// CHECK:           nvgpu.mma.sync(%{{.*}}, %{{.*}}, %{{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
// CHECK-NOT:       math.fma
// CHECK:           scf.yield %{{.*}} : vector<2x2xf32>
// CHECK:         memref.store %{{.*}}, %[[SUMS]]
// CHECK:         gpu.barrier
// CHECK:         memref.load %[[SUMS]]
// CHECK-COUNT-3: arith.addf
// CHECK:         memref.store %{{.*}} : memref<1x40xf16>
// CHECK-NOT:     gpu.shuffle
// CHECK:         gpu.return

// FMA-LABEL: gpu.func @k_affine(
// FMA-NOT:     nvgpu.mma.sync
// FMA:         math.fma
// FMA:         gpu.shuffle
func.func private @k_affine(%x: tensor<1x256xf16>, %w: !mixq.qtensor<40x256, #mixq.affine<bits = 4, group = 32>>, %r: tensor<1x40xf16>) -> tensor<1x40xf16> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x256xf16>, !mixq.qtensor<40x256, #mixq.affine<bits = 4, group = 32>> -> tensor<1x40xf16>
  %1 = llm.add %r, %0 : tensor<1x40xf16>, tensor<1x40xf16> -> tensor<1x40xf16>
  return %1 : tensor<1x40xf16>
}

// -----

// bf16 goes to nvvm.mma.sync directly (the nvgpu lowering deduces no PTX
// type for it); a plain weight is its own tile, in column order.

// CHECK-LABEL: gpu.func @k_bf16(
// CHECK:         scf.for {{.*}} -> (vector<2x2xf32>) {
// CHECK:           nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>
func.func private @k_bf16(%x: tensor<1x128xbf16>, %w: tensor<24x128xbf16>) -> tensor<1x24xbf16> attributes {mixq.kernel} {
  %0 = llm.linear %x, %w : tensor<1x128xbf16>, tensor<24x128xbf16> -> tensor<1x24xbf16>
  return %0 : tensor<1x24xbf16>
}

// -----

// f32 activations have no 16-bit mma: an f32 FMA per weight and a warp
// reduction, as before.

// CHECK-LABEL: gpu.func @k_f32(
// CHECK-NOT:     mma.sync
// CHECK:         math.fma
// CHECK:         gpu.shuffle
func.func private @k_f32(%x: tensor<1x256xf32>, %w: !mixq.qtensor<40x256, #mixq.affine<bits = 4, group = 32>>) -> tensor<1x40xf32> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x256xf32>, !mixq.qtensor<40x256, #mixq.affine<bits = 4, group = 32>> -> tensor<1x40xf32>
  return %0 : tensor<1x40xf32>
}

// -----

// mixed: 64-column tiles, 16 mma per step; its sparse outliers after the K
// loop (buildSparseDot), every 16th CSR entry per lane (4 lanes a row, 4
// split-K slices), summed over a row's 4 lanes by two xor shuffles and
// added to the row's C value. x is staged in the tiles' order (a 2-bit
// word's pairs are columns j and j + 8 of 16), so each B fragment is one
// pair of consecutive f16 of a 16-byte x load, and each of the step's 8
// loads is issued before the two mmas that take it rather than all at the
// top (loadsInputOnUse); the outliers find their x through the inverse
// permutation's table.

// CHECK-LABEL: gpu.func @k_mixed(
// CHECK-NOT:     memref.get_global
// CHECK:         vector.shuffle %{{.*}} [0, 8, 2, 10, 4, 12, 6, 14, 1, 9, 3, 11, 5, 13, 7, 15] : vector<16xf16>, vector<16xf16>
// CHECK:         scf.for {{.*}} -> (vector<2x2xf32>) {
// CHECK:           vector.load %{{.*}} : memref<1x256xf16, #gpu.address_space<workgroup>>, vector<8xf16>
// CHECK-NEXT:      vector.shuffle %{{.*}} [0, 9] : vector<8xf16>, vector<8xf16>
// CHECK-NOT:       vector.load
// CHECK:           nvgpu.mma.sync
// CHECK-NOT:       vector.load
// CHECK:           nvgpu.mma.sync
// CHECK:           vector.load %{{.*}} : memref<1x256xf16, #gpu.address_space<workgroup>>, vector<8xf16>
// CHECK-NEXT:      vector.shuffle %{{.*}} [0, 9] : vector<8xf16>, vector<8xf16>
// CHECK-NOT:       vector.load
// CHECK:           nvgpu.mma.sync
// CHECK-NOT:       vector.load
// CHECK:           nvgpu.mma.sync
// CHECK-COUNT-12:  nvgpu.mma.sync
// CHECK-NOT:       nvgpu.mma.sync
// CHECK:           scf.yield
// CHECK:         scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c16{{.*}} -> (f32)
// CHECK:           memref.get_global @k_mixed_x_positions : memref<64xi32>
// CHECK:         gpu.shuffle  xor %{{.*}}, %c1_i32
// CHECK:         gpu.shuffle  xor %{{.*}}, %c2_i32
// CHECK:         arith.select
// gemv-tile-factors=true: mixed's group (64) is a lane's tile, not a step
// (256 columns), so B's 8 columns are split among the 4 lanes' tiles: a
// lane gives its column (lane / 4) the x of its slots when lane / 4 % 4 is
// lane % 4, and x's zero columns (64 after the staged row, zeroed by the
// first 8 threads) otherwise. C's column n then sums lane n % 4's tile:
// the weights come unscaled (no f16x2 multiply by the scale), the step's
// chain starts from zero, each C value takes its tile's factor by a
// shuffle from that lane, and after the loop a lane adds its two columns
// of a row and lane ^ 1's.
// TILE-LABEL: gpu.func @k_mixed(
// TILE-SAME:    memref<1x320xf16, #gpu.address_space<workgroup>>
// TILE:         %[[ZEROS:.*]] = arith.constant dense<0.000000e+00> : vector<8xf16>
// TILE:         vector.store %[[ZEROS]], %{{.*}} : memref<1x320xf16, #gpu.address_space<workgroup>>, vector<8xf16>
// TILE:         scf.for {{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (vector<2x2xf32>) {
// TILE-NOT:       arith.mulf %{{[0-9a-z_]+}}, %{{[0-9a-z_]+}} : vector<64xf16>
// TILE:           arith.select %{{.*}}, %{{.*}}, %c256{{.*}} : index
// TILE:           vector.load %{{.*}} : memref<1x320xf16, #gpu.address_space<workgroup>>, vector<8xf16>
// TILE-COUNT-16:  nvgpu.mma.sync
// TILE-COUNT-4:   gpu.shuffle  idx
// TILE:           %[[NEXT:.*]] = math.fma %{{.*}}, %{{.*}}, %[[ACC]] : vector<2x2xf32>
// TILE:           scf.yield %[[NEXT]] : vector<2x2xf32>
// TILE:         gpu.shuffle  xor %{{.*}}, %c1_i32
// TILE:         gpu.shuffle  xor %{{.*}}, %c1_i32
func.func private @k_mixed(%x: tensor<1x256xf16>, %w: !mixq.qtensor<16x256, #mixq.mixed<group = 64, hi_frac = 0.25, outliers = 0.005>>) -> tensor<1x16xf16> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x256xf16>, !mixq.qtensor<16x256, #mixq.mixed<group = 64, hi_frac = 0.25, outliers = 0.005>> -> tensor<1x16xf16>
  return %0 : tensor<1x16xf16>
}

// -----

// lut at 3 bits: the scheme's pair table (QuantSchemeAttrInterface::
// getRowTables, 64 i32 entries a row: 4 KiB for the group's 16 rows) is
// built in shared memory by the split-K warp that copies each row's
// codebook, after the copy, and published with the resident rows by one
// barrier; each lane's 32-weight tile of a row is then 16 lookups, one lop3
// offset each, bitcast to 32 f16 for the mma. f32 weights (below) take the
// codebook gathers, and no table is built.

// CHECK-LABEL: gpu.func @k_lut(
// CHECK-SAME:    workgroup(%{{.*}} : memref<1536xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[LUT_BYTES:.*]] : memref<256xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[PAIR_BYTES:.*]] : memref<4096xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64},
// CHECK-DAG:     %[[PAIRS:.*]] = memref.view %[[PAIR_BYTES]][%{{.*}}][] : memref<4096xi8, #gpu.address_space<workgroup>> to memref<16x64xi32, #gpu.address_space<workgroup>>
// CHECK-DAG:     %[[LUT:.*]] = memref.view %[[LUT_BYTES]][%{{.*}}][] : memref<256xi8, #gpu.address_space<workgroup>> to memref<16x8xf16, #gpu.address_space<workgroup>>
// CHECK:         scf.if
// CHECK:           scf.for %[[M:.*]] = %{{.*}} to %c16{{.*}} step %c4
// CHECK:             memref.store %{{.*}}, %[[LUT]]
// CHECK:             nvvm.bar.warp.sync
// CHECK:             scf.for %{{.*}} = %{{.*}} to %c64{{.*}} step %c32
// CHECK:               memref.store %{{.*}}, %[[PAIRS]]
// CHECK:             nvvm.bar.warp.sync
// CHECK:         gpu.barrier
// Pair 5 (bits 30-35) straddles words 0 and 1: its x4 table scaling is in
// its funnel shift, word 0 >> 28 | word 1 << 4, with no shift after it.
// CHECK:         scf.for {{.*}} iter_args
// CHECK-COUNT-5:   llvm.inline_asm asm_dialect = att "lop3.b32 $0, $1, 252, $2, 234;"
// CHECK:           %[[HIGH:.*]] = arith.shli %{{.*}}, %c4_i32{{.*}} : i32
// CHECK:           %[[LOW:.*]] = arith.shrui %{{.*}}, %c28_i32 : i32
// CHECK:           %[[FUNNEL:.*]] = arith.ori %[[LOW]], %[[HIGH]] : i32
// CHECK-NEXT:      llvm.inline_asm asm_dialect = att "lop3.b32 $0, $1, 252, $2, 234;", "=r,r,r" %[[FUNNEL]]
// CHECK-COUNT-10:  llvm.inline_asm asm_dialect = att "lop3.b32 $0, $1, 252, $2, 234;"
// CHECK:           vector.bitcast %{{.*}} : vector<16xi32> to vector<32xf16>
// CHECK-COUNT-16:  llvm.inline_asm asm_dialect = att "lop3.b32 $0, $1, 252, $2, 234;"
// CHECK:           vector.bitcast %{{.*}} : vector<16xi32> to vector<32xf16>
// CHECK-NOT:       vector.gather
// CHECK:           nvgpu.mma.sync
// With share-gemv-copies, the 3-bit codes are staged although a lane's
// 64-weight slice is 24 bytes: the 4 lanes of a row copy its 96 bytes as
// 6 pieces of 16 (pieces p and p + 4 of lane p, modulo 6: lanes 2 and 3
// copy pieces 0 and 1 again), a bar.warp.sync follows the copies, and each
// lane reads its 6 words back 8-byte aligned. A row-table tile of 64
// columns is 32 pair lookups, which the lookup bound of 32 columns
// (bitplane's) lets through.
// SHARE-LABEL: gpu.func @k_lut(
// SHARE:         %[[STAGED:.*]] = memref.alloc() : memref<8x192xi32, #gpu.address_space<workgroup>>
// SHARE:         scf.for {{.*}} iter_args
// SHARE:           %[[PLACE:.*]] = arith.remui %{{.*}}, %c4{{.*}} : index
// SHARE:           %[[P0:.*]] = arith.remui %{{.*}}, %c6{{.*}} : index
// SHARE:           %[[C0:.*]] = vector.load %arg1[%{{.*}}, %{{.*}}] : memref<16x24xi32>, vector<4xi32>
// SHARE:           vector.store %[[C0]], %[[STAGED]][%{{.*}}, %{{.*}}] : memref<8x192xi32, #gpu.address_space<workgroup>>, vector<4xi32>
// SHARE:           %[[NEXT:.*]] = arith.addi %[[PLACE]], %c4{{.*}} : index
// SHARE:           arith.remui %[[NEXT]], %c6{{.*}} : index
// SHARE-COUNT-3:   vector.store %{{.*}}, %[[STAGED]][%{{.*}}, %{{.*}}] : memref<8x192xi32, #gpu.address_space<workgroup>>, vector<4xi32>
// SHARE-NOT:       vector.store
// SHARE:           nvvm.bar.warp.sync
// SHARE:           vector.load %[[STAGED]][%{{.*}}, %{{.*}}] {alignment = 8 : i64} : memref<8x192xi32, #gpu.address_space<workgroup>>, vector<6xi32>
// SHARE-NOT:       vector.gather
// SHARE:           nvgpu.mma.sync
func.func private @k_lut(%x: tensor<1x256xf16>, %w: !mixq.qtensor<16x256, #mixq.lut<bits = 3>>) -> tensor<1x16xf16> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x256xf16>, !mixq.qtensor<16x256, #mixq.lut<bits = 3>> -> tensor<1x16xf16>
  return %0 : tensor<1x16xf16>
}

// -----

// bitplane at width 3 takes the same path through its own pair table
// (64 i32 entries a row, 4 KiB for the group's 16 rows, built from the
// resident width-3 LUT): each lane's 64-weight tile of a row is 32
// lookups, the indices of a 32-weight word four bytes of four registers,
// byte 0's offset one lop3, bytes 1-3's one byte permute under the row's
// offset (prmt selector 0x765b: x's byte b, then the offset's upper bytes).
// No LUT lookup is left in the loop.

// CHECK-LABEL: gpu.func @k_bitplane(
// CHECK-SAME:    workgroup(%[[LUT_BYTES:.*]] : memref<256xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[PAIR_BYTES:.*]] : memref<4096xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64},
// CHECK-DAG:     %[[PAIRS:.*]] = memref.view %[[PAIR_BYTES]][%{{.*}}][] : memref<4096xi8, #gpu.address_space<workgroup>> to memref<16x64xi32, #gpu.address_space<workgroup>>
// CHECK:         memref.store %{{.*}}, %[[PAIRS]]
// CHECK:         gpu.barrier
// CHECK:         scf.for {{.*}} iter_args
// CHECK-NOT:       memref<1xf16, #gpu.address_space<workgroup>>
// CHECK-COUNT-4:   llvm.inline_asm asm_dialect = att "lop3.b32 $0, $1, 252, $2, 234;"
// CHECK-COUNT-4:   llvm.inline_asm asm_dialect = att "prmt.b32 $0, $1, $2, 0x7651;"
// CHECK-COUNT-4:   llvm.inline_asm asm_dialect = att "prmt.b32 $0, $1, $2, 0x7652;"
// CHECK-COUNT-4:   llvm.inline_asm asm_dialect = att "prmt.b32 $0, $1, $2, 0x7653;"
// CHECK:           vector.bitcast %{{.*}} : vector<32xi32> to vector<64xf16>
// CHECK:           vector.bitcast %{{.*}} : vector<32xi32> to vector<64xf16>
// CHECK-NOT:       memref<1xf16, #gpu.address_space<workgroup>>
// CHECK-NOT:       vector.gather
// CHECK:           nvgpu.mma.sync
func.func private @k_bitplane(%x: tensor<1x256xf16>, %w: !mixq.qtensor<16x256, #mixq.bitplane<seed = 2, parent = 4, width = 3>>) -> tensor<1x16xf16> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x256xf16>, !mixq.qtensor<16x256, #mixq.bitplane<seed = 2, parent = 4, width = 3>> -> tensor<1x16xf16>
  return %0 : tensor<1x16xf16>
}

// -----

// CHECK-LABEL: gpu.func @k_lut_f32(
// CHECK-SAME:    workgroup(%{{.*}} : memref<384xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<64xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<4xf32, #gpu.address_space<workgroup>>)
// CHECK-NOT:     xi32, #gpu.address_space<workgroup>> to memref<{{.*}}x64xi32
// CHECK:         gpu.return
func.func private @k_lut_f32(%x: tensor<1x256xf32>, %w: !mixq.qtensor<16x256, #mixq.lut<bits = 3>>) -> tensor<1x16xf32> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x256xf32>, !mixq.qtensor<16x256, #mixq.lut<bits = 3>> -> tensor<1x16xf32>
  return %0 : tensor<1x16xf32>
}

// -----

// Scale factors on the sums (QuantSchemeAttrInterface::
// getScaleFactorColumns): affine4 with group 128 has one group per step (4
// lanes x 32 columns), so each lane takes its tiles unscaled, the step's
// mma chain starts from zero, and one fma per accumulator value adds it
// times the rows' scales. With biased-gemv-tiles=false the tiles are q - z,
// exact in f16 (the magic-number centering's contracted multiply-add, and
// no f16x2 multiply by the scale after it). By default they are biased
// (buildBiasedDequantVectorInAnyOrder: the magic numbers' bits alone, 1024
// + q and 64 + q, no f16 arithmetic), and a second chain of 8 mmas over
// the same x with a constant A (rows g: the slots' biases 1024, 1024, 64,
// 64; rows g + 8: ones) gives sum(bias x) and sum(x), which each row's
// sums lose with its zero point before the scale.

// CHECK-LABEL: gpu.func @k_affine_group_factor(
// CHECK:         %[[BIAS:.*]] = arith.constant dense<{{\[\[}}1.024000e+03, 1.024000e+03], [1.000000e+00, 1.000000e+00], [6.400000e+01, 6.400000e+01], [1.000000e+00, 1.000000e+00]]> : vector<4x2xf16>
// CHECK:         scf.for {{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (vector<2x2xf32>) {
// CHECK-NOT:       arith.mulf %{{.*}} : vector<32xf16>
// CHECK-NOT:       arith.addf %{{.*}} : vector<32xf16>
// CHECK:           vector.bitcast %{{.*}} : vector<16xi32> to vector<32xf16>
// CHECK:           vector.bitcast %{{.*}} : vector<16xi32> to vector<32xf16>
// CHECK:           %[[M0:.*]] = nvgpu.mma.sync(%{{.*}}, %{{.*}}, %[[ZERO:.*]]) {mmaShape = [16, 8, 16]}
// CHECK-COUNT-6:   nvgpu.mma.sync
// CHECK:           %[[SUMS:.*]] = nvgpu.mma.sync
// CHECK:           %{{.*}} = nvgpu.mma.sync(%[[BIAS]], %{{.*}}, %[[ZERO]])
// CHECK-COUNT-6:   nvgpu.mma.sync(%[[BIAS]],
// CHECK:           %[[BSUMS:.*]] = nvgpu.mma.sync(%[[BIAS]],
// CHECK:           %[[BIASDOT:.*]] = vector.extract %[[BSUMS]][0, 0] : f32 from vector<2x2xf32>
// CHECK:           %[[XSUM:.*]] = vector.extract %[[BSUMS]][1, 0] : f32 from vector<2x2xf32>
// CHECK:           math.fma %{{.*}}, %[[XSUM]], %[[BIASDOT]] : f32
// CHECK:           math.fma %{{.*}}, %[[XSUM]], %[[BIASDOT]] : f32
// CHECK:           %[[CENTERED:.*]] = arith.subf %[[SUMS]], %{{.*}} : vector<2x2xf32>
// CHECK:           %[[F:.*]] = vector.insert %{{.*}} [1] : vector<2xf32> into vector<2x2xf32>
// CHECK:           %[[NEXT:.*]] = math.fma %[[CENTERED]], %[[F]], %[[ACC]] : vector<2x2xf32>
// CHECK:           scf.yield %[[NEXT]] : vector<2x2xf32>

// UNBIASED-LABEL: gpu.func @k_affine_group_factor(
// UNBIASED:         scf.for {{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (vector<2x2xf32>) {
// UNBIASED:           arith.mulf %{{.*}} fastmath<contract> : vector<32xf16>
// UNBIASED-NEXT:      vector.from_elements
// UNBIASED-NEXT:      arith.addf %{{.*}} fastmath<contract> : vector<32xf16>
// UNBIASED-NOT:       arith.mulf %{{[0-9a-z_]+}}, %{{[0-9a-z_]+}} : vector<32xf16>
// UNBIASED:           %[[M0:.*]] = nvgpu.mma.sync(%{{.*}}, %{{.*}}, %[[ZERO:.*]]) {mmaShape = [16, 8, 16]}
// UNBIASED-COUNT-7:   nvgpu.mma.sync
// UNBIASED-NOT:       nvgpu.mma.sync
// UNBIASED:           %[[F:.*]] = vector.insert %{{.*}} [1] : vector<2xf32> into vector<2x2xf32>
// UNBIASED:           %[[NEXT:.*]] = math.fma %{{.*}}, %[[F]], %[[ACC]] : vector<2x2xf32>
// UNBIASED:           scf.yield %[[NEXT]] : vector<2x2xf32>
func.func private @k_affine_group_factor(%x: tensor<1x256xf16>, %w: !mixq.qtensor<16x256, #mixq.affine<bits = 4, group = 128>>) -> tensor<1x16xf16> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x256xf16>, !mixq.qtensor<16x256, #mixq.affine<bits = 4, group = 128>> -> tensor<1x16xf16>
  return %0 : tensor<1x16xf16>
}

// -----

// QUIK (#mixq.outlier_cols): one scale a row, so the K loop sums the codes
// times x with no scale at all and the loop's sums are multiplied by the
// rows' scales once after it. Its codes come biased (1024 + q, 64 + q) and
// its zero point is the constant 8: the bias chain runs through the loop
// beside the sums, and sum(bias x) + 8 sum(x) is subtracted once after it
// (with biased-gemv-tiles=false, the loop sums q - 8). Then the fp16
// outlier columns, every 16th
// of a row's 8 per lane (buildSparseDot), from outlier_cols and the row of
// outlier_weights, each column's x at its position in the staged x (laid
// out in the tiles' pair order: c - c % 32 plus a constant table's entry).
// No col_map read anywhere in the GEMV.

// CHECK-LABEL: gpu.func @k_quik(
// CHECK-SAME:    %[[OCOLS:[^:]*]]: memref<8xi32> {mixq.weight}, %{{[^:]*}}: memref<16x8xf16> {mixq.weight}, %{{[^:]*}}: memref<16x32xi32> {mixq.weight}, %[[SCALES:[^:]*]]: memref<16xf16> {mixq.weight}, %{{[^:]*}}: memref<16xi32> {mixq.weight}, %[[MAP:[^:]*]]: memref<256xi16> {mixq.weight}
// CHECK-NOT:     %[[MAP]]
// CHECK:         %[[LOOP:.*]]:2 = scf.for {{.*}} -> (vector<2x2xf32>, vector<2x2xf32>) {
// CHECK-NOT:       math.fma
// CHECK-NOT:       %[[SCALES]]
// CHECK-NOT:       arith.subf
// CHECK-COUNT-16:  nvgpu.mma.sync
// CHECK:           scf.yield
// CHECK:         %[[BIASDOT:.*]] = vector.extract %[[LOOP]]#1[0, 0]
// CHECK:         %[[XSUM:.*]] = vector.extract %[[LOOP]]#1[1, 0]
// CHECK:         %[[OFFSET:.*]] = math.fma %cst{{.*}}, %[[XSUM]], %[[BIASDOT]] : f32
// CHECK:         %[[SUMS:.*]] = arith.subf %[[LOOP]]#0, %{{.*}} : vector<2x2xf32>
// CHECK:         memref.load %[[SCALES]]
// CHECK:         memref.load %[[SCALES]]
// CHECK:         arith.mulf %[[SUMS]], %{{.*}} : vector<2x2xf32>
// CHECK:         scf.for {{.*}} -> (f32)
// CHECK:           %[[OC:.*]] = memref.load %[[OCOLS]]
// CHECK:           %[[C:.*]] = arith.index_castui %[[OC]]
// CHECK:           %[[POS:.*]] = memref.get_global @k_quik_x_positions : memref<32xi32>
// CHECK:           %[[IN:.*]] = arith.remui %[[C]], %c32
// CHECK:           %[[P:.*]] = memref.load %[[POS]][%[[IN]]]
// CHECK-NOT:     %[[MAP]]
// CHECK:         gpu.return
// UNBIASED-LABEL: gpu.func @k_quik(
// UNBIASED:         %[[SUMS:.*]] = scf.for {{.*}} -> (vector<2x2xf32>) {
// UNBIASED-COUNT-8:   nvgpu.mma.sync
// UNBIASED-NOT:       nvgpu.mma.sync
// UNBIASED:           scf.yield
// UNBIASED:         arith.mulf %[[SUMS]], %{{.*}} : vector<2x2xf32>
func.func private @k_quik(%x: tensor<1x256xf16>, %w: !mixq.qtensor<16x256, #mixq.outlier_cols<cols = 8, bits = 4>>) -> tensor<1x16xf16> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x256xf16>, !mixq.qtensor<16x256, #mixq.outlier_cols<cols = 8, bits = 4>> -> tensor<1x16xf16>
  return %0 : tensor<1x16xf16>
}

// -----

// stage-gemv-weights=false: no code tile is staged (no memref.alloc for
// cp.async to pipeline); each lane loads its 16 bytes of codes a row and
// step from the weight itself (K = 1024: rows of codes too long to keep
// resident in shared memory). By default they are staged.

// CHECK-LABEL: gpu.func @k_codes_in_registers(
// CHECK:         memref.alloc() : memref<8x128xi32, #gpu.address_space<workgroup>>

// REGS-LABEL: gpu.func @k_codes_in_registers(
// REGS-SAME:    %{{[^:]*}}: memref<1x1024xf16>, %[[CODES:[^:]*]]: memref<16x128xi32>
// REGS-NOT:     memref.alloc
// REGS:         scf.for {{.*}} -> (vector<2x2xf32>) {
// REGS:           vector.load %[[CODES]][%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<16x128xi32>, vector<4xi32>
// REGS:           nvgpu.mma.sync
func.func private @k_codes_in_registers(%x: tensor<1x1024xf16>, %w: !mixq.qtensor<16x1024, #mixq.affine<bits = 4, group = 128>>) -> tensor<1x16xf16> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x1024xf16>, !mixq.qtensor<16x1024, #mixq.affine<bits = 4, group = 128>> -> tensor<1x16xf16>
  return %0 : tensor<1x16xf16>
}
