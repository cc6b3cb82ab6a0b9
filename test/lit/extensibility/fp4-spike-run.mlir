// The test-only #mixq_test.fp4 with `spike = true` (each row's largest
// weight keeps an fp16 residual in a one-entry-per-row CSR) runs end to end
// on the CPU: through the reference lowering (buildDequantTile adds the
// spike per weight) and through the CPU backend's vector form (the dense
// words, then buildSparseDot after the row's reduction). Both give the
// hand-computed products. Hand-packed components, 2 x 16, group 16:
//   row 0: codes 0x0 .. 0x7 twice (word 0x76543210 = 1985229328), scale 0.5:
//          0 0.25 0.5 0.75 1 1.5 2 3, twice; spike +2.5 at column 3
//   row 1: codes 0x8 .. 0xF twice (word 0xFEDCBA98 = -19088744), scale 2:
//          -0 -1 -2 -3 -4 -6 -8 -12, twice; spike -1 at column 10
//   x = all ones: y0 = 2 * 9 + 2.5 = 20.5,   y1 = 2 * -36 - 1 = -73
//   x = e3:       y0 = 0.75 + 2.5 = 3.25,    y1 = -3
//
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s --mixq-reference-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s --mixq-reference-to-llvm=dequant-vector-width=16 \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s --mixq-lower-to-linalg=dequant-vector-width=16 \
// RUN: | FileCheck %s --check-prefix=VECTOR

func.func private @printMemrefF32(tensor<*xf32>)

// VECTOR-LABEL: func.func @main
// VECTOR: vector.fma
// VECTOR: vector.reduction <add>
// VECTOR: scf.for {{.*}} -> (f32)
func.func @main() {
  %codes = arith.constant dense<[[1985229328, 1985229328], [-19088744, -19088744]]> : tensor<2x2xi32>
  %scales = arith.constant dense<[[0.5], [2.0]]> : tensor<2x1xf16>
  %ptr = arith.constant dense<[0, 1, 2]> : tensor<3xi32>
  %cols = arith.constant dense<[3, 10]> : tensor<2xi32>
  %vals = arith.constant dense<[2.5, -1.0]> : tensor<2xf16>
  %w = mixq.assemble %codes, %scales, %ptr, %cols, %vals
      : tensor<2x2xi32>, tensor<2x1xf16>, tensor<3xi32>, tensor<2xi32>, tensor<2xf16>
      -> !mixq.qtensor<2x16, #mixq_test.fp4<group = 16, spike = true>>
  %x = arith.constant dense<[[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
                             [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<2x16xf32>
  %y = mixq.matmul %x, %w : tensor<2x16xf32>, !mixq.qtensor<2x16, #mixq_test.fp4<group = 16, spike = true>> -> tensor<2x2xf32>
  %u = tensor.cast %y : tensor<2x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK: rank = 2 offset = 0 sizes = [2, 2]
// CHECK-NEXT: {{\[\[}}20.5, {{ *}}-73],
// CHECK-NEXT: {{ \[}}3.25, {{ *}}-3]]
