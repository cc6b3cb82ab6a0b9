// RUN: mixq-opt %s -split-input-file -mixq-programmatic-launch -verify-diagnostics | FileCheck %s

// A module for sm_80 and sm_90 is split: sm_80 keeps the original kernels,
// a copy for sm_90 lets dependents launch first in every kernel and waits
// before the kernel's first op that may touch an earlier kernel's memory
// (not in device functions, which run inside a kernel that already waited).
// CHECK-LABEL: gpu.module @k [#nvvm.target<chip = "sm_80">] {
// CHECK:         gpu.func @gemv(%{{.*}}: memref<4xf32>) kernel {
// CHECK-NEXT:      arith.constant
// CHECK:         gpu.func @helper
// CHECK-NEXT:      gpu.return
// CHECK:       }
// CHECK-LABEL: gpu.module @k_pdl [#nvvm.target<chip = "sm_90">] attributes {mixq.programmatic_launch} {
// CHECK:         gpu.func @gemv(%[[A:.*]]: memref<4xf32>) kernel {
// CHECK-NEXT:      nvvm.griddepcontrol launch_dependents
// CHECK-NEXT:      arith.constant
// CHECK-NEXT:      nvvm.griddepcontrol wait
// CHECK-NEXT:      memref.load %[[A]]
// CHECK:         gpu.func @norm(
// CHECK-NEXT:      nvvm.griddepcontrol launch_dependents
// CHECK-NEXT:      nvvm.griddepcontrol wait
// CHECK:         gpu.func @helper
// CHECK-NEXT:      gpu.return
module attributes {gpu.container_module} {
  gpu.module @k [#nvvm.target<chip = "sm_80">, #nvvm.target<chip = "sm_90">] {
    gpu.func @gemv(%a: memref<4xf32>) kernel {
      %c0 = arith.constant 0 : index
      %v = memref.load %a[%c0] : memref<4xf32>
      memref.store %v, %a[%c0] : memref<4xf32>
      gpu.return
    }
    gpu.func @norm(%a: memref<4xf32>) kernel {
      gpu.return
    }
    gpu.func @helper() {
      gpu.return
    }
  }
}

// -----

// Only sm_90+ targets (an arch-specific and a newer chip): instrumented in
// place, no copy.
// CHECK-LABEL: gpu.module @k [#nvvm.target<chip = "sm_90a">, #nvvm.target<chip = "sm_100">] attributes {mixq.programmatic_launch} {
// CHECK:         gpu.func @gemv() kernel {
// CHECK-NEXT:      nvvm.griddepcontrol launch_dependents
// CHECK-NEXT:      nvvm.griddepcontrol wait
// CHECK-NEXT:      gpu.return
// CHECK-NOT:   gpu.module
module attributes {gpu.container_module} {
  gpu.module @k [#nvvm.target<chip = "sm_90a">, #nvvm.target<chip = "sm_100">] {
    gpu.func @gemv() kernel {
      gpu.return
    }
  }
}

// -----

// A module already instrumented is not instrumented twice.
// CHECK-LABEL: gpu.module @k [#nvvm.target<chip = "sm_90">] attributes {mixq.programmatic_launch} {
// CHECK:         gpu.func @gemv() kernel {
// CHECK-NEXT:      nvvm.griddepcontrol launch_dependents
// CHECK-NEXT:      nvvm.griddepcontrol wait
// CHECK-NEXT:      gpu.return
module attributes {gpu.container_module} {
  gpu.module @k [#nvvm.target<chip = "sm_90">] attributes {mixq.programmatic_launch} {
    gpu.func @gemv() kernel {
      nvvm.griddepcontrol launch_dependents
      nvvm.griddepcontrol wait
      gpu.return
    }
  }
}

// -----

// No sm_90+ target: unchanged, with a remark.
// CHECK-LABEL: gpu.module @k [#nvvm.target<chip = "sm_80">, #nvvm.target<chip = "sm_89">] {
// CHECK-NEXT:    gpu.func @gemv() kernel {
// CHECK-NEXT:      gpu.return
// CHECK-NOT:   griddepcontrol
module attributes {gpu.container_module} {
  // expected-remark @below {{no sm_90 or newer target: no programmatic dependent launch (griddepcontrol needs sm_90)}}
  gpu.module @k [#nvvm.target<chip = "sm_80">, #nvvm.target<chip = "sm_89">] {
    gpu.func @gemv() kernel {
      gpu.return
    }
  }
}

// -----

// What may precede the wait: index math, shared memory, barriers, and
// reads of weights (arguments marked mixq.weight, which no kernel writes),
// such as the first weight tiles' copies --mixq-pipeline-async-copies
// hoisted.
// Reading x (an earlier kernel's output) needs the wait first.
// CHECK-LABEL: gpu.func @staged(
// CHECK-NEXT:      nvvm.griddepcontrol launch_dependents
// CHECK:           scf.if
// CHECK-NEXT:        nvgpu.device_async_copy %arg0
// CHECK-NEXT:        nvgpu.device_async_create_group
// CHECK-NEXT:      }
// CHECK-NEXT:      memref.load %arg0
// CHECK-NEXT:      memref.store {{.*}} #gpu.address_space<workgroup>>
// CHECK-NEXT:      nvvm.griddepcontrol wait
// CHECK-NEXT:      memref.load %arg1
#ws = #gpu.address_space<workgroup>
module attributes {gpu.container_module} {
  gpu.module @k [#nvvm.target<chip = "sm_90">] {
    gpu.func @staged(%w: memref<64x64xi32> {mixq.weight}, %x: memref<64xi32>,
                     %out: memref<64xi32>)
        workgroup(%tile: memref<64xi32, #ws>) kernel {
      %c0 = arith.constant 0 : index
      %row = gpu.block_id x
      %live = arith.cmpi ult, %row, %c0 : index
      scf.if %live {
        %cp = nvgpu.device_async_copy %w[%row, %c0], %tile[%c0], 4 : memref<64x64xi32> to memref<64xi32, #ws>
        %g = nvgpu.device_async_create_group %cp
      }
      %first = memref.load %w[%row, %c0] : memref<64x64xi32>
      memref.store %first, %tile[%c0] : memref<64xi32, #ws>
      %v = memref.load %x[%row] : memref<64xi32>
      memref.store %v, %out[%row] : memref<64xi32>
      gpu.return
    }

    // A store to global memory (a later kernel may read it while this one
    // has not waited) needs the wait before it; a barrier, which orders
    // only the block's own accesses, does not.
    // CHECK-LABEL: gpu.func @writes(
    // CHECK-NEXT:      nvvm.griddepcontrol launch_dependents
    // CHECK-NEXT:      arith.constant
    // CHECK-NEXT:      arith.constant
    // CHECK-NEXT:      gpu.barrier
    // CHECK-NEXT:      nvvm.griddepcontrol wait
    // CHECK-NEXT:      memref.store
    gpu.func @writes(%w: memref<64xi32> {mixq.weight}) kernel {
      %c0 = arith.constant 0 : i32
      %i = arith.constant 0 : index
      gpu.barrier
      memref.store %c0, %w[%i] : memref<64xi32>
      gpu.return
    }
  }
}
