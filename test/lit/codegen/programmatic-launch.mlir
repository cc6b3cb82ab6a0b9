// RUN: mixq-opt %s -split-input-file -mixq-programmatic-launch -verify-diagnostics | FileCheck %s

// A module for sm_80 and sm_90 is split: sm_80 keeps the original kernels,
// a copy for sm_90 lets dependents launch and waits first in every kernel
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
// CHECK-NEXT:      nvvm.griddepcontrol wait
// CHECK-NEXT:      arith.constant
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
