// RUN: mixq-opt %s -split-input-file -mixq-pipeline-async-copies=stages=3 -verify-diagnostics | FileCheck %s --check-prefixes=CHECK,S3
// RUN: mixq-opt %s -split-input-file -mixq-pipeline-async-copies=stages=2 2>/dev/null | FileCheck %s --check-prefixes=CHECK,S2
// RUN: mixq-opt %s -split-input-file -mixq-pipeline-async-copies=stages=4 2>/dev/null | FileCheck %s --check-prefixes=CHECK,S4
// RUN: mixq-opt %s -split-input-file -mixq-pipeline-async-copies=stages=1 2>/dev/null | FileCheck %s --check-prefix=S1
// RUN: mixq-opt %s -split-input-file -mixq-pipeline-async-copies='stages=2 swizzle=true' 2>/dev/null | FileCheck %s --check-prefix=SWZ
// RUN: not mixq-opt %s -split-input-file -mixq-pipeline-async-copies=stages=0 2>&1 | FileCheck %s --check-prefix=INVALID
// RUN: not mixq-opt %s -split-input-file -mixq-pipeline-async-copies=stages=-1 2>&1 | FileCheck %s --check-prefix=INVALID

// INVALID: error: mixq-pipeline-async-copies: 'stages' must be at least 1, got {{0|-1}}

// GEMV-like kernel: each of 32 threads copies 4 packed i32 codes (16 bytes)
// of the current K tile from global into a shared tile, the block syncs,
// then each thread reads another thread's codes back. The shared alloc
// becomes an N-buffered workgroup attribution.

#ws = #gpu.address_space<workgroup>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // CHECK-LABEL: gpu.func @gemv
    // S3-SAME: workgroup(%[[BUF:.*]] : memref<3x128xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
    // S2-SAME: workgroup(%[[BUF:.*]] : memref<2x128xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
    // S4-SAME: workgroup(%[[BUF:.*]] : memref<4x128xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
    // CHECK-NOT: memref.alloc
    // Prologue: stages-1 groups in flight before the loop.
    // CHECK: memref.subview %[[BUF]]
    // CHECK: nvgpu.device_async_copy {{.*}}, 4 {bypassL1} : memref<64x1024xi32> to memref<128xi32, strided<[1], offset: ?>, #gpu.address_space<workgroup>>
    // CHECK: nvgpu.device_async_create_group
    // S3: nvgpu.device_async_copy {{.*}}, 4 {bypassL1}
    // S3: nvgpu.device_async_create_group
    // S4-COUNT-2: nvgpu.device_async_copy {{.*}}, 4 {bypassL1}
    // CHECK-NOT: nvgpu.device_async_wait
    // Steady state: wait for the oldest group, barrier, compute on it, then
    // issue the (predicated) copies of iteration i+stages-1.
    // CHECK: scf.for %[[IV:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:[^ ]*]] = %{{[^,]*}}, %[[TOK:[^ ]*]] = %{{[^,]*}},
    // CHECK: %[[LIVE:.*]] = arith.cmpi slt, %[[IV]]
    // S2: nvgpu.device_async_wait %[[TOK]] {numGroups = 0 : i32}
    // S3: nvgpu.device_async_wait %[[TOK]] {numGroups = 1 : i32}
    // S4: nvgpu.device_async_wait %[[TOK]] {numGroups = 2 : i32}
    // CHECK-NEXT: gpu.barrier
    // CHECK-NEXT: vector.load {{.*}} : memref<128xi32, strided<[1], offset: ?>, #gpu.address_space<workgroup>>, vector<4xi32>
    // CHECK: affine.apply
    // CHECK: %[[NEXT:.*]] = memref.subview %[[BUF]]
    // CHECK: %[[SRC:.*]] = arith.select %[[LIVE]], %{{.*}}, %{{.*}} : index
    // CHECK: %[[CP:.*]] = nvgpu.device_async_copy {{.*}}, %[[NEXT]][{{.*}}], 4, %[[SRC]] {bypassL1}
    // CHECK: nvgpu.device_async_create_group %[[CP]]
    // CHECK: scf.yield
    // Drain the zero-filled groups of the iterations past the end.
    // CHECK: %[[LAST:.*]] = nvgpu.device_async_create_group{{ *$}}
    // CHECK-NEXT: nvgpu.device_async_wait %[[LAST]] {numGroups = 0 : i32}
    // CHECK-NEXT: vector.store

    // S1-LABEL: gpu.func @gemv
    // S1-SAME: workgroup(%[[BUF:.*]] : memref<128xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
    // S1: scf.for
    // S1-NEXT: arith.addi
    // S1-NEXT: %[[CP:.*]] = nvgpu.device_async_copy {{.*}}, %[[BUF]][{{.*}}], 4 {bypassL1}
    // S1-NEXT: %[[G:.*]] = nvgpu.device_async_create_group %[[CP]]
    // S1-NEXT: nvgpu.device_async_wait %[[G]] {numGroups = 0 : i32}
    // S1-NEXT: gpu.barrier
    // S1-NEXT: vector.load %[[BUF]]
    gpu.func @gemv(%codes: memref<64x1024xi32>, %out: memref<64x128xi32>) kernel {
      %c0 = arith.constant 0 : index
      %c4 = arith.constant 4 : index
      %c124 = arith.constant 124 : index
      %c128 = arith.constant 128 : index
      %c1024 = arith.constant 1024 : index
      %zero = arith.constant dense<0> : vector<4xi32>
      %pad = arith.constant 0 : i32
      %row = gpu.block_id x
      %tid = gpu.thread_id x
      %tile = memref.alloc() : memref<128xi32, #ws>
      %lane = arith.muli %tid, %c4 : index
      %peer = arith.subi %c124, %lane : index
      %sum = scf.for %k = %c0 to %c1024 step %c128 iter_args(%acc = %zero) -> (vector<4xi32>) {
        %col = arith.addi %k, %lane : index
        %v = vector.transfer_read %codes[%row, %col], %pad {in_bounds = [true]} : memref<64x1024xi32>, vector<4xi32>
        vector.transfer_write %v, %tile[%lane] {in_bounds = [true]} : vector<4xi32>, memref<128xi32, #ws>
        gpu.barrier
        %w = vector.load %tile[%peer] : memref<128xi32, #ws>, vector<4xi32>
        %next = arith.addi %acc, %w : vector<4xi32>
        scf.yield %next : vector<4xi32>
      }
      vector.store %sum, %out[%row, %lane] : memref<64x128xi32>, vector<4xi32>
      gpu.return
    }
  }
}

// -----

// Dynamic trip count, in a func.func (the alloc stays an alloc), two shared
// buffers filled by one group: 16-byte codes (cp.async.cg) and 4-byte
// scales (no bypassL1). The prologue copies are predicated on the trip count.

#ws = #gpu.address_space<workgroup>
// CHECK-LABEL: func.func @dynamic
// S3-DAG: %[[CODES:.*]] = memref.alloc() {alignment = 16 : i64} : memref<3x256xi32, #gpu.address_space<workgroup>>
// S3-DAG: %[[SCALES:.*]] = memref.alloc() {alignment = 16 : i64} : memref<3x32x2xf16, #gpu.address_space<workgroup>>
// S2-DAG: memref.alloc() {alignment = 16 : i64} : memref<2x256xi32, #gpu.address_space<workgroup>>
// S4-DAG: memref.alloc() {alignment = 16 : i64} : memref<4x32x2xf16, #gpu.address_space<workgroup>>
// CHECK: %[[P0:.*]] = arith.cmpi slt, %{{.*}}, %[[N:.*]] : index
// CHECK: %[[E0:.*]] = arith.select %[[P0]]
// CHECK: nvgpu.device_async_copy {{.*}}, 4, %[[E0]] {bypassL1} : memref<?xi32>
// CHECK: nvgpu.device_async_copy {{.*}}, 2, %{{.*}} : memref<?xf16>
// CHECK: nvgpu.device_async_create_group %{{.*}}, %{{.*}}
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[N]]
// S2: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
// S3: nvgpu.device_async_wait %{{.*}} {numGroups = 1 : i32}
// S4: nvgpu.device_async_wait %{{.*}} {numGroups = 2 : i32}
// CHECK-NEXT: gpu.barrier
// CHECK: nvgpu.device_async_create_group %{{.*}}, %{{.*}}
// CHECK: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
// CHECK: memref.dealloc %{{.*}} : memref<{{[2-4]}}x256xi32, #gpu.address_space<workgroup>>
// S1-LABEL: func.func @dynamic
// S1-DAG: memref.alloc() {alignment = 16 : i64} : memref<256xi32, #gpu.address_space<workgroup>>
// S1-DAG: memref.alloc() {alignment = 16 : i64} : memref<32x2xf16, #gpu.address_space<workgroup>>
// S1: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
func.func @dynamic(%codes: memref<?xi32>, %scales: memref<?xf16>, %n: index, %out: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %c256 = arith.constant 256 : index
  %pad = arith.constant 0 : i32
  %padh = arith.constant 0.0 : f16
  %zero = arith.constant 0.0 : f32
  %tid = gpu.thread_id x
  %codesTile = memref.alloc() : memref<256xi32, #ws>
  %scaleTile = memref.alloc() : memref<32x2xf16, #ws>
  %lane = arith.muli %tid, %c4 : index
  %slane = arith.muli %tid, %c2 : index
  %r = scf.for %k = %c0 to %n step %c1 iter_args(%acc = %zero) -> (f32) {
    %base = arith.muli %k, %c256 : index
    %col = arith.addi %base, %lane : index
    %v = vector.load %codes[%col] : memref<?xi32>, vector<4xi32>
    vector.store %v, %codesTile[%lane] : memref<256xi32, #ws>, vector<4xi32>
    %scol = arith.addi %k, %slane : index
    %s = vector.transfer_read %scales[%scol], %padh {in_bounds = [true]} : memref<?xf16>, vector<2xf16>
    vector.transfer_write %s, %scaleTile[%tid, %c0] {in_bounds = [true]} : vector<2xf16>, memref<32x2xf16, #ws>
    gpu.barrier
    %x = memref.load %codesTile[%tid] : memref<256xi32, #ws>
    %y = memref.load %scaleTile[%tid, %c1] : memref<32x2xf16, #ws>
    %xf = arith.sitofp %x : i32 to f32
    %yf = arith.extf %y : f16 to f32
    %m = arith.mulf %xf, %yf : f32
    %a = arith.addf %acc, %m : f32
    scf.yield %a : f32
  }
  memref.store %r, %out[%tid] : memref<?xf32>
  memref.dealloc %codesTile : memref<256xi32, #ws>
  return
}

// -----

// A shared read between the copies splits them into two groups per
// iteration: group k of G waits with numGroups = G*(stages-1) - 1 - k. The
// barriers stay in place among the stage stages-1 ops (the first one, in
// front of the copies, is redundant but kept).

#ws = #gpu.address_space<workgroup>
// CHECK-LABEL: func.func @two_groups
// CHECK: scf.for
// CHECK: gpu.barrier
// S2-NEXT: nvgpu.device_async_wait %{{.*}} {numGroups = 1 : i32}
// S3-NEXT: nvgpu.device_async_wait %{{.*}} {numGroups = 3 : i32}
// S4-NEXT: nvgpu.device_async_wait %{{.*}} {numGroups = 5 : i32}
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: vector.load
// S2-NEXT: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
// S3-NEXT: nvgpu.device_async_wait %{{.*}} {numGroups = 2 : i32}
// S4-NEXT: nvgpu.device_async_wait %{{.*}} {numGroups = 4 : i32}
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: vector.load
// CHECK: nvgpu.device_async_copy
// CHECK: nvgpu.device_async_create_group
// CHECK: nvgpu.device_async_copy
// CHECK: nvgpu.device_async_create_group
// CHECK-NOT: gpu.barrier
// CHECK: scf.yield
// S1-LABEL: func.func @two_groups
// S1-COUNT-2: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
func.func @two_groups(%g: memref<1024xi32>, %h: memref<1024xi32>, %o: memref<1024xi32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %tA = memref.alloc() : memref<4xi32, #ws>
  %tB = memref.alloc() : memref<4xi32, #ws>
  scf.for %k = %c0 to %n step %c4 {
    gpu.barrier
    %a = vector.load %g[%k] : memref<1024xi32>, vector<4xi32>
    vector.store %a, %tA[%c0] : memref<4xi32, #ws>, vector<4xi32>
    gpu.barrier
    %x = vector.load %tA[%c0] : memref<4xi32, #ws>, vector<4xi32>
    %b = vector.load %h[%k] : memref<1024xi32>, vector<4xi32>
    vector.store %b, %tB[%c0] : memref<4xi32, #ws>, vector<4xi32>
    gpu.barrier
    %y = vector.load %tB[%c0] : memref<4xi32, #ws>, vector<4xi32>
    %s = arith.addi %x, %y : vector<4xi32>
    vector.store %s, %o[%k] : memref<1024xi32>, vector<4xi32>
  }
  return
}

// -----

// swizzle: a 32x64xf16 tile (128-byte rows) read column-wise gets its
// 16-byte column index XOR-permuted by row, in the copies and the reads.

#ws = #gpu.address_space<workgroup>
// SWZ-LABEL: func.func @swizzle
// SWZ: memref.alloc() {alignment = 16 : i64} : memref<2x32x64xf16, #gpu.address_space<workgroup>>
// SWZ: %[[COL:.*]] = arith.xori
// SWZ: nvgpu.device_async_copy %{{.*}}, %{{.*}}[%{{.*}}, %[[COL]]], 8
// SWZ: scf.for
// SWZ: %[[RCOL:.*]] = arith.xori
// SWZ: vector.load %{{.*}}[%{{.*}}, %[[RCOL]]]
func.func @swizzle(%g: memref<4096x64xf16>, %o: memref<4096x64xf16>, %n: index) {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %c32 = arith.constant 32 : index
  %pad = arith.constant 0.0 : f16
  %tid = gpu.thread_id x
  %row = arith.divui %tid, %c8 : index
  %chunk = arith.remui %tid, %c8 : index
  %col = arith.muli %chunk, %c8 : index
  %t = memref.alloc() : memref<32x64xf16, #ws>
  scf.for %k = %c0 to %n step %c32 {
    %r = arith.addi %k, %row : index
    %v = vector.transfer_read %g[%r, %col], %pad {in_bounds = [true]} : memref<4096x64xf16>, vector<8xf16>
    vector.transfer_write %v, %t[%row, %col] {in_bounds = [true]} : vector<8xf16>, memref<32x64xf16, #ws>
    gpu.barrier
    %w = vector.load %t[%chunk, %row] : memref<32x64xf16, #ws>, vector<8xf16>
    vector.store %w, %o[%r, %col] : memref<4096x64xf16>, vector<8xf16>
  }
  return
}

// -----

// No copy into shared memory: left alone.

// CHECK-LABEL: func.func @no_copy
// CHECK-NOT: nvgpu
// CHECK: scf.for
// CHECK-NEXT: vector.transfer_read
// CHECK-NEXT: vector.transfer_write
// CHECK-NOT: nvgpu
// CHECK: return
func.func @no_copy(%a: memref<1024xf32>, %b: memref<1024xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %pad = arith.constant 0.0 : f32
  scf.for %k = %c0 to %n step %c4 {
    %v = vector.transfer_read %a[%k], %pad {in_bounds = [true]} : memref<1024xf32>, vector<4xf32>
    vector.transfer_write %v, %b[%k] {in_bounds = [true]} : vector<4xf32>, memref<1024xf32>
  }
  return
}

// -----

// Cannot be pipelined: the remarks say why, the IR is unchanged or keeps
// correct async copies that wait for everything.

#ws = #gpu.address_space<workgroup>
// CHECK-LABEL: func.func @used_after_loop
// CHECK-NOT: nvgpu
func.func @used_after_loop(%g: memref<1024xi32>, %n: index) -> vector<4xi32> {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %pad = arith.constant 0 : i32
  %t = memref.alloc() : memref<4xi32, #ws>
  // expected-remark @below {{copies not pipelined: the shared alloc is used outside the loop}}
  scf.for %k = %c0 to %n step %c4 {
    %v = vector.transfer_read %g[%k], %pad {in_bounds = [true]} : memref<1024xi32>, vector<4xi32>
    vector.transfer_write %v, %t[%c0] {in_bounds = [true]} : vector<4xi32>, memref<4xi32, #ws>
  }
  %after = vector.load %t[%c0] : memref<4xi32, #ws>, vector<4xi32>
  return %after : vector<4xi32>
}

// -----

#ws = #gpu.address_space<workgroup>
// CHECK-LABEL: func.func @reads_before_copy
// CHECK-NOT: nvgpu
func.func @reads_before_copy(%g: memref<1024xi32>, %o: memref<1024xi32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %pad = arith.constant 0 : i32
  %t = memref.alloc() : memref<4xi32, #ws>
  // expected-remark @below {{copies not pipelined: the loop reads the shared buffer before its copies overwrite it}}
  scf.for %k = %c0 to %n step %c4 {
    %w = vector.load %t[%c0] : memref<4xi32, #ws>, vector<4xi32>
    vector.store %w, %o[%k] : memref<1024xi32>, vector<4xi32>
    %v = vector.transfer_read %g[%k], %pad {in_bounds = [true]} : memref<1024xi32>, vector<4xi32>
    vector.transfer_write %v, %t[%c0] {in_bounds = [true]} : vector<4xi32>, memref<4xi32, #ws>
  }
  return
}

// -----

#ws = #gpu.address_space<workgroup>
// CHECK-LABEL: gpu.func @attribution
// CHECK-NOT: nvgpu
gpu.module @attribution_module {
  gpu.func @attribution(%g: memref<1024xi32>, %o: memref<1024xi32>, %n: index)
      workgroup(%t : memref<4xi32, #ws>) kernel {
    %c0 = arith.constant 0 : index
    %c4 = arith.constant 4 : index
    %pad = arith.constant 0 : i32
    // expected-remark @below {{copies not pipelined: a copy's shared buffer is not a memref.alloc}}
    scf.for %k = %c0 to %n step %c4 {
      %v = vector.transfer_read %g[%k], %pad {in_bounds = [true]} : memref<1024xi32>, vector<4xi32>
      vector.transfer_write %v, %t[%c0] {in_bounds = [true]} : vector<4xi32>, memref<4xi32, #ws>
      %w = vector.load %t[%c0] : memref<4xi32, #ws>, vector<4xi32>
      vector.store %w, %o[%k] : memref<1024xi32>, vector<4xi32>
    }
    gpu.return
  }
}

// -----

#ws = #gpu.address_space<workgroup>
// CHECK-LABEL: func.func @nested_copy
// CHECK-NOT: nvgpu
func.func @nested_copy(%g: memref<1024xi32>, %o: memref<1024xi32>, %n: index, %p: i1) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %pad = arith.constant 0 : i32
  %t = memref.alloc() : memref<4xi32, #ws>
  // expected-remark @below {{copies not pipelined: a copy to shared memory is inside a nested region}}
  scf.for %k = %c0 to %n step %c4 {
    scf.if %p {
      %v = vector.transfer_read %g[%k], %pad {in_bounds = [true]} : memref<1024xi32>, vector<4xi32>
      vector.transfer_write %v, %t[%c0] {in_bounds = [true]} : vector<4xi32>, memref<4xi32, #ws>
    }
    %w = vector.load %t[%c0] : memref<4xi32, #ws>, vector<4xi32>
    vector.store %w, %o[%k] : memref<1024xi32>, vector<4xi32>
  }
  return
}

// -----

// The copy's address depends on the previous iteration: async copies that
// wait for everything, not pipelined, not multi-buffered.

#ws = #gpu.address_space<workgroup>
// CHECK-LABEL: func.func @carried_address
// CHECK: memref.alloc() {alignment = 16 : i64} : memref<4xi32, #gpu.address_space<workgroup>>
// CHECK: scf.for
// CHECK: nvgpu.device_async_copy
// CHECK: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
func.func @carried_address(%g: memref<1024xi32>, %n: index) -> index {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %pad = arith.constant 0 : i32
  %t = memref.alloc() : memref<4xi32, #ws>
  // expected-remark @below {{async copies not pipelined: the fetches depend on a loop-carried value}}
  %r = scf.for %k = %c0 to %n step %c4 iter_args(%off = %c0) -> index {
    %v = vector.transfer_read %g[%off], %pad {in_bounds = [true]} : memref<1024xi32>, vector<4xi32>
    vector.transfer_write %v, %t[%c0] {in_bounds = [true]} : vector<4xi32>, memref<4xi32, #ws>
    %w = vector.load %t[%c0] : memref<4xi32, #ws>, vector<4xi32>
    %e = vector.extract %w[0] : i32 from vector<4xi32>
    %i = arith.index_cast %e : i32 to index
    scf.yield %i : index
  }
  return %r : index
}

// -----

// 2-byte copies are beyond cp.async: left synchronous.

#ws = #gpu.address_space<workgroup>
// CHECK-LABEL: func.func @too_small
// CHECK-NOT: nvgpu
func.func @too_small(%g: memref<1024xf16>, %o: memref<1024xf16>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %pad = arith.constant 0.0 : f16
  %t = memref.alloc() : memref<1xf16, #ws>
  // expected-remark @below {{copies not pipelined: none is a contiguous 4, 8 or 16-byte vector copy that cp.async supports}}
  scf.for %k = %c0 to %n step %c1 {
    %v = vector.transfer_read %g[%k], %pad {in_bounds = [true]} : memref<1024xf16>, vector<1xf16>
    vector.transfer_write %v, %t[%c0] {in_bounds = [true]} : vector<1xf16>, memref<1xf16, #ws>
    %w = vector.load %t[%c0] : memref<1xf16, #ws>, vector<1xf16>
    vector.store %w, %o[%k] : memref<1024xf16>, vector<1xf16>
  }
  return
}

// -----

// A copy whose source row is read from a table the loop never writes (an
// indirect component's row, from a per-row table resident in shared
// memory): the table read goes to stage 0 with the copy, and past the end
// of the loop it reads element 0 (its index selected by the predicate),
// as the copy reads nothing.

#ws = #gpu.address_space<workgroup>
// CHECK-LABEL: func.func @indirect_row
// CHECK-SAME:    (%[[G:.*]]: memref<64x4xi32>, %[[TABLE:.*]]: memref<16xindex, #gpu.address_space<workgroup>>,
// S3:          %[[PRED:.*]] = arith.cmpi slt
// S3:          %[[I:.*]] = arith.select %[[PRED]], %{{.*}}, %c0{{.*}} : index
// S3:          %[[ROW:.*]] = memref.load %[[TABLE]][%[[I]]]
// S3:          nvgpu.device_async_copy %[[G]][%[[ROW]], %c0{{.*}}]
// S3:          scf.for
// S3:            nvgpu.device_async_wait %{{.*}} {numGroups = 1 : i32}
// S3:            %[[IN:.*]] = arith.select %{{.*}}, %{{.*}}, %c0{{.*}} : index
// S3:            %[[NEXT:.*]] = memref.load %[[TABLE]][%[[IN]]]
// S3:            nvgpu.device_async_copy %[[G]][%[[NEXT]], %c0{{.*}}]
func.func @indirect_row(%g: memref<64x4xi32>, %table: memref<16xindex, #ws>,
                        %o: memref<1024xi32>, %lb: index) {
  %c4 = arith.constant 4 : index
  %c64 = arith.constant 64 : index
  %c0 = arith.constant 0 : index
  %t = memref.alloc() : memref<4xi32, #ws>
  scf.for %k = %lb to %c64 step %c4 {
    %i = arith.divui %k, %c4 : index
    %row = memref.load %table[%i] : memref<16xindex, #ws>
    %v = vector.load %g[%row, %c0] : memref<64x4xi32>, vector<4xi32>
    vector.store %v, %t[%c0] : memref<4xi32, #ws>, vector<4xi32>
    %w = vector.load %t[%c0] : memref<4xi32, #ws>, vector<4xi32>
    vector.store %w, %o[%k] : memref<1024xi32>, vector<4xi32>
  }
  return
}

// -----

// The same with a table the loop writes: its reads may not run stages
// early, so the copies wait for everything.

#ws = #gpu.address_space<workgroup>
// CHECK-LABEL: func.func @indirect_row_written
// CHECK: scf.for
// CHECK: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
func.func @indirect_row_written(%g: memref<64x4xi32>,
                                %table: memref<16xindex, #ws>,
                                %o: memref<1024xi32>, %lb: index) {
  %c4 = arith.constant 4 : index
  %c64 = arith.constant 64 : index
  %c0 = arith.constant 0 : index
  %t = memref.alloc() : memref<4xi32, #ws>
  // expected-remark @below {{async copies not pipelined: an op the fetches depend on has side effects and cannot be predicated}}
  scf.for %k = %lb to %c64 step %c4 {
    %i = arith.divui %k, %c4 : index
    %row = memref.load %table[%i] : memref<16xindex, #ws>
    %v = vector.load %g[%row, %c0] : memref<64x4xi32>, vector<4xi32>
    vector.store %v, %t[%c0] : memref<4xi32, #ws>, vector<4xi32>
    %w = vector.load %t[%c0] : memref<4xi32, #ws>, vector<4xi32>
    vector.store %w, %o[%k] : memref<1024xi32>, vector<4xi32>
    memref.store %c0, %table[%i] : memref<16xindex, #ws>
  }
  return
}
