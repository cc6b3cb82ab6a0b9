// --mixq-lower-to-linalg{dequant-vector-width=16} (the CPU backend's form):
// a matmul whose scheme dequantizes whole words becomes a generic over
// (m, n) whose body loops over K 16 columns a step, with the scheme's
// buildDequantVector, x as a vector, vector.fma into a vector<16xf32> and
// one reduction per output. Other schemes, and K not a multiple of 16, keep
// the reference contraction.
// RUN: mixq-opt %s --mixq-lower-to-linalg="dequant-vector-width=16" --split-input-file | FileCheck %s
// RUN: mixq-opt %s --mixq-lower-to-linalg="dequant-vector-width=16 vector-sum-lanes=8" --split-input-file | FileCheck %s --check-prefix=LANES
// RUN: mixq-opt %s --mixq-lower-to-linalg="dequant-vector-width=16 register-table-entries=8" --split-input-file | FileCheck %s --check-prefix=TABLES

// A scheme with scale factors (getScaleFactorColumns: affine's group of 32)
// takes each group's unscaled tiles (q - z) into a vector of partial sums,
// then multiplies it by the group's scale once: one loop over the groups
// around one over the group's tiles, and no scale in the inner loop.
// CHECK-LABEL: func.func @words
// CHECK-SAME: (%[[X:.*]]: tensor<2x64xf32>, %[[CODES:.*]]: tensor<8x8xi32>, %[[SCALES:.*]]: tensor<8x2xf16>, %[[ZEROS:.*]]: tensor<8x2xf16>) -> tensor<2x8xf32>
// affine's f32 unscaled tiles are q - broadcast(z): x's sum over each tile
// of 16 is taken once, before the rows.
// CHECK: %[[FILL:.*]] = linalg.fill
// CHECK: %[[TILED:.*]] = tensor.expand_shape %[[X]] {{\[\[}}0], [1, 2]] output_shape [2, 4, 16] : tensor<2x64xf32> into tensor<2x4x16xf32>
// CHECK: %[[XSUMS:.*]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME: ins(%[[TILED]] : tensor<2x4x16xf32>) outs(%[[FILL]] : tensor<2x4xf32>)
// CHECK: arith.addf
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel"]
// CHECK: %[[M:.*]] = linalg.index 0
// CHECK: %[[N:.*]] = linalg.index 1
// CHECK: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<16xf32>
// CHECK: %[[FZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[DOT:.*]]:2 = scf.for %[[G:.*]] = %c0 to %c64 step %c32 iter_args(%[[ACC:.*]] = %[[ZERO]], %[[OFFACC:.*]] = %[[FZERO]]) -> (vector<16xf32>, f32)
// CHECK: %[[END:.*]] = arith.addi %[[G]], %c32
// CHECK: %[[SUMS:.*]]:2 = scf.for %[[K:.*]] = %[[G]] to %[[END]] step %c16 iter_args(%[[PART:.*]] = %[[ZERO]], %[[OFFSUM:.*]] = %[[FZERO]]) -> (vector<16xf32>, f32)
// CHECK-NOT: tensor.extract %[[SCALES]]
// CHECK: %[[Z:.*]] = tensor.extract %[[ZEROS]][%[[N]], %{{.*}}]
// CHECK: tensor.extract %[[CODES]][%[[N]], %{{.*}}]
// CHECK: tensor.extract %[[CODES]][%[[N]], %{{.*}}]
// CHECK-NOT: tensor.extract %[[CODES]]
// CHECK: arith.shrui %{{.*}} : vector<16xi32>
// CHECK: %[[Q:.*]] = arith.uitofp %{{.*}} : vector<16xi32> to vector<16xf32>
// CHECK: %[[Z32:.*]] = arith.extf %[[Z]] : f16 to f32
// CHECK: %[[TILE:.*]] = arith.divui %[[K]], %c16
// CHECK: %[[XSUM:.*]] = tensor.extract %[[XSUMS]][%[[M]], %[[TILE]]]
// CHECK: %[[NEXTOFF:.*]] = math.fma %[[Z32]], %[[XSUM]], %[[OFFSUM]] : f32
// CHECK-NOT: arith.mulf
// CHECK: tensor.extract %[[X]][%[[M]], %[[K]]]
// The tile is summed without the zero: q times x.
// CHECK: %[[FMA:.*]] = vector.fma %{{.*}}, %[[Q]], %[[PART]] : vector<16xf32>
// CHECK: scf.yield %[[FMA]], %[[NEXTOFF]]
// CHECK: %[[GROUP:.*]] = arith.divui %[[G]], %c32
// CHECK: %[[SCALE:.*]] = tensor.extract %[[SCALES]][%[[N]], %[[GROUP]]]
// CHECK: %[[S32:.*]] = arith.extf %[[SCALE]] : f16 to f32
// CHECK: %[[FACTORS:.*]] = vector.broadcast %[[S32]] : f32 to vector<16xf32>
// CHECK: %[[NEXT:.*]] = vector.fma %[[FACTORS]], %[[SUMS]]#0, %[[ACC]] : vector<16xf32>
// CHECK: %[[NEXTOFFACC:.*]] = math.fma %[[S32]], %[[SUMS]]#1, %[[OFFACC]] : f32
// CHECK: scf.yield %[[NEXT]], %[[NEXTOFFACC]]
// CHECK: %[[RED:.*]] = vector.reduction <add>, %[[DOT]]#0 fastmath<reassoc,contract> : vector<16xf32> into f32
// CHECK: %[[Y:.*]] = arith.subf %[[RED]], %[[DOT]]#1 : f32
// CHECK: linalg.yield %[[Y]]
// CHECK-NOT: linalg.matmul
func.func @words(%x: tensor<2x64xf32>, %q: !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 32>>) -> tensor<2x8xf32> {
  %y = mixq.matmul %x, %q : tensor<2x64xf32>, !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 32>> -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// lut tiles are word-level too: the tile's codes from its words, then one
// gather from the row's codebook (a load per lane, so the lookups count one
// scalar op per weight and still fit the budget).
// CHECK-LABEL: func.func @lookups
// CHECK: scf.for
// CHECK: vector.gather %{{.*}} : tensor<8x16xf16>, vector<16xi32>, vector<16xi1>, vector<16xf16> into vector<16xf16>
// CHECK: vector.fma
// With register-table-entries=8 the 16-entry codebook row is two registers
// of f32 entries; each lane extracts its entry from both at a dynamic
// position (LLVM's x86 backend makes one vpermps of each), and the codes'
// bit 3 selects between them; codes are masked to a register's 8 entries.
// TABLES-LABEL: func.func @lookups
// TABLES-NOT: vector.gather
// TABLES: scf.for
// TABLES: %[[ROW:.*]] = arith.extf %{{.*}} : vector<16xf16> to vector<16xf32>
// TABLES: %[[LOW:.*]] = arith.andi %[[CODES:.*]], %{{.*}} : vector<16xi32>
// TABLES: %[[FIRST:.*]] = vector.extract_strided_slice %[[ROW]] {offsets = [0], sizes = [8], strides = [1]}
// TABLES: %[[CODE:.*]] = vector.extract %[[LOW]][0] : i32 from vector<16xi32>
// TABLES: %[[AT:.*]] = arith.index_castui %[[CODE]] : i32 to index
// TABLES: vector.extract %[[FIRST]][%[[AT]]] : f32 from vector<8xf32>
// TABLES: %[[SECOND:.*]] = vector.extract_strided_slice %[[ROW]] {offsets = [8], sizes = [8], strides = [1]}
// TABLES: vector.extract %[[SECOND]][%{{.*}}] : f32 from vector<8xf32>
// TABLES: %[[HIGH:.*]] = vector.from_elements
// TABLES: %[[BIT:.*]] = arith.andi %[[CODES]], %{{.*}} : vector<16xi32>
// TABLES: %[[SET:.*]] = arith.cmpi ne, %[[BIT]], %{{.*}} : vector<16xi32>
// TABLES: arith.select %[[SET]], %[[HIGH]], %{{.*}} : vector<16xi1>, vector<16xf32>
// TABLES: vector.fma
func.func @lookups(%x: tensor<2x64xf32>, %q: !mixq.qtensor<8x64, #mixq.lut<bits = 4>>) -> tensor<2x8xf32> {
  %y = mixq.matmul %x, %q : tensor<2x64xf32>, !mixq.qtensor<8x64, #mixq.lut<bits = 4>> -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// outlier_cols (QUIK) tiles are word-level: the codes cover every column
// (0 at the fp16 columns), no column map in the loop, and the row's scale
// is one factor for all of K (getScaleFactorColumns), applied once after
// the loop over the row's tiles (a loop over one run, which canonicalize
// removes); the fp16 columns are every row's sparse terms, added after the
// reduction from outlier_cols and the row of outlier_weights.
// CHECK-LABEL: func.func @outlier_columns
// CHECK-SAME: (%[[X:.*]]: tensor<2x64xf32>, %[[OCOLS:.*]]: tensor<8xi32>, %[[OW:.*]]: tensor<8x8xf16>, %[[CODES:.*]]: tensor<8x8xi32>, %[[SCALES:.*]]: tensor<8xf16>, %{{.*}}: tensor<8xi32>, %[[MAP:.*]]: tensor<64xi16>) -> tensor<2x8xf32>
// CHECK-NOT: tensor.extract %[[MAP]]
// CHECK: %[[N:.*]] = linalg.index 1
// CHECK: scf.for {{.*}} = %c0 to %c64{{.*}} step %c64 iter_args({{.*}}) -> (vector<16xf32>, f32)
// CHECK: scf.for {{.*}} step %c16 iter_args({{.*}}) -> (vector<16xf32>, f32)
// CHECK-NOT: tensor.extract %[[SCALES]]
// CHECK: tensor.extract %[[CODES]][%[[N]], %{{.*}}]
// CHECK: arith.uitofp %{{.*}} : vector<16xi32> to vector<16xf32>
// CHECK: vector.fma
// CHECK: scf.yield
// CHECK: tensor.extract %[[SCALES]][%[[N]]]
// CHECK: vector.fma
// CHECK: %[[SUMS:.*]] = vector.reduction <add>
// CHECK: %[[DOT:.*]] = arith.subf %[[SUMS]], %{{.*}} : f32
// CHECK: %[[TERMS:.*]] = scf.for %[[J:.*]] = %c0{{.*}} to %c8 step %c1 iter_args(%{{.*}} = %{{.*}}) -> (f32) {
// CHECK:   tensor.extract %[[OCOLS]][%[[J]]] : tensor<8xi32>
// CHECK:   tensor.extract %[[OW]][%[[N]], %[[J]]] : tensor<8x8xf16>
// CHECK: arith.addf %[[DOT]], %[[TERMS]] : f32
// CHECK-NOT: tensor.extract %[[MAP]]
// CHECK: return
func.func @outlier_columns(%x: tensor<2x64xf32>, %q: !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 8, bits = 4>>) -> tensor<2x8xf32> {
  %y = mixq.matmul %x, %q : tensor<2x64xf32>, !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 8, bits = 4>> -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// K = 40 is not a multiple of 16 (nor of 32).
// CHECK-LABEL: func.func @ragged
// CHECK-NOT: vector.fma
// CHECK: iterator_types = ["parallel", "parallel", "reduction"]
func.func @ragged(%x: tensor<2x40xf32>, %q: !mixq.qtensor<8x40, #mixq.affine<bits = 4, group = 8>>) -> tensor<2x8xf32> {
  %y = mixq.matmul %x, %q : tensor<2x40xf32>, !mixq.qtensor<8x40, #mixq.affine<bits = 4, group = 8>> -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// 3-bit codes fill whole words 32 at a time (16 would end mid-word): the
// dot product steps 32 columns, three words a step. Codes straddle words,
// so each code's lane takes the two bytes that hold it (one byte shuffle;
// code 31, in the last byte alone, a zero byte above it), then one shift
// and one mask.
// CHECK-LABEL: func.func @three_bits
// CHECK: scf.for %{{.*}} = %c0 to %c64 step %c32 iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (vector<32xf32>, f32)
// CHECK-COUNT-3: tensor.extract %{{.*}} : tensor<8x6xi32>
// CHECK: vector.bitcast %{{.*}} : vector<3xi32> to vector<12xi8>
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [0, 1, 12, 12, 0, 1, 12, 12, 0, 1, 12, 12, 1, 2, 12, 12, {{.*}}, 11, 12, 12, 12] : vector<12xi8>, vector<12xi8>
// CHECK: vector.bitcast %{{.*}} : vector<128xi8> to vector<32xi32>
// CHECK: arith.constant dense<[0, 3, 6, 1, 4, 7, 2, 5, 0, {{.*}}]> : vector<32xi32>
// CHECK: arith.shrui %{{.*}} : vector<32xi32>
// CHECK: arith.andi %{{.*}} : vector<32xi32>
// CHECK-NOT: arith.shli %{{.*}} : vector<32xi32>
// CHECK: vector.fma %{{.*}} : vector<32xf32>
func.func @three_bits(%x: tensor<2x64xf32>, %q: !mixq.qtensor<8x64, #mixq.affine<bits = 3, group = 32>>) -> tensor<2x8xf32> {
  %y = mixq.matmul %x, %q : tensor<2x64xf32>, !mixq.qtensor<8x64, #mixq.affine<bits = 3, group = 32>> -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// Sparse terms after the dot product (QuantSchemeAttrInterface::
// buildSparseDot): #mixq.sparse over a word-level scheme takes the dense
// scheme's vectors, then, once per output after the reduction, an scf.for
// over the row's CSR slice adds value * x[m, col].
// CHECK-LABEL: func.func @sparse_terms
// CHECK-SAME: (%[[X:.*]]: tensor<2x64xf32>, %{{.*}}: tensor<8x8xi32>, %{{.*}}: tensor<8x2xf16>, %{{.*}}: tensor<8x2xf16>, %[[PTR:.*]]: tensor<9xi32>, %[[COLS:.*]]: tensor<4xi16>, %[[VALS:.*]]: tensor<4xf16>) -> tensor<2x8xf32>
// CHECK: %[[M:.*]] = linalg.index 0
// CHECK: %[[N:.*]] = linalg.index 1
// CHECK: scf.for {{.*}} -> (vector<16xf32>, f32)
// CHECK-NOT: tensor.extract %[[COLS]]
// CHECK: vector.fma
// CHECK: %[[SUMS:.*]] = vector.reduction <add>
// CHECK: %[[DOT:.*]] = arith.subf %[[SUMS]], %{{.*}} : f32
// CHECK: tensor.extract %[[PTR]][%[[N]]]
// CHECK: tensor.extract %[[PTR]]
// CHECK: %[[TERMS:.*]] = scf.for %[[E:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[SUM:.*]] = %{{.*}}) -> (f32) {
// CHECK:   %[[C:.*]] = tensor.extract %[[COLS]][%[[E]]] : tensor<4xi16>
// CHECK:   %[[CI:.*]] = arith.index_castui %[[C]] : i16 to index
// CHECK:   %[[V:.*]] = tensor.extract %[[VALS]][%[[E]]] : tensor<4xf16>
// CHECK:   %[[VF:.*]] = arith.extf %[[V]] : f16 to f32
// CHECK:   %[[XV:.*]] = tensor.extract %[[X]][%[[M]], %[[CI]]] : tensor<2x64xf32>
// CHECK:   %[[T:.*]] = arith.mulf %[[VF]], %[[XV]] : f32
// CHECK:   %[[NEXT:.*]] = arith.addf %[[SUM]], %[[T]] : f32
// CHECK:   scf.yield %[[NEXT]] : f32
// CHECK: %[[Y:.*]] = arith.addf %[[DOT]], %[[TERMS]] : f32
// CHECK: linalg.yield %[[Y]]
func.func @sparse_terms(%x: tensor<2x64xf32>, %q: !mixq.qtensor<8x64, #mixq.sparse<#mixq.affine<bits = 4, group = 32>, frac = 0.0078125>>) -> tensor<2x8xf32> {
  %y = mixq.matmul %x, %q : tensor<2x64xf32>, !mixq.qtensor<8x64, #mixq.sparse<#mixq.affine<bits = 4, group = 32>, frac = 0.0078125>> -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// mixed decodes a group once per tile of 32 (1.9 scalar ops per weight, in
// the word-level budget of 2), and adds its outliers after the reduction.
// Its f32 tiles come from the widened code words (the low word's code
// above the extra word's, 4 bits a code), unpacked a byte at a time: the
// low nibbles of all 16 bytes, then the high ones. x is permuted into that
// order once, before the rows. The widened words hold the even codes of
// low word 0, its odd codes, then both of low word 1: byte y of a word
// holds its fields 2y (low nibble) and 2y + 1, so the low nibbles of
// bytes 0-3 are columns 0, 4, 8, 12, of bytes 4-7 (the odd word) 1, 5, 9,
// 13, and each high nibble is its low one's column + 2.
// CHECK-LABEL: func.func @mixed_terms
// CHECK: arith.constant dense<[0, 4, 8, 12, 1, 5, 9, 13, 16, 20, 24, 28, 17, 21, 25, 29, 2, 6, 10, 14, 3, 7, 11, 15, 18, 22, 26, 30, 19, 23, 27, 31]> : tensor<32xi32>
// CHECK: scf.for {{.*}} step %c32 iter_args({{.*}}) -> (vector<32xf32>, f32)
// CHECK: math.ctpop
// CHECK: %[[WORDS:.*]] = vector.shuffle %{{.*}}, %{{.*}} [0, 2, 1, 3] : vector<2xi32>, vector<2xi32>
// CHECK: %[[BYTES:.*]] = vector.bitcast %[[WORDS]] : vector<4xi32> to vector<16xi8>
// CHECK: %[[WIDE:.*]] = arith.extui %[[BYTES]] : vector<16xi8> to vector<16xi32>
// CHECK: %[[LOWS:.*]] = arith.andi %[[WIDE]], %{{.*}} : vector<16xi32>
// CHECK: %[[HIGHS:.*]] = arith.shrui %[[WIDE]], %{{.*}} : vector<16xi32>
// CHECK: %[[CODES:.*]] = vector.shuffle %[[LOWS]], %[[HIGHS]] [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]
// CHECK: arith.uitofp %[[CODES]] : vector<32xi32> to vector<32xf32>
// CHECK: vector.fma
// CHECK: %[[SUMS:.*]] = vector.reduction <add>
// CHECK: %[[DOT:.*]] = arith.subf %[[SUMS]], %{{.*}} : f32
// With vector-sum-lanes=8, a group's 32 products are summed into 8 lanes,
// four FMAs of slices one after another, and scaled by one FMA of 8 lanes.
// LANES-LABEL: func.func @mixed_terms
// LANES: scf.for {{.*}} step %c32 iter_args(%[[ACC:.*]] = %{{.*}}, %{{.*}} = %{{.*}}) -> (vector<8xf32>, f32)
// LANES: scf.for {{.*}} step %c32{{.*}} iter_args(%[[SUMS:.*]] = %{{.*}}, %{{.*}} = %{{.*}}) -> (vector<8xf32>, f32)
// LANES: %[[W0:.*]] = vector.extract_strided_slice %[[W:.*]] {offsets = [0], sizes = [8], strides = [1]} : vector<32xf32> to vector<8xf32>
// LANES: %[[X0:.*]] = vector.extract_strided_slice %[[X:.*]] {offsets = [0], sizes = [8], strides = [1]} : vector<32xf32> to vector<8xf32>
// LANES: %[[S0:.*]] = vector.fma %[[X0]], %[[W0]], %[[SUMS]] : vector<8xf32>
// LANES: %[[S1:.*]] = vector.fma %{{.*}}, %{{.*}}, %[[S0]] : vector<8xf32>
// LANES: %[[S2:.*]] = vector.fma %{{.*}}, %{{.*}}, %[[S1]] : vector<8xf32>
// LANES: %[[W3:.*]] = vector.extract_strided_slice %[[W]] {offsets = [24], sizes = [8], strides = [1]} : vector<32xf32> to vector<8xf32>
// LANES: %[[X3:.*]] = vector.extract_strided_slice %[[X]] {offsets = [24], sizes = [8], strides = [1]} : vector<32xf32> to vector<8xf32>
// LANES: %[[S3:.*]] = vector.fma %[[X3]], %[[W3]], %[[S2]] : vector<8xf32>
// LANES: scf.yield %[[S3]], %{{.*}} : vector<8xf32>, f32
// LANES: %[[SCALE:.*]] = vector.broadcast %{{.*}} : f32 to vector<8xf32>
// LANES: %[[NEXT:.*]] = vector.fma %[[SCALE]], %{{.*}}, %[[ACC]] : vector<8xf32>
// LANES: scf.yield %[[NEXT]], %{{.*}} : vector<8xf32>, f32
// LANES: vector.reduction <add>, %{{.*}} : vector<8xf32> into f32
// CHECK: %[[TERMS:.*]] = scf.for {{.*}} -> (f32)
// CHECK: arith.addf %[[DOT]], %[[TERMS]] : f32
func.func @mixed_terms(%x: tensor<2x128xf32>, %q: !mixq.qtensor<8x128, #mixq.mixed<group = 32>>) -> tensor<2x8xf32> {
  %y = mixq.matmul %x, %q : tensor<2x128xf32>, !mixq.qtensor<8x128, #mixq.mixed<group = 32>> -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// f16 weights: affine's unscaled f16 tiles come in f16x2 pair order (codes
// from both halves of a word, buildUnscaledDequantVectorInAnyOrder), so x's
// tile is loaded in column order and permuted to match, not the weights.
// x is permuted into the tiles' pair order once, before the rows: element
// k + p of %[[XP]] is x[k + order[p]] for each tile start k.
// CHECK-LABEL: func.func @f16_pairs
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x64xf16>
// CHECK: %[[ORDER:.*]] = arith.constant dense<[0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15]> : tensor<16xi32>
// CHECK: %[[XP:.*]] = linalg.generic
// CHECK: %[[K:.*]] = linalg.index 1
// CHECK: %[[P:.*]] = arith.remui %[[K]], %c16
// CHECK: %[[START:.*]] = arith.subi %[[K]], %[[P]]
// CHECK: %[[OP:.*]] = tensor.extract %[[ORDER]][%[[P]]]
// CHECK: %[[OPI:.*]] = arith.index_castui %[[OP]]
// CHECK: %[[SRC:.*]] = arith.addi %[[START]], %[[OPI]]
// CHECK: %[[XV:.*]] = tensor.extract %[[X]][%{{.*}}, %[[SRC]]]
// CHECK: linalg.yield %[[XV]] : f16
// CHECK: linalg.generic
// CHECK: scf.for %{{.*}} step %c32 iter_args(%{{.*}}) -> (vector<16xf32>)
// CHECK: scf.for %[[COL:.*]] = %{{.*}} step %c16 iter_args(%[[PART:.*]] = %{{.*}}) -> (vector<16xf32>)
// CHECK: %[[W:.*]] = arith.extf %{{.*}} : vector<16xf16> to vector<16xf32>
// CHECK-NOT: vector.shuffle
// CHECK: tensor.extract %[[XP]][%{{.*}}, %[[COL]]]
// CHECK-NOT: vector.shuffle
// CHECK: %[[XS:.*]] = arith.extf %{{.*}} : vector<16xf16> to vector<16xf32>
// CHECK-NOT: vector.shuffle
// CHECK: vector.fma %[[XS]], %[[W]], %[[PART]] : vector<16xf32>
func.func @f16_pairs(%x: tensor<2x64xf16>, %q: !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 32>>) -> tensor<2x8xf16> {
  %y = mixq.matmul %x, %q : tensor<2x64xf16>, !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 32>> -> tensor<2x8xf16>
  return %y : tensor<2x8xf16>
}
