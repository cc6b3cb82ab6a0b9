// RUN: mixq-opt %s --mixq-kernel-abi --split-input-file | FileCheck %s
// RUN: mixq-opt %s --mixq-kernel-abi --eliminate-empty-tensors --one-shot-bufferize --canonicalize --split-input-file | FileCheck %s --check-prefix=BUF

// Results become trailing out-buffers; arguments are read-only views.

// CHECK-LABEL: func.func private @k_add(
// CHECK-SAME:    %[[A:.*]]: memref<?x4xf32> {llvm.noalias}, %[[B:.*]]: memref<?x4xf32> {llvm.noalias}, %[[OUT:.*]]: memref<?x4xf32> {llvm.noalias})
// CHECK-SAME:    attributes {mixq.kernel}
// CHECK:         %[[TA:.*]] = bufferization.to_tensor %[[A]] restrict : memref<?x4xf32>
// CHECK:         %[[TB:.*]] = bufferization.to_tensor %[[B]] restrict : memref<?x4xf32>
// CHECK:         %[[R:.*]] = linalg.add ins(%[[TA]], %[[TB]]
// CHECK:         bufferization.materialize_in_destination %[[R]] in restrict writable %[[OUT]]
// CHECK:         return{{$}}

// After bufferization the kernel computes straight into the caller's buffer.
// BUF-LABEL: func.func private @k_add(
// BUF-SAME:    %[[A:.*]]: memref<?x4xf32> {llvm.noalias}, %[[B:.*]]: memref<?x4xf32> {llvm.noalias}, %[[OUT:.*]]: memref<?x4xf32> {llvm.noalias})
// BUF-NEXT:    linalg.add ins(%[[A]], %[[B]] : memref<?x4xf32>, memref<?x4xf32>) outs(%[[OUT]] : memref<?x4xf32>)
// BUF-NEXT:    return
func.func private @k_add(%a: tensor<?x4xf32>, %b: tensor<?x4xf32>) -> tensor<?x4xf32> attributes {mixq.kernel} {
  %c0 = arith.constant 0 : index
  %d = tensor.dim %a, %c0 : tensor<?x4xf32>
  %e = tensor.empty(%d) : tensor<?x4xf32>
  %r = linalg.add ins(%a, %b : tensor<?x4xf32>, tensor<?x4xf32>) outs(%e : tensor<?x4xf32>) -> tensor<?x4xf32>
  return %r : tensor<?x4xf32>
}

// -----

// A tied result (a KV cache) is written into its argument, which is the only
// writable one; index arguments stay scalars.

// CHECK-LABEL: func.func private @k_cache(
// CHECK-SAME:    %[[K:.*]]: memref<?x4xf32> {llvm.noalias}, %[[C:.*]]: memref<16x4xf32> {llvm.noalias}, %[[P:.*]]: index, %[[OUT:.*]]: memref<?x4xf32> {llvm.noalias})
// CHECK-NOT:     mixq.tied
// CHECK:         bufferization.to_tensor %[[K]] restrict :
// CHECK:         %[[TC:.*]] = bufferization.to_tensor %[[C]] restrict writable
// CHECK:         %[[NEW:.*]] = tensor.insert_slice %{{.*}} into %[[TC]][%[[P]], 0]
// CHECK:         bufferization.materialize_in_destination %{{.*}} in restrict writable %[[OUT]]
// CHECK:         bufferization.materialize_in_destination %[[NEW]] in restrict writable %[[C]]

// The cache update happens in place: only the new rows are copied.
// BUF-LABEL: func.func private @k_cache(
// BUF-SAME:    %[[K:.*]]: memref<?x4xf32> {llvm.noalias}, %[[C:.*]]: memref<16x4xf32> {llvm.noalias}, %[[P:.*]]: index, %[[OUT:.*]]: memref<?x4xf32> {llvm.noalias})
// BUF-NOT:     memref.alloc
// BUF:         %[[SUB:.*]] = memref.subview %[[C]][%[[P]], 0]
// BUF:         memref.copy %[[K]], %[[SUB]]
// BUF-NOT:     memref.copy
// BUF:         linalg.add ins(%[[K]], %[[K]] : {{.*}}) outs(%[[OUT]] :
// BUF-NEXT:    return
func.func private @k_cache(%k: tensor<?x4xf32>, %cache: tensor<16x4xf32>, %pos: index) -> (tensor<?x4xf32>, tensor<16x4xf32>) attributes {mixq.kernel, mixq.tied = array<i64: 1, 1>} {
  %c0 = arith.constant 0 : index
  %d = tensor.dim %k, %c0 : tensor<?x4xf32>
  %new = tensor.insert_slice %k into %cache[%pos, 0] [%d, 4] [1, 1] : tensor<?x4xf32> into tensor<16x4xf32>
  %e = tensor.empty(%d) : tensor<?x4xf32>
  %r = linalg.add ins(%k, %k : tensor<?x4xf32>, tensor<?x4xf32>) outs(%e : tensor<?x4xf32>) -> tensor<?x4xf32>
  return %r, %new : tensor<?x4xf32>, tensor<16x4xf32>
}

// -----

// Functions without mixq.kernel (entry points, helpers) are left alone.
// CHECK-LABEL: func.func @host(
// CHECK-SAME:    %{{.*}}: tensor<2xf32>) -> tensor<2xf32>
func.func @host(%a: tensor<2xf32>) -> tensor<2xf32> {
  return %a : tensor<2xf32>
}
