// Example for scripts/run.sh: y = x · Wᵀ with W quantized at compile time to
// #mixq.affine<bits = 4, group = 8>, printed next to the fp32 product.
// Try: build/bin/mixq-opt docs/examples/quantized-matmul.mlir --canonicalize
//      build/bin/mixq-opt docs/examples/quantized-matmul.mlir --mixq-lower-to-linalg

func.func private @printMemrefF32(tensor<*xf32>)

func.func @main() {
  %w = arith.constant dense<[
    [ 0.12, -0.53,  0.91,  0.07, -0.33,  0.48, -0.95,  0.26,  0.61, -0.14,  0.02, -0.77,  0.39,  0.85, -0.42,  0.18],
    [-0.66,  0.21,  0.05, -0.88,  0.73, -0.09,  0.34,  0.57, -0.25,  0.94, -0.61,  0.11, -0.03,  0.46, -0.79,  0.68],
    [ 0.31,  0.97, -0.44,  0.15, -0.71,  0.02,  0.83, -0.36,  0.09, -0.58,  0.27,  0.64, -0.92,  0.13,  0.55, -0.19],
    [ 2.50, -0.10,  0.20, -0.30,  0.40, -0.50,  0.60, -0.70, -3.00,  0.05,  0.15, -0.25,  0.35, -0.45,  0.55, -0.65]
  ]> : tensor<4x16xf32>
  %x = arith.constant dense<[
    [1.0, 0.5, -0.25, 2.0, -1.0, 0.75, 0.125, -0.5, 1.5, -2.0, 0.25, 1.0, -0.75, 0.5, 1.25, -1.5]
  ]> : tensor<1x16xf32>

  %q = mixq.quantize %w : tensor<4x16xf32>
      -> !mixq.qtensor<4x16, #mixq.affine<bits = 4, group = 8>>
  %y = mixq.matmul %x, %q : tensor<1x16xf32>,
      !mixq.qtensor<4x16, #mixq.affine<bits = 4, group = 8>> -> tensor<1x4xf32>

  // fp32 reference: the same product with the unquantized weight.
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<1x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x4xf32>) -> tensor<1x4xf32>
  %ref = linalg.matmul
      indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                       affine_map<(m, n, k) -> (n, k)>,
                       affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<1x16xf32>, tensor<4x16xf32>)
      outs(%acc : tensor<1x4xf32>) -> tensor<1x4xf32>

  %uy = tensor.cast %y : tensor<1x4xf32> to tensor<*xf32>
  %ur = tensor.cast %ref : tensor<1x4xf32> to tensor<*xf32>
  call @printMemrefF32(%uy) : (tensor<*xf32>) -> ()
  call @printMemrefF32(%ur) : (tensor<*xf32>) -> ()
  return
}
