// Extensibility proof, sparse terms: #mixq_test.fp4<spike = true> (test/lib)
// implements buildSparseDot, and the generic CUDA GEMV generators, which
// name no scheme, add its terms after the K loop. The K loop itself reads
// no CSR component.
//
// On tensor cores (f16, the default): 8 rows in one warp group, split-K
// over the 4 warps of a block, 4 lanes a row, so each lane takes every 16th
// entry of its row's CSR slice, for each of its two rows (lane / 4 and
// lane / 4 + 8), summed over the row's lanes by two xor shuffles. With
// tensor-core-gemv=false: a lane takes every 128th entry (32 lanes a row),
// before the warp reduction.
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s -mixq-build-gpu-kernels="max-tokens=16 chips=sm_90" | FileCheck %s
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s -mixq-build-gpu-kernels="max-tokens=16 chips=sm_90 tensor-core-gemv=false" | FileCheck %s --check-prefix=FMA
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s | mixq-opt --load-dialect-plugin=%fp4_plugin | FileCheck %s --check-prefix=ROUNDTRIP

// ROUNDTRIP: !mixq.qtensor<8x64, #mixq_test.fp4<group = 32, spike = true>>
// CHECK-LABEL: gpu.func @k_fp4_spike(
// CHECK-SAME: %{{.*}}: memref<1x64xf16>, %{{.*}}: memref<8x8xi32> {mixq.weight}, %{{.*}}: memref<8x2xf16> {mixq.weight}, %[[PTR:[^:]*]]: memref<9xi32> {mixq.weight}, %[[COLS:[^:]*]]: memref<8xi32> {mixq.weight}, %[[VALS:[^:]*]]: memref<8xf16> {mixq.weight}
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<2x2xf32>)
// CHECK-NOT: memref.load %[[COLS]]
// CHECK: nvgpu.mma.sync
// CHECK: scf.yield
// CHECK: memref.load %[[PTR]]
// CHECK: memref.load %[[PTR]]
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c16{{.*}} iter_args(%{{.*}}) -> (f32)
// CHECK: memref.load %[[COLS]]
// CHECK: memref.load %[[VALS]]
// CHECK: arith.mulf
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c16{{.*}} iter_args(%{{.*}}) -> (f32)

// FMA-LABEL: gpu.func @k_fp4_spike(
// FMA-SAME: %{{.*}}: memref<1x64xf16>, %{{.*}}: memref<8x8xi32> {mixq.weight}, %{{.*}}: memref<8x2xf16> {mixq.weight}, %[[PTR:[^:]*]]: memref<9xi32> {mixq.weight}, %[[COLS:[^:]*]]: memref<8xi32> {mixq.weight}, %[[VALS:[^:]*]]: memref<8xf16> {mixq.weight}
// FMA: scf.for {{.*}} iter_args
// FMA-NOT: memref.load %[[COLS]]
// FMA: math.fma
// FMA: scf.yield
// FMA: memref.load %[[PTR]]
// FMA: memref.load %[[PTR]]
// FMA: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c128 iter_args(%{{.*}}) -> (f32)
// FMA: memref.load %[[COLS]]
// FMA: memref.load %[[VALS]]
// FMA: arith.mulf
// FMA: gpu.shuffle
func.func private @k_fp4_spike(%x: tensor<1x64xf16>, %w: !mixq.qtensor<8x64, #mixq_test.fp4<group = 32, spike = true>>) -> tensor<1x8xf16> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x64xf16>, !mixq.qtensor<8x64, #mixq_test.fp4<group = 32, spike = true>> -> tensor<1x8xf16>
  return %0 : tensor<1x8xf16>
}
