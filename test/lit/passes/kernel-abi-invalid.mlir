// RUN: mixq-opt %s --mixq-kernel-abi --split-input-file --verify-diagnostics

// expected-error @+1 {{'mixq.tied' pair (0, 1) does not tie a result to an argument of the same type}}
func.func private @bad_tie(%a: tensor<4xf32>, %b: tensor<8xf32>) -> tensor<4xf32> attributes {mixq.kernel, mixq.tied = array<i64: 0, 1>} {
  return %a : tensor<4xf32>
}

// -----

// expected-error @+1 {{'mixq.tied' must hold (result, argument) pairs}}
func.func private @odd_tie(%a: tensor<4xf32>) -> tensor<4xf32> attributes {mixq.kernel, mixq.tied = array<i64: 0>} {
  return %a : tensor<4xf32>
}

// -----

// expected-error @+1 {{argument 0 of type 'f32' has no kernel ABI (expected a ranked tensor or index)}}
func.func private @scalar_arg(%x: f32, %a: tensor<4xf32>) -> tensor<4xf32> attributes {mixq.kernel} {
  return %a : tensor<4xf32>
}

// -----

// expected-error @+1 {{result 0 of type 'f32' has no kernel ABI (expected a ranked tensor)}}
func.func private @scalar_result(%a: tensor<4xf32>) -> f32 attributes {mixq.kernel} {
  %c0 = arith.constant 0 : index
  %x = tensor.extract %a[%c0] : tensor<4xf32>
  return %x : f32
}
