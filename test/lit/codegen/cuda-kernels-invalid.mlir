// RUN: mixq-opt %s -split-input-file -verify-diagnostics -mixq-build-gpu-kernels="max-tokens=16 chips=sm_80"

// A kernel holds one op, a matmul and its residual add, or a fused decode
// GEMV: norm and quantize_act prologues, matmuls and their epilogues.
func.func private @k_two(%x: tensor<1x8xf32>, %w: tensor<8xf32>) -> tensor<1x8xf32> attributes {mixq.kernel} {
  %0 = llm.rms_norm %x, %w {eps = 1.0e-5 : f32} : tensor<1x8xf32>, tensor<8xf32> -> tensor<1x8xf32>
  // expected-error @below {{CUDA codegen: this op does not fit a fused decode GEMV (norm and quantize_act prologues, matmuls, residual/rope/SwiGLU epilogues)}}
  %1 = llm.swiglu %0, %x : tensor<1x8xf32>, tensor<1x8xf32> -> tensor<1x8xf32>
  return %1 : tensor<1x8xf32>
}

// -----

func.func private @k_add_first(%x: tensor<1x8xf32>, %w: tensor<8x8xf32>) -> tensor<1x8xf32> attributes {mixq.kernel} {
  %0 = llm.add %x, %x : tensor<1x8xf32>, tensor<1x8xf32> -> tensor<1x8xf32>
  // expected-error @below {{CUDA codegen: a kernel holds one op, a matmul and its residual add, or a fused decode GEMV}}
  %1 = llm.linear %0, %w : tensor<1x8xf32>, tensor<8x8xf32> -> tensor<1x8xf32>
  return %1 : tensor<1x8xf32>
}

// -----

// The fused GEMV is the decode step's: one token row.
func.func private @k_fused_prefill(%x: tensor<?x8xf32>, %n: tensor<8xf32>, %w: tensor<8x8xf32>) -> tensor<?x8xf32> attributes {mixq.kernel} {
  // expected-error @below {{CUDA codegen: a fused decode GEMV computes a single token row}}
  %0 = llm.rms_norm %x, %n {eps = 1.0e-5 : f32} : tensor<?x8xf32>, tensor<8xf32> -> tensor<?x8xf32>
  %1 = llm.linear %0, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  return %1 : tensor<?x8xf32>
}

// -----

// Gate and up rows are computed by the same loop: their weights need one
// type.
func.func private @k_swiglu_types(%x: tensor<1x8xf32>, %g: tensor<8x8xf32>, %u: !mixq.qtensor<8x8, #mixq.affine<bits = 4, group = 8>>) -> tensor<1x8xf32> attributes {mixq.kernel} {
  %0 = llm.linear %x, %g : tensor<1x8xf32>, tensor<8x8xf32> -> tensor<1x8xf32>
  %1 = mixq.matmul %x, %u : tensor<1x8xf32>, !mixq.qtensor<8x8, #mixq.affine<bits = 4, group = 8>> -> tensor<1x8xf32>
  // expected-error @below {{CUDA codegen: a fused SwiGLU needs gate and up matmuls with weights of one type}}
  %2 = llm.swiglu %0, %1 : tensor<1x8xf32>, tensor<1x8xf32> -> tensor<1x8xf32>
  return %2 : tensor<1x8xf32>
}

// -----

// The block ranges of a fused GEMV read one x.
func.func private @k_two_inputs(%x: tensor<1x8xf32>, %y: tensor<1x8xf32>, %w: tensor<8x8xf32>) -> (tensor<1x8xf32>, tensor<1x8xf32>) attributes {mixq.kernel} {
  %0 = llm.linear %x, %w : tensor<1x8xf32>, tensor<8x8xf32> -> tensor<1x8xf32>
  // expected-error @below {{CUDA codegen: the fused matmuls must share one input}}
  %1 = llm.linear %y, %w : tensor<1x8xf32>, tensor<8x8xf32> -> tensor<1x8xf32>
  return %0, %1 : tensor<1x8xf32>, tensor<1x8xf32>
}

// -----

// mixq.dequantize has no kernel generator (dispatches never hold one alone).
func.func private @k_dequant(%w: !mixq.qtensor<6x64, #mixq.affine<bits = 4, group = 32>>) -> tensor<6x64xf32> attributes {mixq.kernel} {
  // expected-error @below {{CUDA codegen: no GPU kernel generator for this op}}
  %0 = mixq.dequantize %w : !mixq.qtensor<6x64, #mixq.affine<bits = 4, group = 32>> -> tensor<6x64xf32>
  return %0 : tensor<6x64xf32>
}

// -----

// The single-pass (prefill) attention kernel keeps a score per cache row in
// shared memory, beside the query, a reduction scratch and the value sums
// of its thread groups. (Decode splits the keys and has no such limit.)
func.func private @k_attn(%q: tensor<?x8xf32>, %k: tensor<?x4xf32>, %v: tensor<?x4xf32>, %kc: tensor<16384x4xf32>, %vc: tensor<16384x4xf32>, %start: index) -> (tensor<?x8xf32>, tensor<16384x4xf32>, tensor<16384x4xf32>) attributes {mixq.kernel, mixq.tied = array<i64: 1, 3, 2, 4>} {
  // expected-error @below {{CUDA codegen: the single-pass attention kernel keeps 16384 scores in shared memory (65936 bytes), more than the 49152 bytes a block may have; compile with a smaller --max-seq-len}}
  %out, %nk, %nv = llm.attention %q, %k, %v, %kc, %vc, %start {head_dim = 4 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64} : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<16384x4xf32>, tensor<16384x4xf32> -> tensor<?x8xf32>, tensor<16384x4xf32>, tensor<16384x4xf32>
  return %out, %nk, %nv : tensor<?x8xf32>, tensor<16384x4xf32>, tensor<16384x4xf32>
}

// -----

// A kernel argument the ABI cannot pass.
// expected-error @below {{the CUDA kernel ABI has no form for argument type 'f32'}}
func.func private @k_scalar(%x: tensor<1x8xf32>, %s: f32) -> tensor<1x8xf32> attributes {mixq.kernel} {
  %0 = llm.add %x, %x : tensor<1x8xf32>, tensor<1x8xf32> -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// -----

// A fused quantize_act prologue keeps x quantized in shared memory: a row of
// 8192 f32 (32 KiB) is over what the kernel may take
// (--mixq-form-dispatches max-quantized-row-bytes keeps such a quantize_act
// a kernel of its own).
!wide = !mixq.qtensor<8x8192, #mixq.outlier_cols<cols = 8, bits = 4, act_bits = 8>>
func.func private @k_wide_quantized(%x: tensor<1x8192xf32>, %w: !wide) -> tensor<1x8xf32> attributes {mixq.kernel} {
  // expected-error @below {{CUDA codegen: a fused quantize_act prologue keeps 1 quantized copy of x on chip, 32768 bytes of shared memory, over the 24576 it may take (--mixq-form-dispatches max-quantized-row-bytes fuses less)}}
  %0 = mixq.quantize_act %x, %w bits = 8 : tensor<1x8192xf32>, !wide -> tensor<1x8192xf32>
  %1 = mixq.matmul %0, %w : tensor<1x8192xf32>, !wide -> tensor<1x8xf32>
  return %1 : tensor<1x8xf32>
}
