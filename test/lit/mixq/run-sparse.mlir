// End-to-end check of #mixq.sparse through the reference lowering: fp32
// constants with a few huge outliers are quantized by folding mixq.quantize
// (the host dense-and-sparse quantizer), the result is lowered with
// --mixq-reference-to-llvm (buildDequantTile: the dense scheme's tile plus the
// CSR residual) and run on the CPU (mlir-runner). The matrices are chosen so
// that the dense part is exact once the outliers are masked (see
// fold-sparse.mlir for the components), so the reconstruction, outliers
// included, is the fp32 matrix and every product is computed by hand.
//
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s --mixq-reference-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)

// x = [ones; 1 .. 8; e_a; e_b].
func.func @inputs(%a: index, %b: index) -> tensor<4x8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %x = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      outs(%empty : tensor<4x8xf32>) {
  ^bb0(%out: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %j1 = arith.addi %j, %c1 : index
    %j1i = arith.index_cast %j1 : index to i64
    %iota = arith.sitofp %j1i : i64 to f32
    %is0 = arith.cmpi eq, %i, %c0 : index
    %is1 = arith.cmpi eq, %i, %c1 : index
    %is2 = arith.cmpi eq, %i, %c2 : index
    %ja = arith.cmpi eq, %j, %a : index
    %jb = arith.cmpi eq, %j, %b : index
    %ea = arith.select %ja, %one, %zero : f32
    %eb = arith.select %jb, %one, %zero : f32
    %v2 = arith.select %is2, %ea, %eb : f32
    %v1 = arith.select %is1, %iota, %v2 : f32
    %v0 = arith.select %is0, %one, %v1 : f32
    linalg.yield %v0 : f32
  } -> tensor<4x8xf32>
  return %x : tensor<4x8xf32>
}

// The reconstruction, in f32 and (dense value and residual added in f32,
// rounded once) in f16.
func.func @print_lut(%w: !mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125>>) {
  %d = mixq.dequantize %w : !mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125>> -> tensor<2x8xf32>
  %u = tensor.cast %d : tensor<2x8xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
func.func @print_lut_f16(%w: !mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125>>) {
  %h = mixq.dequantize %w : !mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125>> -> tensor<2x8xf16>
  %e = tensor.empty() : tensor<2x8xf32>
  %d = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%h : tensor<2x8xf16>) outs(%e : tensor<2x8xf32>) {
  ^bb0(%in: f16, %out: f32):
    %v = arith.extf %in : f16 to f32
    linalg.yield %v : f32
  } -> tensor<2x8xf32>
  %u = tensor.cast %d : tensor<2x8xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
func.func @print_affine(%w: !mixq.qtensor<2x8, #mixq.sparse<#mixq.affine<bits = 4, group = 4>, frac = 0.125>>) {
  %d = mixq.dequantize %w : !mixq.qtensor<2x8, #mixq.sparse<#mixq.affine<bits = 4, group = 4>, frac = 0.125>> -> tensor<2x8xf32>
  %u = tensor.cast %d : tensor<2x8xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}

// lut 2 bits + sparse, nnz = round(0.125 * 16) = 2: the outliers are 1000
// at (0, 3) and -500 at (1, 5). Masked (clamped into their row's range) they
// become 2 and -3, each row then holds 4 values twice, the codebooks are
// exact (-1 0 1 2 and -3 0.5 4 8) and the residuals 998 and -497 are exact in
// fp16.
//   W = [-1, 0, 1, 1000, 2, 1, 0, -1; 0.5, 0.5, 4, 4, -3, -500, 8, 8]
//   ones:   1002, -478
//   1..8:   -1 + 3 + 4000 + 10 + 6 - 8 = 4010;
//           0.5 + 1 + 12 + 16 - 15 - 3000 + 56 + 64 = -2865.5
//   e3:     (1000, 4)      e5: (1, -500)
func.func @sparse_lut() {
  %c = arith.constant dense<[[-1.0, 0.0, 1.0, 1000.0, 2.0, 1.0, 0.0, -1.0],
                             [0.5, 0.5, 4.0, 4.0, -3.0, -500.0, 8.0, 8.0]]> : tensor<2x8xf32>
  %w = mixq.quantize %c : tensor<2x8xf32> -> !mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125>>
  call @print_lut(%w) : (!mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125>>) -> ()
  call @print_lut_f16(%w) : (!mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125>>) -> ()
  %a = arith.constant 3 : index
  %b = arith.constant 5 : index
  %x = call @inputs(%a, %b) : (index, index) -> tensor<4x8xf32>
  %y = mixq.matmul %x, %w : tensor<4x8xf32>, !mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125>> -> tensor<4x2xf32>
  %u = tensor.cast %y : tensor<4x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 8]
// CHECK-NEXT: {{\[\[}}-1, {{ *}}0, {{ *}}1, {{ *}}1000, {{ *}}2, {{ *}}1, {{ *}}0, {{ *}}-1],
// CHECK-NEXT: {{ \[}}0.5, {{ *}}0.5, {{ *}}4, {{ *}}4, {{ *}}-3, {{ *}}-500, {{ *}}8, {{ *}}8]]
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 8]
// CHECK-NEXT: {{\[\[}}-1, {{ *}}0, {{ *}}1, {{ *}}1000, {{ *}}2, {{ *}}1, {{ *}}0, {{ *}}-1],
// CHECK-NEXT: {{ \[}}0.5, {{ *}}0.5, {{ *}}4, {{ *}}4, {{ *}}-3, {{ *}}-500, {{ *}}8, {{ *}}8]]
// CHECK-LABEL: rank = 2 offset = 0 sizes = [4, 2]
// CHECK-NEXT: {{\[\[}}1002, {{ *}}-478],
// CHECK-NEXT: {{ \[}}4010, {{ *}}-2865.5],
// CHECK-NEXT: {{ \[}}1000, {{ *}}4],
// CHECK-NEXT: {{ \[}}1, {{ *}}-500]]

// affine 4 bits, group 4 + sparse, nnz = 2: the outliers 300 at (0, 1) and
// -400 at (1, 6) are masked to 7.5 and 0 (their rows' ranges are [-1, 7.5]
// and [0, 2]); the groups are then exact (row 0: s = 0.5, z = 0 and
// s = 0.25, z = 4; row 1: the constant group 2 and the zero group), and the
// residuals 292.5 and -400 are exact in fp16.
//   W = [0, 300, 3, 7.5, -1, 0, 1, 2.75; 2, 2, 2, 2, 0, 0, -400, 0]
//   ones:   313.25, -392
//   1..8:   600 + 9 + 30 - 5 + 7 + 22 = 663;  20 - 2800 = -2780
//   e1:     (300, 2)       e6: (1, -400)
func.func @sparse_affine() {
  %c = arith.constant dense<[[0.0, 300.0, 3.0, 7.5, -1.0, 0.0, 1.0, 2.75],
                             [2.0, 2.0, 2.0, 2.0, 0.0, 0.0, -400.0, 0.0]]> : tensor<2x8xf32>
  %w = mixq.quantize %c : tensor<2x8xf32> -> !mixq.qtensor<2x8, #mixq.sparse<#mixq.affine<bits = 4, group = 4>, frac = 0.125>>
  call @print_affine(%w) : (!mixq.qtensor<2x8, #mixq.sparse<#mixq.affine<bits = 4, group = 4>, frac = 0.125>>) -> ()
  %a = arith.constant 1 : index
  %b = arith.constant 6 : index
  %x = call @inputs(%a, %b) : (index, index) -> tensor<4x8xf32>
  %y = mixq.matmul %x, %w : tensor<4x8xf32>, !mixq.qtensor<2x8, #mixq.sparse<#mixq.affine<bits = 4, group = 4>, frac = 0.125>> -> tensor<4x2xf32>
  %u = tensor.cast %y : tensor<4x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 8]
// CHECK-NEXT: {{\[\[}}0, {{ *}}300, {{ *}}3, {{ *}}7.5, {{ *}}-1, {{ *}}0, {{ *}}1, {{ *}}2.75],
// CHECK-NEXT: {{ \[}}2, {{ *}}2, {{ *}}2, {{ *}}2, {{ *}}0, {{ *}}0, {{ *}}-400, {{ *}}0]]
// CHECK-LABEL: rank = 2 offset = 0 sizes = [4, 2]
// CHECK-NEXT: {{\[\[}}313.25, {{ *}}-392],
// CHECK-NEXT: {{ \[}}663, {{ *}}-2780],
// CHECK-NEXT: {{ \[}}300, {{ *}}2],
// CHECK-NEXT: {{ \[}}1, {{ *}}-400]]

// The test-only #mixq_test.fp4 (e2m1 codes, scale = max|w| / 6 per group of
// 8) composes like the built-in schemes: the outliers 1000 at (0, 7) and
// -700 at (1, 2) are masked to 6 and -6, both rows then have scale 1 and
// e2m1 values only, and the residuals 994 and -694 are exact in fp16.
//   W = [6, 3, 1, -2, 0.5, 4, 0, 1000; -1.5, 2, -700, 1, 1.5, -3, -6, 0.5]
//   ones:   1012.5, -705.5
//   1..8:   6 + 6 + 3 - 8 + 2.5 + 24 + 8000 = 8033.5;
//           -1.5 + 4 - 2100 + 4 + 7.5 - 18 - 42 + 4 = -2142
//   e7:     (1000, 0.5)    e2: (1, -700)
func.func @sparse_fp4() {
  %c = arith.constant dense<[[6.0, 3.0, 1.0, -2.0, 0.5, 4.0, 0.0, 1000.0],
                             [-1.5, 2.0, -700.0, 1.0, 1.5, -3.0, -6.0, 0.5]]> : tensor<2x8xf32>
  %w = mixq.quantize %c : tensor<2x8xf32> -> !mixq.qtensor<2x8, #mixq.sparse<#mixq_test.fp4<group = 8>, frac = 0.125>>
  %a = arith.constant 7 : index
  %b = arith.constant 2 : index
  %x = call @inputs(%a, %b) : (index, index) -> tensor<4x8xf32>
  %y = mixq.matmul %x, %w : tensor<4x8xf32>, !mixq.qtensor<2x8, #mixq.sparse<#mixq_test.fp4<group = 8>, frac = 0.125>> -> tensor<4x2xf32>
  %u = tensor.cast %y : tensor<4x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [4, 2]
// CHECK-NEXT: {{\[\[}}1012.5, {{ *}}-705.5],
// CHECK-NEXT: {{ \[}}8033.5, {{ *}}-2142],
// CHECK-NEXT: {{ \[}}1000, {{ *}}0.5],
// CHECK-NEXT: {{ \[}}1, {{ *}}-700]]

func.func @main() {
  call @sparse_lut() : () -> ()
  call @sparse_affine() : () -> ()
  call @sparse_fp4() : () -> ()
  return
}
