// RUN: mixq-opt %s --split-input-file --mixq-allocate-bits="budget=4 candidates=affine:bits=4,group=64" --verify-diagnostics

// Symbol weights live in the WeightStore, which mixq-opt cannot read.
// expected-error @+1 {{weight @w is a WeightStore symbol; its values are not in the IR (use mixq-compile --budget)}}
module {
  func.func @symbol(%x: tensor<?x64xf32>) -> tensor<?x4xf32> {
    %w = llm.weight @w : tensor<4x64xf32>
    %y = llm.linear %x, %w : tensor<?x64xf32>, tensor<4x64xf32> -> tensor<?x4xf32>
    return %y : tensor<?x4xf32>
  }
}

// -----

// No candidate can describe a 4x48 matrix with groups of 64.
// expected-error @+1 {{weight constant #0: no candidate scheme can describe its shape}}
module {
  func.func @shape(%x: tensor<?x48xf32>) -> tensor<?x4xf32> {
    %w = arith.constant dense<0.5> : tensor<4x48xf32>
    %y = llm.linear %x, %w : tensor<?x48xf32>, tensor<4x48xf32> -> tensor<?x4xf32>
    return %y : tensor<?x4xf32>
  }
}
