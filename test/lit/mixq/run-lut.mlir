// End-to-end check of #mixq.lut through the reference lowering: hand-packed
// 2-, 3- and 4-bit codebook weights are multiplied on the CPU (mlir-runner)
// and compared with results computed by hand below (w = lut[row, code]).
// Nothing here is produced by the quantizer.
//
// RUN: mixq-opt %s --mixq-reference-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s
//
// The same through the CPU backend's vector form with the lookups permuting
// registers of the codebook (register-table-entries; @lut2 is too narrow
// for 16-column tiles and stays on the reference path): at 8 entries a
// register, @lut3's table is one register and @lut4's two, selected by the
// codes' top bit; at 4, @lut3's is two and @lut4's four (two levels of
// selects); at 2, @lut3's is four and @lut4's too large, a vector.gather.
// RUN: mixq-opt %s --mixq-reference-to-llvm="dequant-vector-width=16 register-table-entries=8" \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s
// RUN: mixq-opt %s --mixq-reference-to-llvm="dequant-vector-width=16 register-table-entries=4" \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s
// RUN: mixq-opt %s --mixq-reference-to-llvm="dequant-vector-width=16 register-table-entries=2" \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)

// 2 bits, 2 x 8:
//   row 0: lut = -1 0 1 2     codes = 0 1 2 3 3 2 1 0
//          w   = -1 0 1 2 2 1 0 -1
//   row 1: lut = -3 0.5 4 8   codes = 1 1 2 2 0 0 3 3
//          w   = 0.5 0.5 4 4 -3 -3 8 8
// 2-bit fields LSB first: row 0 = 0x1BE4 = 7140, row 1 = 0xF0A5 = 61605.
//   x row 0 = ones:     y = (4, 19)
//   x row 1 = 1 .. 8:   y0 = -1 + 0 + 3 + 8 + 10 + 6 + 0 - 8 = 18
//                       y1 = 0.5 + 1 + 12 + 16 - 15 - 18 + 56 + 64 = 116.5
func.func @lut2() {
  %codes = arith.constant dense<[[7140], [61605]]> : tensor<2x1xi32>
  %lut = arith.constant dense<[[-1.0, 0.0, 1.0, 2.0], [-3.0, 0.5, 4.0, 8.0]]> : tensor<2x4xf16>
  %w = mixq.assemble %codes, %lut : tensor<2x1xi32>, tensor<2x4xf16>
      -> !mixq.qtensor<2x8, #mixq.lut<bits = 2>>
  %x = arith.constant dense<[[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
                             [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]> : tensor<2x8xf32>
  %y = mixq.matmul %x, %w : tensor<2x8xf32>,
      !mixq.qtensor<2x8, #mixq.lut<bits = 2>> -> tensor<2x2xf32>
  %u = tensor.cast %y : tensor<2x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 2]
// CHECK-NEXT: {{\[\[}}4, {{ *}}19],
// CHECK-NEXT: {{ \[}}18, {{ *}}116.5]]

// 3 bits, 1 x 32, lut[j] = j^2 - 3 = -3 -2 1 6 13 22 33 46, code = col % 8.
// Codes 0..7 in 3-bit fields make the 24-bit block 0o76543210 = 0xFAC688;
// the stream repeats it, so codes 10 and 21 straddle words 0/1 and 1/2:
//   word 0 = 0x88FAC688 = -1996831096
//   word 1 = 0xC688FAC6 = -964101434
//   word 2 = 0xFAC688FA = -87652102
//   x = ones:  y = 4 * (-3 - 2 + 1 + 6 + 13 + 22 + 33 + 46) = 4 * 116 = 464
//   x = e10:   y = lut[10 % 8] = lut[2] = 1
//   x = e21:   y = lut[21 % 8] = lut[5] = 22
func.func @lut3() {
  %codes = arith.constant dense<[[-1996831096, -964101434, -87652102]]> : tensor<1x3xi32>
  %lut = arith.constant dense<[[-3.0, -2.0, 1.0, 6.0, 13.0, 22.0, 33.0, 46.0]]> : tensor<1x8xf16>
  %w = mixq.assemble %codes, %lut : tensor<1x3xi32>, tensor<1x8xf16>
      -> !mixq.qtensor<1x32, #mixq.lut<bits = 3>>
  %ones = arith.constant dense<1.0> : tensor<1x32xf32>
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c10 = arith.constant 10 : index
  %c21 = arith.constant 21 : index
  %empty = tensor.empty() : tensor<2x32xf32>
  %z = linalg.fill ins(%zero : f32) outs(%empty : tensor<2x32xf32>) -> tensor<2x32xf32>
  %e10 = tensor.insert %one into %z[%c0, %c10] : tensor<2x32xf32>
  %onehot = tensor.insert %one into %e10[%c1, %c21] : tensor<2x32xf32>
  %x = tensor.concat dim(0) %ones, %onehot : (tensor<1x32xf32>, tensor<2x32xf32>) -> tensor<3x32xf32>
  %y = mixq.matmul %x, %w : tensor<3x32xf32>,
      !mixq.qtensor<1x32, #mixq.lut<bits = 3>> -> tensor<3x1xf32>
  %u = tensor.cast %y : tensor<3x1xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [3, 1]
// CHECK-NEXT: {{\[\[}}464],
// CHECK-NEXT: {{ \[}}1],
// CHECK-NEXT: {{ \[}}22]]

// 4 bits, 1 x 16, lut[j] = j / 2 = 0 0.5 ... 7.5, code = 15 - col, so
// w = (15 - col) / 2 = 7.5 7 ... 0.
// Nibbles LSB first: word 0 = 0x89ABCDEF = -1985229329,
// word 1 = 0x01234567 = 19088743.
//   x = ones:     y = (0 + 0.5 + ... + 7.5) = 60
//   x = 1 .. 16:  y = sum_c (c + 1) (15 - c) / 2 = 680 / 2 = 340
func.func @lut4() {
  %codes = arith.constant dense<[[-1985229329, 19088743]]> : tensor<1x2xi32>
  %lut = arith.constant dense<[[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5,
                                4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5]]> : tensor<1x16xf16>
  %w = mixq.assemble %codes, %lut : tensor<1x2xi32>, tensor<1x16xf16>
      -> !mixq.qtensor<1x16, #mixq.lut<bits = 4>>
  %x = arith.constant dense<[[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
                              1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
                             [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0,
                              9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0]]> : tensor<2x16xf32>
  %y = mixq.matmul %x, %w : tensor<2x16xf32>,
      !mixq.qtensor<1x16, #mixq.lut<bits = 4>> -> tensor<2x1xf32>
  %u = tensor.cast %y : tensor<2x1xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 1]
// CHECK-NEXT: {{\[\[}}60],
// CHECK-NEXT: {{ \[}}340]]

// The same 2-bit matrix as @lut2, this time produced by folding
// mixq.quantize of the fp32 constant (see fold-quantize.mlir @fold_lut2: the
// codebook reproduces every weight exactly), with x = 1 .. 8.
func.func @lut2_quantized() {
  %c = arith.constant dense<[[-1.0, 0.0, 1.0, 2.0, 2.0, 1.0, 0.0, -1.0],
                             [0.5, 0.5, 4.0, 4.0, -3.0, -3.0, 8.0, 8.0]]> : tensor<2x8xf32>
  %w = mixq.quantize %c : tensor<2x8xf32>
      -> !mixq.qtensor<2x8, #mixq.lut<bits = 2>>
  %x = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]> : tensor<1x8xf32>
  %y = mixq.matmul %x, %w : tensor<1x8xf32>,
      !mixq.qtensor<2x8, #mixq.lut<bits = 2>> -> tensor<1x2xf32>
  %u = tensor.cast %y : tensor<1x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [1, 2]
// CHECK-NEXT: {{\[\[}}18, {{ *}}116.5]]

func.func @main() {
  call @lut2() : () -> ()
  call @lut3() : () -> ()
  call @lut4() : () -> ()
  call @lut2_quantized() : () -> ()
  return
}
