// The test-only #mixq_test.fp4 scheme runs end to end on the CPU through the
// generic reference lowering. Hand-packed codes (not produced by the quantizer):
//   row 0: codes 0x0 0x1 0x2 0x3 0x4 0x5 0x6 0x7 -> 0 0.5 1 1.5 2 3 4 6, scale 0.5
//          word 0x76543210 = 1985229328
//   row 1: codes 0x8..0xF -> -0 -0.5 -1 -1.5 -2 -3 -4 -6, scale 2
//          word 0xFEDCBA98 = -19088744
//   x = 1 0 0 0 0 0 0 1:  y0 = (0 + 6) * 0.5 = 3,  y1 = (-0 - 6) * 2 = -12
//   x = all ones:         y0 = 18 * 0.5 = 9,       y1 = -18 * 2 = -36
//
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s --mixq-reference-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)

func.func @main() {
  %codes = arith.constant dense<[[1985229328], [-19088744]]> : tensor<2x1xi32>
  %scales = arith.constant dense<[[0.5], [2.0]]> : tensor<2x1xf16>
  %w = mixq.assemble %codes, %scales : tensor<2x1xi32>, tensor<2x1xf16>
      -> !mixq.qtensor<2x8, #mixq_test.fp4<group = 8>>
  %x = arith.constant dense<[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
                             [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]> : tensor<2x8xf32>
  %y = mixq.matmul %x, %w : tensor<2x8xf32>, !mixq.qtensor<2x8, #mixq_test.fp4<group = 8>> -> tensor<2x2xf32>
  %u = tensor.cast %y : tensor<2x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK: rank = 2 offset = 0 sizes = [2, 2]
// CHECK-NEXT: {{\[\[}}3, {{ *}}-12],
// CHECK-NEXT: {{ \[}}9, {{ *}}-36]]
