// RUN: mixq-opt %s -split-input-file -mixq-prefetch-loads -verify-diagnostics | FileCheck %s
// RUN: mixq-opt %s -split-input-file -mixq-prefetch-loads='stages=2 unroll=2' 2>/dev/null | FileCheck %s --check-prefix=UNROLL
// RUN: mixq-opt %s -split-input-file -mixq-prefetch-loads=stages=3 2>/dev/null | FileCheck %s --check-prefix=S3
// RUN: mixq-opt %s -split-input-file -mixq-prefetch-loads=stages=1 2>/dev/null | FileCheck %s --check-prefix=S1
// RUN: not mixq-opt %s -split-input-file -mixq-prefetch-loads=stages=0 2>&1 | FileCheck %s --check-prefix=INVALID
// RUN: not mixq-opt %s -split-input-file -mixq-prefetch-loads=unroll=0 2>&1 | FileCheck %s --check-prefix=INVALID

// INVALID: error: mixq-prefetch-loads: 'stages' and 'unroll' must be at least 1

// A GEMV-like K loop: each step loads a lane's codes from global memory
// (the row is loop invariant, the column is the induction variable) and x
// from shared memory. The codes are loaded one iteration ahead: the
// prologue loads iteration 0, the kernel loads iteration k + 4 (its column
// clamped to 0 past the end, where the value is never used) before it
// computes on the codes the previous iteration loaded.

#ws = #gpu.address_space<workgroup>
// CHECK-LABEL: func.func @gemv
// CHECK-SAME: (%[[W:[^:]*]]: memref<64x1024xi32>, %[[X:[^:]*]]: memref<1024xi32, #gpu.address_space<workgroup>>, %[[ROW:[^:]*]]: index, %[[LB:[^:]*]]: index)
// CHECK-SAME: attributes {mixq.prefetch_stages = 2 : i64}
// CHECK: %[[LIVE0:.*]] = arith.cmpi slt, %{{.*}}, %[[C1024:.*]] : index
// CHECK: %[[COL0:.*]] = arith.select %[[LIVE0]], %{{.*}}, %{{.*}} : index
// CHECK: %[[FIRST:.*]] = vector.load %[[W]][%[[ROW]], %[[COL0]]]
// CHECK: scf.for %[[K:.*]] = %[[LB]] to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %{{.*}}, %[[CODES:.*]] = %[[FIRST]])
// CHECK: %[[LIVE:.*]] = arith.cmpi slt, %[[K]], %{{.*}} : index
// CHECK: %[[NEXTK:.*]] = arith.addi %[[K]], %{{.*}} : index
// CHECK: %[[COL:.*]] = arith.select %[[LIVE]], %[[NEXTK]], %{{.*}} : index
// CHECK: %[[NEXT:.*]] = vector.load %[[W]][%[[ROW]], %[[COL]]]
// CHECK: %[[XV:.*]] = vector.load %[[X]][%{{.*}}]
// CHECK: %[[PROD:.*]] = arith.muli %[[CODES]], %[[XV]]
// CHECK: %[[SUM:.*]] = arith.addi %[[ACC]], %[[PROD]]
// CHECK: scf.yield %[[SUM]], %[[NEXT]]
// CHECK-NOT: mixq.prefetch

// UNROLL-LABEL: func.func @gemv
// UNROLL-SAME: attributes {mixq.loop_unroll = 2 : i64, mixq.prefetch_stages = 2 : i64}
// UNROLL: scf.for {{.*}} iter_args(%[[ACC:.*]] = %{{.*}}, %[[A:.*]] = %{{.*}})
// UNROLL: %[[B:.*]] = vector.load %{{.*}} : memref<64x1024xi32>
// UNROLL: arith.muli %[[A]]
// UNROLL: %[[C:.*]] = vector.load %{{.*}} : memref<64x1024xi32>
// UNROLL: arith.muli %[[B]]
// UNROLL: scf.yield %{{.*}}, %[[C]]
// The remainder loop (odd trip counts).
// UNROLL: scf.for

// S3-LABEL: func.func @gemv
// S3-SAME: attributes {mixq.prefetch_stages = 3 : i64}
// S3-COUNT-2: vector.load %{{.*}} : memref<64x1024xi32>
// S3: scf.for {{.*}} iter_args(%{{.*}} = %{{.*}}, %[[C0:[^ ]*]] = %{{.*}}, %[[C1:[^ ]*]] = %{{.*}})
// S3: %[[C2:.*]] = vector.load %{{.*}} : memref<64x1024xi32>
// S3: arith.muli %[[C0]]
// S3: scf.yield %{{.*}}, %[[C1]], %[[C2]]

// S1-LABEL: func.func @gemv
// S1-NOT: mixq.prefetch_stages
// S1: scf.for
// S1-NEXT: vector.load
// S1-NOT: mixq.prefetch
func.func @gemv(%w: memref<64x1024xi32>, %x: memref<1024xi32, #ws>,
                %row: index, %lb: index) -> vector<4xi32> {
  %c1024 = arith.constant 1024 : index
  %c4 = arith.constant 4 : index
  %zero = arith.constant dense<0> : vector<4xi32>
  %r = scf.for %k = %lb to %c1024 step %c4 iter_args(%acc = %zero) -> (vector<4xi32>) {
    %codes = vector.load %w[%row, %k] : memref<64x1024xi32>, vector<4xi32>
    %xv = vector.load %x[%k] : memref<1024xi32, #ws>, vector<4xi32>
    %prod = arith.muli %codes, %xv : vector<4xi32>
    %next = arith.addi %acc, %prod : vector<4xi32>
    scf.yield %next : vector<4xi32>
  } {mixq.prefetch}
  return %r : vector<4xi32>
}

// -----

// A scalar memref.load (a group's scale) is prefetched the same way.
// CHECK-LABEL: func.func @scalar
// CHECK: memref.load
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %{{.*}}, %[[S:.*]] = %{{.*}}) -> (f32, f32)
// CHECK: %[[NEXT:.*]] = memref.load
// CHECK: arith.addf %{{.*}}, %[[S]]
func.func @scalar(%scales: memref<16xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %zero = arith.constant 0.0 : f32
  %r = scf.for %g = %c0 to %c16 step %c1 iter_args(%acc = %zero) -> (f32) {
    %s = memref.load %scales[%g] : memref<16xf32>
    %next = arith.addf %acc, %s : f32
    scf.yield %next : f32
  } {mixq.prefetch}
  return %r : f32
}

// -----

// Loops without the marker are left alone.
// CHECK-LABEL: func.func @unmarked
// CHECK: scf.for
// CHECK-NEXT: vector.load
func.func @unmarked(%w: memref<1024xi32>) -> vector<4xi32> {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1024 = arith.constant 1024 : index
  %zero = arith.constant dense<0> : vector<4xi32>
  %r = scf.for %k = %c0 to %c1024 step %c4 iter_args(%acc = %zero) -> (vector<4xi32>) {
    %codes = vector.load %w[%k] : memref<1024xi32>, vector<4xi32>
    %next = arith.addi %acc, %codes : vector<4xi32>
    scf.yield %next : vector<4xi32>
  }
  return %r : vector<4xi32>
}

// -----

// The loop writes global memory that a later iteration's load could read.
// CHECK-LABEL: func.func @writes_global
// CHECK: scf.for
// CHECK-NEXT: vector.load
func.func @writes_global(%w: memref<1024xi32>) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1020 = arith.constant 1020 : index
  // expected-remark @below {{loads not prefetched: an op of the loop may write memory other than shared memory}}
  scf.for %k = %c0 to %c1020 step %c4 {
    %v = vector.load %w[%k] : memref<1024xi32>, vector<4xi32>
    %k4 = arith.addi %k, %c4 : index
    vector.store %v, %w[%k4] : memref<1024xi32>, vector<4xi32>
  } {mixq.prefetch}
  return
}

// -----

// The load's address depends on a loop-carried value.
// CHECK-LABEL: func.func @carried_address
// CHECK: scf.for
// CHECK-NEXT: vector.load
func.func @carried_address(%w: memref<1024xi32>) -> index {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1024 = arith.constant 1024 : index
  // expected-remark @below {{loads not prefetched: the fetches depend on a loop-carried value}}
  %r = scf.for %k = %c0 to %c1024 step %c4 iter_args(%at = %c0) -> (index) {
    %v = vector.load %w[%at] : memref<1024xi32>, vector<4xi32>
    %e = vector.extract %v[0] : i32 from vector<4xi32>
    %i = arith.index_cast %e : i32 to index
    scf.yield %i : index
  } {mixq.prefetch}
  return %r : index
}

// -----

// Only shared-memory loads: nothing to prefetch.
#ws = #gpu.address_space<workgroup>
// CHECK-LABEL: func.func @shared_only
func.func @shared_only(%x: memref<1024xi32, #ws>) -> vector<4xi32> {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1024 = arith.constant 1024 : index
  %zero = arith.constant dense<0> : vector<4xi32>
  // expected-remark @below {{loads not prefetched: the loop body has no load from global memory}}
  %r = scf.for %k = %c0 to %c1024 step %c4 iter_args(%acc = %zero) -> (vector<4xi32>) {
    %xv = vector.load %x[%k] : memref<1024xi32, #ws>, vector<4xi32>
    %next = arith.addi %acc, %xv : vector<4xi32>
    scf.yield %next : vector<4xi32>
  } {mixq.prefetch}
  return %r : vector<4xi32>
}

// -----

// The loop yields a value from outside its body (distance > 1 for the
// pipeliner).
// CHECK-LABEL: func.func @yields_outside
func.func @yields_outside(%w: memref<1024xi32>, %v0: vector<4xi32>) -> vector<4xi32> {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1024 = arith.constant 1024 : index
  // expected-remark @below {{loads not prefetched: a loop-carried value is not computed in the loop body}}
  %r:2 = scf.for %k = %c0 to %c1024 step %c4 iter_args(%a = %v0, %b = %v0) -> (vector<4xi32>, vector<4xi32>) {
    %codes = vector.load %w[%k] : memref<1024xi32>, vector<4xi32>
    %next = arith.addi %a, %codes : vector<4xi32>
    scf.yield %next, %v0 : vector<4xi32>, vector<4xi32>
  } {mixq.prefetch}
  return %r#0 : vector<4xi32>
}

// -----

// A loop that --mixq-pipeline-async-copies already pipelined.
#ws = #gpu.address_space<workgroup>
// CHECK-LABEL: func.func @staged
func.func @staged(%w: memref<1024xi32>, %buf: memref<4xi32, #ws>) -> vector<4xi32> {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1024 = arith.constant 1024 : index
  %zero = arith.constant dense<0> : vector<4xi32>
  // expected-remark @below {{loads not prefetched: the loop already stages its loads with cp.async}}
  %r = scf.for %k = %c0 to %c1024 step %c4 iter_args(%acc = %zero) -> (vector<4xi32>) {
    %t = nvgpu.device_async_copy %w[%k], %buf[%c0], 4 : memref<1024xi32> to memref<4xi32, #ws>
    %g = nvgpu.device_async_create_group %t
    nvgpu.device_async_wait %g
    %codes = vector.load %buf[%c0] : memref<4xi32, #ws>, vector<4xi32>
    %scale = vector.load %w[%k] : memref<1024xi32>, vector<4xi32>
    %p = arith.muli %codes, %scale : vector<4xi32>
    %next = arith.addi %acc, %p : vector<4xi32>
    scf.yield %next : vector<4xi32>
  } {mixq.prefetch}
  return %r : vector<4xi32>
}
