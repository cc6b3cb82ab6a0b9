// End-to-end check of the reference lowering: hand-packed int4, int2 and
// int3 weights are multiplied on the CPU (mlir-runner) and compared with
// results computed by hand below. Nothing here is produced by the quantizer.
//
// RUN: mixq-opt %s --mixq-reference-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)

// int4, asymmetric, group 4, f16 scales and zeros: w = (q - z) * s.
//   row 0: q = 0 1 2 3 | 15 14 13 12   s = 0.5, z = 8 | s = 0.25, z = 0
//          w = -4 -3.5 -3 -2.5 | 3.75 3.5 3.25 3
//   row 1: q = 8 8 8 8 | 1 2 4 8       s = 2, z = 8   | s = 1, z = 1
//          w = 0 0 0 0 | 0 1 3 7
// Codes are 4-bit nibbles, LSB first: row 0 = 0xCDEF3210 = -839962096,
// row 1 = 0x84218888 = -2078177144.
//   x row 0 = all ones:        y = (-13 + 13.5, 11)   = (0.5, 11)
//   x row 1 = e0 + 2 * e7:     y = (-4 + 2*3, 0 + 2*7) = (2, 14)
func.func @int4() {
  %codes = arith.constant dense<[[-839962096], [-2078177144]]> : tensor<2x1xi32>
  %scales = arith.constant dense<[[0.5, 0.25], [2.0, 1.0]]> : tensor<2x2xf16>
  %zeros = arith.constant dense<[[8.0, 0.0], [8.0, 1.0]]> : tensor<2x2xf16>
  %w = mixq.assemble %codes, %scales, %zeros
      : tensor<2x1xi32>, tensor<2x2xf16>, tensor<2x2xf16>
      -> !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>>
  %x = arith.constant dense<[[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
                             [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0]]> : tensor<2x8xf32>
  %y = mixq.matmul %x, %w : tensor<2x8xf32>,
      !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>> -> tensor<2x2xf32>
  %u = tensor.cast %y : tensor<2x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 2]
// CHECK-NEXT: {{\[\[}}0.5, {{ *}}11],
// CHECK-NEXT: {{ \[}}2, {{ *}}14]]

// int2, symmetric, group 8, f16 scales: w = (q - 2) * s.
//   row 0: q = 0 1 2 3 0 1 2 3 | same   s = 1 | s = 0.5
//          w = -2 -1 0 1 -2 -1 0 1 | -1 -0.5 0 0.5 -1 -0.5 0 0.5
//   row 1: q = 3 everywhere             s = 2 | s = 4  ->  w = 2 ... | 4 ...
// Byte 0 1 2 3 in 2-bit fields is 0b11100100 = 0xE4, so row 0 = 0xE4E4E4E4
// = -454761244; row 1 = 0xFFFFFFFF = -1.
//   x = 1 (x8) | 2 (x8):  y0 = -4 + 2*(-2) = -8,  y1 = 8*2 + 2*(8*4) = 80
func.func @int2() {
  %codes = arith.constant dense<[[-454761244], [-1]]> : tensor<2x1xi32>
  %scales = arith.constant dense<[[1.0, 0.5], [2.0, 4.0]]> : tensor<2x2xf16>
  %w = mixq.assemble %codes, %scales : tensor<2x1xi32>, tensor<2x2xf16>
      -> !mixq.qtensor<2x16, #mixq.affine<bits = 2, group = 8, symmetric = true>>
  %x = arith.constant dense<[[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
                              2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]]> : tensor<1x16xf32>
  %y = mixq.matmul %x, %w : tensor<1x16xf32>,
      !mixq.qtensor<2x16, #mixq.affine<bits = 2, group = 8, symmetric = true>>
      -> tensor<1x2xf32>
  %u = tensor.cast %y : tensor<1x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [1, 2]
// CHECK-NEXT: {{\[\[}}-8, {{ *}}80]]

// int3, symmetric, one group of 32, f32 scale 1: w = q - 4, q = col % 8.
// Codes 0..7 in 3-bit fields make the 24-bit block 0o76543210 = 0xFAC688;
// the stream repeats it, so codes 10 and 21 straddle words 0/1 and 1/2:
//   word 0 = 0x88FAC688 = -1996831096
//   word 1 = 0xC688FAC6 = -964101434
//   word 2 = 0xFAC688FA = -87652102
//   x = ones:  y = 4 * (0+1+...+7) - 32*4 = -16
//   x = e10:   y = 10 % 8 - 4 = -2        x = e21:  y = 21 % 8 - 4 = 1
func.func @int3() {
  %codes = arith.constant dense<[[-1996831096, -964101434, -87652102]]> : tensor<1x3xi32>
  %scales = arith.constant dense<[[1.0]]> : tensor<1x1xf32>
  %w = mixq.assemble %codes, %scales : tensor<1x3xi32>, tensor<1x1xf32>
      -> !mixq.qtensor<1x32, #mixq.affine<bits = 3, group = 32, symmetric = true, scale = f32>>
  %ones = arith.constant dense<1.0> : tensor<1x32xf32>
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %c0 = arith.constant 0 : index
  %c10 = arith.constant 10 : index
  %c21 = arith.constant 21 : index
  %empty = tensor.empty() : tensor<2x32xf32>
  %z = linalg.fill ins(%zero : f32) outs(%empty : tensor<2x32xf32>) -> tensor<2x32xf32>
  %e10 = tensor.insert %one into %z[%c0, %c10] : tensor<2x32xf32>
  %c1 = arith.constant 1 : index
  %onehot = tensor.insert %one into %e10[%c1, %c21] : tensor<2x32xf32>
  %x = tensor.concat dim(0) %ones, %onehot : (tensor<1x32xf32>, tensor<2x32xf32>) -> tensor<3x32xf32>
  %y = mixq.matmul %x, %w : tensor<3x32xf32>,
      !mixq.qtensor<1x32, #mixq.affine<bits = 3, group = 32, symmetric = true, scale = f32>>
      -> tensor<3x1xf32>
  %u = tensor.cast %y : tensor<3x1xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [3, 1]
// CHECK-NEXT: {{\[\[}}-16],
// CHECK-NEXT: {{ \[}}-2],
// CHECK-NEXT: {{ \[}}1]]

func.func @main() {
  call @int4() : () -> ()
  call @int2() : () -> ()
  call @int3() : () -> ()
  return
}
