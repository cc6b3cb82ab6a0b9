// The pipelined GEMV-like kernel lowers with upstream passes to PTX with
// 16-byte cp.async.cg copies (zero-filling ones past the end: src-size
// operand), one commit per tile and a wait for all but the newest group.
// The shared read carries {alignment = 16}: behind the multi-buffer subview
// its offset is dynamic, and without it LLVM splits it into 4 scalar loads.
// The PTX is an escaped string (\09 is a tab). mlir-opt does the binary
// step: mixq-opt registers no GPU-to-LLVM-IR translations.
// RUN: mixq-opt %s --pass-pipeline='builtin.module(gpu.module(gpu.func(mixq-pipeline-async-copies{stages=3})), gpu.module(expand-strided-metadata, lower-affine, convert-scf-to-cf, convert-nvgpu-to-nvvm, convert-gpu-to-nvvm), reconcile-unrealized-casts)' \
// RUN:   | mlir-opt --gpu-module-to-binary=format=isa | FileCheck %s

// CHECK: gpu.binary @kernels
// The 3 x 128 x i32 buffers, 16-byte aligned as 16-byte cp.async needs.
// CHECK-SAME: .shared .align 16 .b8 __wg_gemv_0[1536]
// Prologue: two tiles in flight.
// CHECK-SAME: cp.async.cg.shared.global [{{[^]]+}}], [{{[^]]+}}], 16, %r{{[0-9]+}};
// CHECK-SAME: cp.async.commit_group;
// CHECK-SAME: cp.async.cg.shared.global [{{[^]]+}}], [{{[^]]+}}], 16, %r{{[0-9]+}};
// CHECK-SAME: cp.async.commit_group;
// Steady state.
// CHECK-SAME: cp.async.wait_group {{\\09}}1;
// CHECK-SAME: bar.sync {{\\09}}0;
// CHECK-SAME: ld.shared.v4.b32
// CHECK-SAME: cp.async.cg.shared.global [{{[^]]+}}], [{{[^]]+}}], 16, %r{{[0-9]+}};
// CHECK-SAME: cp.async.commit_group;
// Drain.
// CHECK-SAME: cp.async.commit_group;
// CHECK-SAME: cp.async.wait_group {{\\09}}0;

#ws = #gpu.address_space<workgroup>
module attributes {gpu.container_module} {
  gpu.module @kernels [#nvvm.target<chip = "sm_80", features = "+ptx80">] {
    gpu.func @gemv(%codes: memref<?x?xi32>, %out: memref<?x128xi32>, %k_tiles: index) kernel {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c4 = arith.constant 4 : index
      %c124 = arith.constant 124 : index
      %c128 = arith.constant 128 : index
      %zero = arith.constant dense<0> : vector<4xi32>
      %pad = arith.constant 0 : i32
      %row = gpu.block_id x
      %tid = gpu.thread_id x
      %tile = memref.alloc() : memref<128xi32, #ws>
      %lane = arith.muli %tid, %c4 : index
      %peer = arith.subi %c124, %lane : index
      %sum = scf.for %k = %c0 to %k_tiles step %c1 iter_args(%acc = %zero) -> (vector<4xi32>) {
        %base = arith.muli %k, %c128 : index
        %col = arith.addi %base, %lane : index
        %v = vector.transfer_read %codes[%row, %col], %pad {in_bounds = [true]} : memref<?x?xi32>, vector<4xi32>
        vector.transfer_write %v, %tile[%lane] {in_bounds = [true]} : vector<4xi32>, memref<128xi32, #ws>
        gpu.barrier
        %w = vector.load %tile[%peer] {alignment = 16} : memref<128xi32, #ws>, vector<4xi32>
        %next = arith.addi %acc, %w : vector<4xi32>
        scf.yield %next : vector<4xi32>
      }
      vector.store %sum, %out[%row, %lane] : memref<?x128xi32>, vector<4xi32>
      gpu.return
    }
  }
}
