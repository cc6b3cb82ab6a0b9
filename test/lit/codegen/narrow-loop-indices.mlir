// RUN: mixq-opt %s -split-input-file -mixq-narrow-loop-indices | FileCheck %s

// A K loop whose lower bound is a thread's slice: the bounds, the step and
// the iter_args carry over to an i32 loop; the body sees the index again.
// CHECK-LABEL: func.func @k_loop(
// CHECK:         %[[T:.*]] = gpu.thread_id x
// CHECK:         %[[LB:.*]] = arith.muli %[[T]], %{{.*}} : index
// CHECK-DAG:     %[[LB32:.*]] = arith.index_castui %[[LB]] : index to i32
// CHECK-DAG:     %[[UB32:.*]] = arith.constant 4096 : i32
// CHECK-DAG:     %[[STEP32:.*]] = arith.constant 1024 : i32
// CHECK:         %[[R:.*]] = scf.for %[[J:.*]] = %[[LB32]] to %[[UB32]] step %[[STEP32]] iter_args(%[[ACC:.*]] = %{{.*}}) -> (f32) : i32 {
// CHECK:           %[[I:.*]] = arith.index_castui %[[J]] : i32 to index
// CHECK:           %[[X:.*]] = memref.load %{{.*}}[%[[I]]]
// CHECK:           %[[S:.*]] = arith.addf %[[ACC]], %[[X]]
// CHECK:           scf.yield %[[S]] : f32
// CHECK:         return %[[R]]
func.func @k_loop(%x: memref<4096xf32>) -> f32 {
  %c4096 = arith.constant 4096 : index
  %c1024 = arith.constant 1024 : index
  %c256 = arith.constant 256 : index
  %zero = arith.constant 0.0 : f32
  %t = gpu.thread_id x upper_bound 4
  %lb = arith.muli %t, %c256 : index
  %r = scf.for %i = %lb to %c4096 step %c1024 iter_args(%acc = %zero) -> f32 {
    %v = memref.load %x[%i] : memref<4096xf32>
    %s = arith.addf %acc, %v : f32
    scf.yield %s : f32
  }
  return %r : f32
}

// -----

// An unsigned loop stays unsigned.
// CHECK-LABEL: func.func @unsigned_loop(
// CHECK:         scf.for unsigned %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %{{.*}}) -> (f32) : i32 {
func.func @unsigned_loop(%x: memref<64xf32>) -> f32 {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %zero = arith.constant 0.0 : f32
  %t = gpu.thread_id x upper_bound 32
  %r = scf.for unsigned %i = %t to %c64 step %c1 iter_args(%acc = %zero) -> f32 {
    %v = memref.load %x[%i] : memref<64xf32>
    %s = arith.addf %acc, %v : f32
    scf.yield %s : f32
  }
  return %r : f32
}

// -----

// Bounds the analysis cannot bound stay 64 bits wide: a lower bound that
// may be negative, an upper bound of any size, and an upper bound whose
// last step passes 2^31 - 1.
// CHECK-LABEL: func.func @unbounded(
// CHECK-NOT:     : i32 {
// CHECK-COUNT-3: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{[[:alnum:]_]+}} iter_args(%{{.*}} = %{{.*}}) -> (i32) {
// CHECK-NOT:     : i32 {
func.func @unbounded(%lb: index, %ub: index) -> (i32, i32, i32) {
  %c64 = arith.constant 64 : index
  %c1024 = arith.constant 1024 : index
  %near = arith.constant 2147483000 : index
  %zero = arith.constant 0 : i32
  %t = gpu.thread_id x upper_bound 32
  %a = scf.for %i = %lb to %c64 step %c64 iter_args(%n = %zero) -> i32 {
    scf.yield %n : i32
  }
  %b = scf.for %i = %t to %ub step %c64 iter_args(%n = %zero) -> i32 {
    scf.yield %n : i32
  }
  %c = scf.for %i = %t to %near step %c1024 iter_args(%n = %zero) -> i32 {
    scf.yield %n : i32
  }
  return %a, %b, %c : i32, i32, i32
}

// -----

// Left alone: a loop of a constant trip count (LLVM folds its counter or
// unrolls it), a loop without results (a strided copy, whose counter LLVM
// strength-reduces into its pointers) and an i32 loop. A loop nested in a
// narrowed one is narrowed on its own bounds.
// CHECK-LABEL: func.func @left_alone(
// CHECK:         scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{[[:alnum:]_]+}} iter_args(
// CHECK:         scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{[[:alnum:]_]+}} {
// CHECK:         scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args({{.*}}) -> (f32) : i32 {
// CHECK:           %[[II:.*]] = arith.index_castui %[[I]] : i32 to index
// CHECK:           %[[LB:.*]] = arith.index_castui %[[II]] : index to i32
// CHECK:           scf.for %{{.*}} = %[[LB]] to %{{.*}} step %{{.*}} iter_args({{.*}}) -> (f32) : i32 {
// CHECK:         scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} : i32 {
// CHECK-NOT:       arith.index_castui
func.func @left_alone(%x: memref<8x8xf32>) -> (f32, f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %one = arith.constant 1.0 : f32
  %zero = arith.constant 0.0 : f32
  %t = gpu.thread_id x upper_bound 8
  %d = scf.for %i = %c0 to %c8 step %c1 iter_args(%acc = %zero) -> f32 {
    %v = memref.load %x[%i, %i] : memref<8x8xf32>
    %s = arith.addf %acc, %v : f32
    scf.yield %s : f32
  }
  scf.for %i = %t to %c8 step %c8 {
    memref.store %one, %x[%i, %i] : memref<8x8xf32>
  }
  %r = scf.for %i = %t to %c8 step %c1 iter_args(%acc = %zero) -> f32 {
    %row = scf.for %j = %i to %c8 step %c1 iter_args(%sum = %acc) -> f32 {
      %v = memref.load %x[%i, %j] : memref<8x8xf32>
      %s = arith.addf %sum, %v : f32
      scf.yield %s : f32
    }
    scf.yield %row : f32
  }
  %a = arith.constant 0 : i32
  %b = arith.constant 8 : i32
  %s = arith.constant 1 : i32
  scf.for %k = %a to %b step %s : i32 {
  }
  return %d, %r : f32, f32
}
