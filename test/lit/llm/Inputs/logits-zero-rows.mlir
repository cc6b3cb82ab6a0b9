// Input of lower-to-linalg-invalid.mlir, parsed without verification: the
// llm.logits verifier rejects this op already.
func.func @last_token_of_nothing(%x: tensor<0x8xf32>, %w: tensor<16x8xf32>) -> tensor<1x16xf32> {
  // expected-error @+1 {{'llm.logits' op cannot be lowered: last_token_only needs at least one input row, got 0}}
  %y = llm.logits %x, %w {last_token_only} : tensor<0x8xf32>, tensor<16x8xf32> -> tensor<1x16xf32>
  return %y : tensor<1x16xf32>
}
