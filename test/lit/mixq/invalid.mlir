// Every verifier error of the mixq dialect.
// RUN: mixq-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{affine 'bits' must be 2, 3, 4 or 8, got 5}}
func.func @bad_bits(%q: !mixq.qtensor<8x64, #mixq.affine<bits = 5, group = 32>>)

// -----

// expected-error @+1 {{affine 'group' must be positive, got 0}}
func.func @bad_group(%q: !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 0>>)

// -----

// expected-error @+1 {{affine 'scale' must be f16, bf16 or f32, got 'f64'}}
func.func @bad_scale(%q: !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 32, scale = f64>>)

// -----

// expected-error @+1 {{affine 'clip' must be in 1..1000 (1: round to nearest), got 0}}
func.func @bad_clip(%q: !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 32, clip = 0>>)

// -----

// expected-error @+1 {{affine 'group' (48) does not divide the number of inputs K = 64}}
func.func @group_does_not_divide(%q: !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 48>>)

// -----

// expected-error @+1 {{qtensor must be an N x K matrix, got rank 3}}
func.func @bad_rank(%q: !mixq.qtensor<2x8x64, #mixq.affine<bits = 4, group = 32>>)

// -----

// expected-error @+1 {{qtensor dimensions must be static and positive}}
func.func @zero_dim(%q: !mixq.qtensor<0x64, #mixq.affine<bits = 4, group = 32>>)

// -----

// expected-error @+1 {{expected a quantization scheme attribute (one implementing QuantSchemeAttrInterface), got 4 : i64}}
func.func @not_a_scheme(%q: !mixq.qtensor<8x64, 4>)

// -----

func.func @assemble_count(%codes: tensor<2x1xi32>, %scales: tensor<2x2xf16>) {
  // expected-error @+1 {{'mixq.assemble' op scheme #mixq.affine<bits = 4, group = 4> stores 3 components (codes, scales, zeros), got 2 operands}}
  %q = mixq.assemble %codes, %scales : tensor<2x1xi32>, tensor<2x2xf16>
      -> !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>>
  return
}

// -----

func.func @assemble_type(%codes: tensor<2x1xi32>, %scales: tensor<2x2xf32>,
                         %zeros: tensor<2x2xf16>) {
  // expected-error @+1 {{'mixq.assemble' op component #1 ('scales') must be 'tensor<2x2xf16>', got 'tensor<2x2xf32>'}}
  %q = mixq.assemble %codes, %scales, %zeros
      : tensor<2x1xi32>, tensor<2x2xf32>, tensor<2x2xf16>
      -> !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>>
  return
}

// -----

func.func @quantize_shape(%w: tensor<64x96xf32>) {
  // expected-error @+1 {{'mixq.quantize' op input shape 64x96 does not match the result's shape 64x128}}
  %q = mixq.quantize %w : tensor<64x96xf32>
      -> !mixq.qtensor<64x128, #mixq.affine<bits = 4, group = 32>>
  return
}

// -----

func.func @quantize_int(%w: tensor<64x128xi32>) {
  // expected-error @+1 {{'mixq.quantize' op operand #0 must be 2D tensor of 16-bit float or bfloat16 type or 32-bit float values}}
  %q = mixq.quantize %w : tensor<64x128xi32>
      -> !mixq.qtensor<64x128, #mixq.affine<bits = 4, group = 32>>
  return
}

// -----

func.func @dequantize_shape(%q: !mixq.qtensor<64x128, #mixq.affine<bits = 4, group = 32>>) {
  // expected-error @+1 {{'mixq.dequantize' op result shape 128x64 does not match the qtensor shape 64x128}}
  %w = mixq.dequantize %q : !mixq.qtensor<64x128, #mixq.affine<bits = 4, group = 32>> -> tensor<128x64xf16>
  return
}

// -----

func.func @matmul_k(%x: tensor<1x64xf16>, %w: !mixq.qtensor<256x128, #mixq.affine<bits = 4, group = 32>>) {
  // expected-error @+1 {{'mixq.matmul' op input has 64 columns but the weight has K = 128 inputs}}
  %y = mixq.matmul %x, %w : tensor<1x64xf16>,
      !mixq.qtensor<256x128, #mixq.affine<bits = 4, group = 32>> -> tensor<1x256xf16>
  return
}

// -----

func.func @matmul_dynamic_k(%x: tensor<1x?xf16>, %w: !mixq.qtensor<256x128, #mixq.affine<bits = 4, group = 32>>) {
  // expected-error @+1 {{'mixq.matmul' op input's K dimension must be static}}
  %y = mixq.matmul %x, %w : tensor<1x?xf16>,
      !mixq.qtensor<256x128, #mixq.affine<bits = 4, group = 32>> -> tensor<1x256xf16>
  return
}

// -----

func.func @matmul_n(%x: tensor<1x128xf16>, %w: !mixq.qtensor<256x128, #mixq.affine<bits = 4, group = 32>>) {
  // expected-error @+1 {{'mixq.matmul' op result has 1x128 but the weight has N = 256 outputs}}
  %y = mixq.matmul %x, %w : tensor<1x128xf16>,
      !mixq.qtensor<256x128, #mixq.affine<bits = 4, group = 32>> -> tensor<1x128xf16>
  return
}

// -----

func.func @matmul_m(%x: tensor<?x128xf16>, %w: !mixq.qtensor<256x128, #mixq.affine<bits = 4, group = 32>>) {
  // expected-error @+1 {{'mixq.matmul' op result rows (4x256) must match the input rows (?x128)}}
  %y = mixq.matmul %x, %w : tensor<?x128xf16>,
      !mixq.qtensor<256x128, #mixq.affine<bits = 4, group = 32>> -> tensor<4x256xf16>
  return
}

// -----

func.func @matmul_type(%x: tensor<1x128xf16>, %w: !mixq.qtensor<256x128, #mixq.affine<bits = 4, group = 32>>) {
  // expected-error @+1 {{'mixq.matmul' op result element type 'f32' does not match the input element type 'f16'}}
  %y = mixq.matmul %x, %w : tensor<1x128xf16>,
      !mixq.qtensor<256x128, #mixq.affine<bits = 4, group = 32>> -> tensor<1x256xf32>
  return
}

// -----

// expected-error @+1 {{lut 'bits' must be 2, 3 or 4, got 8}}
func.func @lut_bad_bits(%q: !mixq.qtensor<8x64, #mixq.lut<bits = 8>>)

// -----

// expected-error @+1 {{lut 'bits' must be 2, 3 or 4, got 1}}
func.func @lut_one_bit(%q: !mixq.qtensor<8x64, #mixq.lut<bits = 1>>)

// -----

func.func @lut_assemble_type(%codes: tensor<2x1xi32>, %lut: tensor<2x4xf32>) {
  // expected-error @+1 {{'mixq.assemble' op component #1 ('lut') must be 'tensor<2x4xf16>', got 'tensor<2x4xf32>'}}
  %q = mixq.assemble %codes, %lut : tensor<2x1xi32>, tensor<2x4xf32>
      -> !mixq.qtensor<2x8, #mixq.lut<bits = 2>>
  return
}

// -----

// expected-error @+1 {{mixed 'lo' must be in 1..7, got 0}}
func.func @mixed_lo(%q: !mixq.qtensor<8x128, #mixq.mixed<group = 64, lo = 0>>)

// -----

// expected-error @+1 {{mixed 'hi' must be in 3..8, got 2}}
func.func @mixed_hi(%q: !mixq.qtensor<8x128, #mixq.mixed<group = 64, hi = 2>>)

// -----

// expected-error @+1 {{mixed 'hi' must be in 3..8, got 9}}
func.func @mixed_hi_wide(%q: !mixq.qtensor<8x128, #mixq.mixed<group = 64, hi = 9>>)

// -----

// expected-error @+1 {{mixed 'group' must be positive, got 0}}
func.func @mixed_group(%q: !mixq.qtensor<8x128, #mixq.mixed<group = 0>>)

// -----

// expected-error @+1 {{mixed 'group' (8) times 'lo' (2) and times 'hi' - 'lo' (2) must be multiples of 32, so that groups are word-aligned}}
func.func @mixed_align(%q: !mixq.qtensor<8x128, #mixq.mixed<group = 8>>)

// -----

// expected-error @+1 {{mixed 'group' (16) times 'lo' (2) and times 'hi' - 'lo' (1) must be multiples of 32}}
func.func @mixed_align_hi(%q: !mixq.qtensor<8x128, #mixq.mixed<group = 16, hi = 3>>)

// -----

// expected-error @+1 {{mixed 'hi_frac' must be in [0, 1], got 1.5}}
func.func @mixed_hi_frac(%q: !mixq.qtensor<8x128, #mixq.mixed<group = 64, hi_frac = 1.5>>)

// -----

// expected-error @+1 {{mixed 'bits' (target bits per weight) must be finite and >= 0, got -1}}
func.func @mixed_bits(%q: !mixq.qtensor<8x128, #mixq.mixed<group = 64, bits = -1>>)

// -----

// expected-error @+1 {{mixed 'outliers' must be in [0, 1), got 1}}
func.func @mixed_outliers(%q: !mixq.qtensor<8x128, #mixq.mixed<group = 64, outliers = 1.0>>)

// -----

// expected-error @+1 {{mixed 'block' must be >= 1, got 0}}
func.func @mixed_block(%q: !mixq.qtensor<8x128, #mixq.mixed<group = 64, block = 0>>)

// -----

// expected-error @+1 {{mixed 'group' (64) does not divide the number of inputs K = 96}}
func.func @mixed_shape(%q: !mixq.qtensor<8x96, #mixq.mixed<group = 64>>)

// -----

// expected-error @+1 {{mixed scheme: 2147549184 weights exceed the int32 outlier row pointers}}
func.func @mixed_too_big(%q: !mixq.qtensor<32769x65536, #mixq.mixed<group = 64>>)

// -----

// expected-error @+2 {{expected floating point literal}}
// expected-error @+1 {{failed to parse MixQ_MixedSchemeAttr parameter 'hi_frac'}}
func.func @mixed_not_a_number(%q: !mixq.qtensor<8x128, #mixq.mixed<group = 64, hi_frac = "a">>)

// -----

func.func @mixed_assemble_count(%low: tensor<2x8xi32>) {
  // expected-error @+1 {{'mixq.assemble' op scheme #mixq.mixed<group = 64, hi_frac = 0.25> stores 10 components (low_codes, high_codes, high_group_start, bit_map, scale_codes, zero_codes, block_params, outlier_row_ptr, outlier_col_idx, outlier_values), got 1 operands}}
  %q = mixq.assemble %low : tensor<2x8xi32>
      -> !mixq.qtensor<2x128, #mixq.mixed<group = 64, hi_frac = 0.25>>
  return
}

// -----

// expected-error @+1 {{bitplane 'parent' must be in 1..8, got 9}}
func.func @bitplane_parent(%q: !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 9>>)

// -----

// expected-error @+1 {{bitplane 'seed' must be in 1..4 (parent), got 5}}
func.func @bitplane_seed(%q: !mixq.qtensor<8x64, #mixq.bitplane<seed = 5, parent = 4>>)

// -----

// expected-error @+1 {{bitplane 'seed' must be in 1..4 (parent), got 0}}
func.func @bitplane_seed_zero(%q: !mixq.qtensor<8x64, #mixq.bitplane<seed = 0, parent = 4>>)

// -----

// expected-error @+1 {{bitplane 'width' must be in 2..4 (seed..parent), got 1}}
func.func @bitplane_width(%q: !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4, width = 1>>)

// -----

// expected-error @+1 {{bitplane 'width' must be in 2..4 (seed..parent), got 5}}
func.func @bitplane_width_wide(%q: !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4, width = 5>>)

// -----

func.func @bitplane_assemble_type(%p0: tensor<2x1xi32>, %p1: tensor<2x1xi32>, %l1: tensor<2x2xf16>, %l2: tensor<2x8xf16>) {
  // expected-error @+1 {{'mixq.assemble' op component #3 ('lut2') must be 'tensor<2x4xf16>', got 'tensor<2x8xf16>'}}
  %q = mixq.assemble %p0, %p1, %l1, %l2 : tensor<2x1xi32>, tensor<2x1xi32>, tensor<2x2xf16>, tensor<2x8xf16>
      -> !mixq.qtensor<2x16, #mixq.bitplane<seed = 1, parent = 2>>
  return
}
