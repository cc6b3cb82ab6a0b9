// Extensibility proof, sparse terms: #mixq_test.fp4<spike = true> (test/lib)
// implements buildSparseDot, and the generic CUDA GEMV generator, which
// names no scheme, adds its terms after the K loop (8 rows: split-K over
// the 4 warps of a block, so each lane takes every 128th
// entry of its row's CSR slice), before the warp reduction. The K loop
// itself reads no CSR component.
// RUN: mixq-opt %s -mixq-build-gpu-kernels="max-tokens=16 chips=sm_90" | FileCheck %s
// RUN: mixq-opt %s | mixq-opt | FileCheck %s --check-prefix=ROUNDTRIP

// ROUNDTRIP: !mixq.qtensor<8x64, #mixq_test.fp4<group = 32, spike = true>>
// CHECK-LABEL: gpu.func @k_fp4_spike(
// CHECK-SAME: %{{.*}}: memref<1x64xf16>, %{{.*}}: memref<8x8xi32>, %{{.*}}: memref<8x2xf16>, %[[PTR:[^:]*]]: memref<9xi32>, %[[COLS:[^:]*]]: memref<8xi32>, %[[VALS:[^:]*]]: memref<8xf16>
// CHECK: scf.for {{.*}} iter_args
// CHECK-NOT: memref.load %[[COLS]]
// CHECK: math.fma
// CHECK: scf.yield
// CHECK: memref.load %[[PTR]]
// CHECK: memref.load %[[PTR]]
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c128 iter_args(%{{.*}}) -> (f32)
// CHECK: memref.load %[[COLS]]
// CHECK: memref.load %[[VALS]]
// CHECK: arith.mulf
// CHECK: gpu.shuffle
func.func private @k_fp4_spike(%x: tensor<1x64xf16>, %w: !mixq.qtensor<8x64, #mixq_test.fp4<group = 32, spike = true>>) -> tensor<1x8xf16> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x64xf16>, !mixq.qtensor<8x64, #mixq_test.fp4<group = 32, spike = true>> -> tensor<1x8xf16>
  return %0 : tensor<1x8xf16>
}
