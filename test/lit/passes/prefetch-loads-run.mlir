// The register prefetch computes what the loop computed, run on the CPU:
// odd and even trip counts (the unroll's remainder loop), a single trip,
// none, and dynamic bounds. Past the end the predicated loads read element
// 0 instead of w[64..67] (outside the buffer); their values are never used.
//
// w[i] = i, so the sum of w[lb .. ub - 1] is hand-computable:
//   [0, 64): 2016     [4, 64): 2010 (15 trips)   [60, 64): 246 (1 trip)
//   [64, 64): 0       [8, 20): 162 (3 trips)
//
// DEFINE: %{run} = mixq-opt -convert-vector-to-scf -convert-scf-to-cf \
// DEFINE:   -convert-vector-to-llvm -finalize-memref-to-llvm \
// DEFINE:   -convert-arith-to-llvm -convert-func-to-llvm -convert-cf-to-llvm \
// DEFINE:   -reconcile-unrealized-casts \
// DEFINE: | mlir-runner -e main -entry-point-result=void \
// DEFINE:   -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// DEFINE: | FileCheck %s
// RUN: mixq-opt %s -mixq-prefetch-loads=stages=2 | %{run}
// RUN: mixq-opt %s -mixq-prefetch-loads='stages=2 unroll=2' | %{run}
// RUN: mixq-opt %s -mixq-prefetch-loads='stages=3 unroll=3' | %{run}
// RUN: mixq-opt %s -mixq-prefetch-loads=stages=1 | %{run}

// CHECK: 2016
// CHECK-NEXT: 2010
// CHECK-NEXT: 246
// CHECK-NEXT: 0
// CHECK-NEXT: 162

func.func @sum(%w: memref<64xi32>, %lb: index, %ub: index) -> i32 {
  %c4 = arith.constant 4 : index
  %zero = arith.constant dense<0> : vector<4xi32>
  %acc = scf.for %k = %lb to %ub step %c4 iter_args(%a = %zero) -> (vector<4xi32>) {
    %v = vector.load %w[%k] : memref<64xi32>, vector<4xi32>
    %next = arith.addi %a, %v : vector<4xi32>
    scf.yield %next : vector<4xi32>
  } {mixq.prefetch}
  %s = vector.reduction <add>, %acc : vector<4xi32> into i32
  return %s : i32
}

func.func @main() {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %c20 = arith.constant 20 : index
  %c60 = arith.constant 60 : index
  %c64 = arith.constant 64 : index
  %w = memref.alloc() : memref<64xi32>
  scf.for %i = %c0 to %c64 step %c1 {
    %v = arith.index_cast %i : index to i32
    memref.store %v, %w[%i] : memref<64xi32>
  }
  %s0 = func.call @sum(%w, %c0, %c64) : (memref<64xi32>, index, index) -> i32
  vector.print %s0 : i32
  %s1 = func.call @sum(%w, %c4, %c64) : (memref<64xi32>, index, index) -> i32
  vector.print %s1 : i32
  %s2 = func.call @sum(%w, %c60, %c64) : (memref<64xi32>, index, index) -> i32
  vector.print %s2 : i32
  %s3 = func.call @sum(%w, %c64, %c64) : (memref<64xi32>, index, index) -> i32
  vector.print %s3 : i32
  %s4 = func.call @sum(%w, %c8, %c20) : (memref<64xi32>, index, index) -> i32
  vector.print %s4 : i32
  memref.dealloc %w : memref<64xi32>
  return
}
