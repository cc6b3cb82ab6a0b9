// End-to-end check of #mixq.bitplane through the reference lowering: an fp32
// constant is quantized by folding mixq.quantize (the host quantizer, see
// fold-quantize.mlir @fold_bitplane for its components), lowered with
// --mixq-lower-to-linalg and run on the CPU (mlir-runner) at both widths.
// The matrix is exact at the parent width and its width-2 values are the
// cluster means, so every product is computed by hand.
//
// RUN: mixq-opt %s --mixq-reference-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s
//
// The same through the CPU backend's vector form (the codes a word of each
// plane at a time, the LUT lookups one vector.gather), with the same
// results:
// RUN: mixq-opt %s --mixq-reference-to-llvm=dequant-vector-width=16 \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s
// and with the lookups permuting registers of 2 LUT entries (the width-2
// LUT in two pieces, the width-3 one in four):
// RUN: mixq-opt %s --mixq-reference-to-llvm="dequant-vector-width=16 register-table-entries=2" \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s
// RUN: mixq-opt %s --mixq-lower-to-linalg=dequant-vector-width=16 \
// RUN: | FileCheck %s --check-prefix=VECTOR
// VECTOR: vector.gather {{.*}} : tensor<2x{{4|8}}xf16>, vector<16xi32>, vector<16xi1>, vector<16xf16> into vector<16xf16>

func.func private @printMemrefF32(tensor<*xf32>)

// seed = 2, parent = 3, 2 x 16:
//   row 0: the 8 values 0 1 10 11 20 21 30 31, twice each: the 4 seed
//          clusters are the pairs {0, 1} ... {30, 31} (means 0.5, 10.5,
//          20.5, 30.5) and each splits into its two values.
//   row 1: the 4 values -2 0 1 5, four times each: one value per seed
//          cluster, kept by both children at width 3.
// x = [ones; 1 .. 16; e0; e3]:
//   width 3 (exact): ones -> (248, 16), 1..16 -> (2108, 136),
//                    e0 -> (0, -2), e3 -> (21, 5)
//   width 2 (means): ones -> (248, 16) (each pair occurs twice in row 0),
//                    1..16 -> (2108, 136), e0 -> (0.5, -2), e3 -> (20.5, 5)
func.func @bitplane(%x: tensor<4x16xf32>) {
  %c = arith.constant dense<[[0.0, 31.0, 10.0, 21.0, 1.0, 30.0, 11.0, 20.0, 20.0, 11.0, 30.0, 1.0, 21.0, 10.0, 31.0, 0.0],
                             [-2.0, 0.0, 1.0, 5.0, 5.0, 1.0, 0.0, -2.0, -2.0, 0.0, 1.0, 5.0, 5.0, 1.0, 0.0, -2.0]]> : tensor<2x16xf32>
  %w3 = mixq.quantize %c : tensor<2x16xf32>
      -> !mixq.qtensor<2x16, #mixq.bitplane<seed = 2, parent = 3>>
  %w2 = mixq.quantize %c : tensor<2x16xf32>
      -> !mixq.qtensor<2x16, #mixq.bitplane<seed = 2, parent = 3, width = 2>>
  %y3 = mixq.matmul %x, %w3 : tensor<4x16xf32>,
      !mixq.qtensor<2x16, #mixq.bitplane<seed = 2, parent = 3>> -> tensor<4x2xf32>
  %y2 = mixq.matmul %x, %w2 : tensor<4x16xf32>,
      !mixq.qtensor<2x16, #mixq.bitplane<seed = 2, parent = 3, width = 2>> -> tensor<4x2xf32>
  %u3 = tensor.cast %y3 : tensor<4x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u3) : (tensor<*xf32>) -> ()
  %u2 = tensor.cast %y2 : tensor<4x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u2) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [4, 2]
// CHECK-NEXT: {{\[\[}}248, {{ *}}16],
// CHECK-NEXT: {{ \[}}2108, {{ *}}136],
// CHECK-NEXT: {{ \[}}0, {{ *}}-2],
// CHECK-NEXT: {{ \[}}21, {{ *}}5]]
// CHECK-LABEL: rank = 2 offset = 0 sizes = [4, 2]
// CHECK-NEXT: {{\[\[}}248, {{ *}}16],
// CHECK-NEXT: {{ \[}}2108, {{ *}}136],
// CHECK-NEXT: {{ \[}}0.5, {{ *}}-2],
// CHECK-NEXT: {{ \[}}20.5, {{ *}}5]]

func.func @main() {
  %x = arith.constant dense<[
      [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
      [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0],
      [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
      [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<4x16xf32>
  call @bitplane(%x) : (tensor<4x16xf32>) -> ()
  return
}
