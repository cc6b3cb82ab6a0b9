// RUN: mixq-opt %s -split-input-file -mixq-pipeline-async-copies='stages=3 hoist-prologue=true' -verify-diagnostics | FileCheck %s
// RUN: mixq-opt %s -split-input-file -mixq-pipeline-async-copies=stages=3 2>/dev/null | FileCheck %s --check-prefix=OFF

// hoist-prologue: a decode kernel stages x (a global load, a shared store,
// a barrier) before the K loop, which runs under a row guard. The
// pipeline's first two groups of weight copies move up to the kernel's
// first memory access, under a copy of the guard, so that their latency
// overlaps x's; the loop gets poison for their tokens (its waits count
// groups, not tokens). Without the option the prologue stays by the loop.

#ws = #gpu.address_space<workgroup>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // CHECK-LABEL: gpu.func @gemv
    // CHECK-SAME:    (%[[CODES:.*]]: memref<64x1024xi32>, %[[X:.*]]: memref<128xi32>,
    // CHECK:         %[[ROW:.*]] = gpu.block_id x
    // CHECK:         %[[GUARD:.*]] = arith.cmpi ult, %[[ROW]], %{{.*}} : index
    // CHECK-NEXT:    scf.if %[[GUARD]] {
    // CHECK:           %[[CP0:.*]] = nvgpu.device_async_copy %[[CODES]]
    // CHECK-NEXT:      nvgpu.device_async_create_group %[[CP0]]
    // CHECK:           %[[CP1:.*]] = nvgpu.device_async_copy %[[CODES]]
    // CHECK-NEXT:      nvgpu.device_async_create_group %[[CP1]]
    // CHECK-NEXT:    }
    // CHECK-NOT:     nvgpu.device_async_copy
    // CHECK:         memref.load %[[X]]
    // CHECK:         gpu.barrier
    // CHECK:         scf.if
    // CHECK-NOT:       nvgpu.device_async_copy
    // CHECK:           scf.for {{.*}} iter_args(%{{[^ ]*}} = %{{[^,]*}}, %{{[^ ]*}} = %[[POISON:[^,]*]], %{{[^ ]*}} = %[[POISON]],
    // CHECK:             nvgpu.device_async_wait
    // CHECK:             nvgpu.device_async_copy
    // OFF-LABEL:     gpu.func @gemv
    // OFF:           memref.load
    // OFF:           gpu.barrier
    // OFF-NOT:       nvgpu.device_async_copy
    // OFF:           scf.if
    // OFF:             nvgpu.device_async_copy
    // OFF:             scf.for
    gpu.func @gemv(%codes: memref<64x1024xi32>, %x: memref<128xi32>,
                   %out: memref<64x128xi32>) kernel {
      %c0 = arith.constant 0 : index
      %c4 = arith.constant 4 : index
      %c32 = arith.constant 32 : index
      %c124 = arith.constant 124 : index
      %c128 = arith.constant 128 : index
      %c1024 = arith.constant 1024 : index
      %zero = arith.constant dense<0> : vector<4xi32>
      %pad = arith.constant 0 : i32
      %row = gpu.block_id x
      %tid = gpu.thread_id x
      %tile = memref.alloc() : memref<128xi32, #ws>
      %xs = memref.alloc() : memref<128xi32, #ws>
      %lane = arith.muli %tid, %c4 : index
      %peer = arith.subi %c124, %lane : index
      %xv = memref.load %x[%tid] : memref<128xi32>
      memref.store %xv, %xs[%tid] : memref<128xi32, #ws>
      gpu.barrier
      %guard = arith.cmpi ult, %row, %c32 : index
      scf.if %guard {
        %sum = scf.for %k = %c0 to %c1024 step %c128 iter_args(%acc = %zero) -> (vector<4xi32>) {
          %col = arith.addi %k, %lane : index
          %v = vector.transfer_read %codes[%row, %col], %pad {in_bounds = [true]} : memref<64x1024xi32>, vector<4xi32>
          vector.transfer_write %v, %tile[%lane] {in_bounds = [true]} : vector<4xi32>, memref<128xi32, #ws>
          gpu.barrier
          %w = vector.load %tile[%peer] : memref<128xi32, #ws>, vector<4xi32>
          %xw = vector.load %xs[%peer] : memref<128xi32, #ws>, vector<4xi32>
          %p = arith.muli %w, %xw : vector<4xi32>
          %next = arith.addi %acc, %p : vector<4xi32>
          scf.yield %next : vector<4xi32>
        }
        vector.store %sum, %out[%row, %lane] : memref<64x128xi32>, vector<4xi32>
      }
      gpu.return
    }
  }
}

// -----

// A fused kernel: two block ranges ([0, 8) and [8, 16)) take their own
// matrix, through buffers that share one slot. No block runs both, so
// both prologues move up, in order, each under its range.

#ws = #gpu.address_space<workgroup>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // CHECK-LABEL: gpu.func @fused
    // CHECK-SAME:    (%[[A:.*]]: memref<64x1024xi32>, %[[B:.*]]: memref<64x1024xi32>,
    // CHECK:         scf.if %{{.*}} {
    // CHECK-COUNT-2:   nvgpu.device_async_copy %[[A]]
    // CHECK:           nvgpu.device_async_create_group
    // CHECK-NEXT:    }
    // CHECK-NEXT:    %[[LO:.*]] = arith.cmpi uge, %{{.*}}, %{{.*}} : index
    // CHECK-NEXT:    %[[HI:.*]] = arith.cmpi ult, %{{.*}}, %{{.*}} : index
    // CHECK-NEXT:    %[[IN:.*]] = arith.andi %[[LO]], %[[HI]] : i1
    // CHECK-NEXT:    scf.if %[[IN]] {
    // CHECK-COUNT-2:   nvgpu.device_async_copy %[[B]]
    // CHECK:           nvgpu.device_async_create_group
    // CHECK-NEXT:    }
    // CHECK-NEXT:    gpu.barrier
    gpu.func @fused(%a: memref<64x1024xi32>, %b: memref<64x1024xi32>,
                    %out: memref<64x128xi32>) kernel {
      %c0 = arith.constant 0 : index
      %c4 = arith.constant 4 : index
      %c8 = arith.constant 8 : index
      %c16 = arith.constant 16 : index
      %c124 = arith.constant 124 : index
      %c128 = arith.constant 128 : index
      %c1024 = arith.constant 1024 : index
      %zero = arith.constant dense<0> : vector<4xi32>
      %pad = arith.constant 0 : i32
      %block = gpu.block_id x
      %tid = gpu.thread_id x
      %ta = memref.alloc() {mixq.exclusive_slot = 0 : i64} : memref<128xi32, #ws>
      %tb = memref.alloc() {mixq.exclusive_slot = 0 : i64} : memref<128xi32, #ws>
      %lane = arith.muli %tid, %c4 : index
      %peer = arith.subi %c124, %lane : index
      gpu.barrier
      %inA = arith.cmpi ult, %block, %c8 : index
      scf.if %inA {
        %sum = scf.for %k = %c0 to %c1024 step %c128 iter_args(%acc = %zero) -> (vector<4xi32>) {
          %col = arith.addi %k, %lane : index
          %v = vector.transfer_read %a[%block, %col], %pad {in_bounds = [true]} : memref<64x1024xi32>, vector<4xi32>
          vector.transfer_write %v, %ta[%lane] {in_bounds = [true]} : vector<4xi32>, memref<128xi32, #ws>
          gpu.barrier
          %w = vector.load %ta[%peer] : memref<128xi32, #ws>, vector<4xi32>
          %next = arith.addi %acc, %w : vector<4xi32>
          scf.yield %next : vector<4xi32>
        }
        vector.store %sum, %out[%block, %lane] : memref<64x128xi32>, vector<4xi32>
      }
      %lo = arith.cmpi uge, %block, %c8 : index
      %hi = arith.cmpi ult, %block, %c16 : index
      %inB = arith.andi %lo, %hi : i1
      scf.if %inB {
        %sum = scf.for %k = %c0 to %c1024 step %c128 iter_args(%acc = %zero) -> (vector<4xi32>) {
          %col = arith.addi %k, %lane : index
          %v = vector.transfer_read %b[%block, %col], %pad {in_bounds = [true]} : memref<64x1024xi32>, vector<4xi32>
          vector.transfer_write %v, %tb[%lane] {in_bounds = [true]} : vector<4xi32>, memref<128xi32, #ws>
          gpu.barrier
          %w = vector.load %tb[%peer] : memref<128xi32, #ws>, vector<4xi32>
          %next = arith.addi %acc, %w : vector<4xi32>
          scf.yield %next : vector<4xi32>
        }
        vector.store %sum, %out[%block, %lane] : memref<64x128xi32>, vector<4xi32>
      }
      gpu.return
    }
  }
}

// -----

// The same two loops one after the other in every block: the second one's
// first copies would overwrite the shared slot while the first loop still
// reads it, so they stay. The first loop's move up, unconditionally (no
// guard encloses it).

#ws = #gpu.address_space<workgroup>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // CHECK-LABEL: gpu.func @sequential
    // CHECK-NOT:     scf.if
    // CHECK-COUNT-2: nvgpu.device_async_copy %arg0
    // CHECK:         nvgpu.device_async_create_group
    // CHECK-NEXT:    gpu.barrier
    // CHECK:         scf.for
    // CHECK:         nvgpu.device_async_copy %arg1
    // CHECK:         scf.for
    gpu.func @sequential(%a: memref<64x1024xi32>, %b: memref<64x1024xi32>,
                         %out: memref<64x128xi32>) kernel {
      %c0 = arith.constant 0 : index
      %c4 = arith.constant 4 : index
      %c124 = arith.constant 124 : index
      %c128 = arith.constant 128 : index
      %c1024 = arith.constant 1024 : index
      %zero = arith.constant dense<0> : vector<4xi32>
      %pad = arith.constant 0 : i32
      %block = gpu.block_id x
      %tid = gpu.thread_id x
      %ta = memref.alloc() {mixq.exclusive_slot = 0 : i64} : memref<128xi32, #ws>
      %tb = memref.alloc() {mixq.exclusive_slot = 0 : i64} : memref<128xi32, #ws>
      %lane = arith.muli %tid, %c4 : index
      %peer = arith.subi %c124, %lane : index
      gpu.barrier
      %sa = scf.for %k = %c0 to %c1024 step %c128 iter_args(%acc = %zero) -> (vector<4xi32>) {
        %col = arith.addi %k, %lane : index
        %v = vector.transfer_read %a[%block, %col], %pad {in_bounds = [true]} : memref<64x1024xi32>, vector<4xi32>
        vector.transfer_write %v, %ta[%lane] {in_bounds = [true]} : vector<4xi32>, memref<128xi32, #ws>
        gpu.barrier
        %w = vector.load %ta[%peer] : memref<128xi32, #ws>, vector<4xi32>
        %next = arith.addi %acc, %w : vector<4xi32>
        scf.yield %next : vector<4xi32>
      }
      // expected-remark @below {{prologue copies not hoisted: the kernel touches a copy's shared buffer before the loop}}
      %sb = scf.for %k = %c0 to %c1024 step %c128 iter_args(%acc = %sa) -> (vector<4xi32>) {
        %col = arith.addi %k, %lane : index
        %v = vector.transfer_read %b[%block, %col], %pad {in_bounds = [true]} : memref<64x1024xi32>, vector<4xi32>
        vector.transfer_write %v, %tb[%lane] {in_bounds = [true]} : vector<4xi32>, memref<128xi32, #ws>
        gpu.barrier
        %w = vector.load %tb[%peer] : memref<128xi32, #ws>, vector<4xi32>
        %next = arith.addi %acc, %w : vector<4xi32>
        scf.yield %next : vector<4xi32>
      }
      vector.store %sb, %out[%block, %lane] : memref<64x128xi32>, vector<4xi32>
      gpu.return
    }
  }
}

// -----

// What keeps a prologue in place: copies of memory the kernel writes, a
// loop around the pipelined one, and a guard computed from memory.

#ws = #gpu.address_space<workgroup>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // CHECK-LABEL: gpu.func @written
    gpu.func @written(%codes: memref<64x1024xi32>, %out: memref<64x128xi32>) kernel {
      %c0 = arith.constant 0 : index
      %c4 = arith.constant 4 : index
      %c128 = arith.constant 128 : index
      %c1024 = arith.constant 1024 : index
      %zero = arith.constant dense<0> : vector<4xi32>
      %pad = arith.constant 0 : i32
      %seven = arith.constant 7 : i32
      %row = gpu.block_id x
      %tid = gpu.thread_id x
      %tile = memref.alloc() : memref<128xi32, #ws>
      %lane = arith.muli %tid, %c4 : index
      memref.store %seven, %codes[%row, %tid] : memref<64x1024xi32>
      gpu.barrier
      // expected-remark @below {{prologue copies not hoisted: a copy reads memory the kernel may write}}
      %sum = scf.for %k = %c0 to %c1024 step %c128 iter_args(%acc = %zero) -> (vector<4xi32>) {
        %col = arith.addi %k, %lane : index
        %v = vector.transfer_read %codes[%row, %col], %pad {in_bounds = [true]} : memref<64x1024xi32>, vector<4xi32>
        vector.transfer_write %v, %tile[%lane] {in_bounds = [true]} : vector<4xi32>, memref<128xi32, #ws>
        gpu.barrier
        %w = vector.load %tile[%lane] : memref<128xi32, #ws>, vector<4xi32>
        %next = arith.addi %acc, %w : vector<4xi32>
        scf.yield %next : vector<4xi32>
      }
      vector.store %sum, %out[%row, %lane] : memref<64x128xi32>, vector<4xi32>
      gpu.return
    }

    // CHECK-LABEL: gpu.func @nested
    gpu.func @nested(%codes: memref<64x1024xi32>, %out: memref<64x128xi32>) kernel {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c4 = arith.constant 4 : index
      %c128 = arith.constant 128 : index
      %c1024 = arith.constant 1024 : index
      %zero = arith.constant dense<0> : vector<4xi32>
      %pad = arith.constant 0 : i32
      %tid = gpu.thread_id x
      %tile = memref.alloc() : memref<128xi32, #ws>
      %lane = arith.muli %tid, %c4 : index
      gpu.barrier
      scf.for %row = %c0 to %c4 step %c1 {
        // expected-remark @below {{prologue copies not hoisted: a loop encloses the pipelined loop}}
        %sum = scf.for %k = %c0 to %c1024 step %c128 iter_args(%acc = %zero) -> (vector<4xi32>) {
          %col = arith.addi %k, %lane : index
          %v = vector.transfer_read %codes[%row, %col], %pad {in_bounds = [true]} : memref<64x1024xi32>, vector<4xi32>
          vector.transfer_write %v, %tile[%lane] {in_bounds = [true]} : vector<4xi32>, memref<128xi32, #ws>
          gpu.barrier
          %w = vector.load %tile[%lane] : memref<128xi32, #ws>, vector<4xi32>
          %next = arith.addi %acc, %w : vector<4xi32>
          scf.yield %next : vector<4xi32>
        }
        vector.store %sum, %out[%row, %lane] : memref<64x128xi32>, vector<4xi32>
      }
      gpu.return
    }

    // CHECK-LABEL: gpu.func @guarded_by_memory
    gpu.func @guarded_by_memory(%codes: memref<64x1024xi32>, %rows: memref<1xindex>,
                                %out: memref<64x128xi32>) kernel {
      %c0 = arith.constant 0 : index
      %c4 = arith.constant 4 : index
      %c128 = arith.constant 128 : index
      %c1024 = arith.constant 1024 : index
      %zero = arith.constant dense<0> : vector<4xi32>
      %pad = arith.constant 0 : i32
      %row = gpu.block_id x
      %tid = gpu.thread_id x
      %tile = memref.alloc() : memref<128xi32, #ws>
      %lane = arith.muli %tid, %c4 : index
      %n = memref.load %rows[%c0] : memref<1xindex>
      %guard = arith.cmpi ult, %row, %n : index
      scf.if %guard {
        // expected-remark @below {{prologue copies not hoisted: a condition the loop runs under is computed from memory}}
        %sum = scf.for %k = %c0 to %c1024 step %c128 iter_args(%acc = %zero) -> (vector<4xi32>) {
          %col = arith.addi %k, %lane : index
          %v = vector.transfer_read %codes[%row, %col], %pad {in_bounds = [true]} : memref<64x1024xi32>, vector<4xi32>
          vector.transfer_write %v, %tile[%lane] {in_bounds = [true]} : vector<4xi32>, memref<128xi32, #ws>
          gpu.barrier
          %w = vector.load %tile[%lane] : memref<128xi32, #ws>, vector<4xi32>
          %next = arith.addi %acc, %w : vector<4xi32>
          scf.yield %next : vector<4xi32>
        }
        vector.store %sum, %out[%row, %lane] : memref<64x128xi32>, vector<4xi32>
      }
      gpu.return
    }
  }
}
