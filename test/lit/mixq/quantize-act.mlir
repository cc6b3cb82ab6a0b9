// mixq.quantize_act (per-token activation quantization): round trip,
// every verifier error, and the shape of its reference lowering (a per-row
// min/max reduction, then one elementwise generic). The numbers are checked
// in run-quantize-act.mlir.
// RUN: mixq-opt %s -split-input-file -verify-diagnostics | mixq-opt -split-input-file | FileCheck %s
// RUN: mixq-opt %s -split-input-file -verify-diagnostics --mlir-print-op-generic | mixq-opt -split-input-file | FileCheck %s
// RUN: mixq-opt %s -split-input-file -verify-diagnostics --mixq-lower-to-linalg | FileCheck %s --check-prefix=LOWER

// CHECK-LABEL: func.func @round_trip
// CHECK: mixq.quantize_act %{{.*}}, %{{.*}} bits = 8 : tensor<?x64xf32>, !mixq.qtensor<32x64, #mixq.outlier_cols<cols = 4, bits = 4, act_bits = 8>> -> tensor<?x64xf32>
// CHECK: mixq.quantize_act %{{.*}}, %{{.*}} bits = 4 : tensor<3x64xbf16>, !mixq.qtensor<32x64, #mixq.outlier_cols<cols = 4, bits = 4, act_bits = 4>> -> tensor<3x64xbf16>
func.func @round_trip(%x: tensor<?x64xf32>, %h: tensor<3x64xbf16>,
                      %w8: !mixq.qtensor<32x64, #mixq.outlier_cols<cols = 4, bits = 4, act_bits = 8>>,
                      %w4: !mixq.qtensor<32x64, #mixq.outlier_cols<cols = 4, bits = 4, act_bits = 4>>)
    -> (tensor<?x64xf32>, tensor<3x64xbf16>) {
  %a = mixq.quantize_act %x, %w8 bits = 8 : tensor<?x64xf32>,
      !mixq.qtensor<32x64, #mixq.outlier_cols<cols = 4, bits = 4, act_bits = 8>> -> tensor<?x64xf32>
  %b = mixq.quantize_act %h, %w4 bits = 4 : tensor<3x64xbf16>,
      !mixq.qtensor<32x64, #mixq.outlier_cols<cols = 4, bits = 4, act_bits = 4>> -> tensor<3x64xbf16>
  return %a, %b : tensor<?x64xf32>, tensor<3x64xbf16>
}

// The weight's components become function arguments; only col_map (the
// last one) is read. lo/hi start at 0 (lo = min(0, ..), hi = max(0, ..));
// an outlier column (col_map >= 0) contributes 0 to them and passes through.
// LOWER-LABEL: func.func @lower
// LOWER-SAME: (%[[X:.*]]: tensor<?x8xf16>, %{{.*}}: tensor<2xi32>, %{{.*}}: tensor<4x2xf16>, %{{.*}}: tensor<4x1xi32>, %{{.*}}: tensor<4xf16>, %{{.*}}: tensor<4xi32>, %[[MAP:.*]]: tensor<8xi16>)
// LOWER: %[[FILL:.*]] = linalg.fill
// LOWER: %[[RANGE:.*]]:2 = linalg.generic
// LOWER-SAME: iterator_types = ["parallel", "reduction"]
// LOWER-SAME: ins(%[[X]] : tensor<?x8xf16>) outs(%[[FILL]], %[[FILL]] : tensor<?xf32>, tensor<?xf32>)
// LOWER: tensor.extract %[[MAP]]
// LOWER: arith.cmpi sge
// LOWER: arith.minnumf
// LOWER: arith.maxnumf
// LOWER: linalg.generic
// LOWER-SAME: iterator_types = ["parallel", "parallel"]
// LOWER-SAME: ins(%[[X]], %[[RANGE]]#0, %[[RANGE]]#1 : tensor<?x8xf16>, tensor<?xf32>, tensor<?xf32>)
// LOWER: tensor.extract %[[MAP]]
// LOWER: arith.truncf %{{.*}} : f32 to f16
// LOWER: math.round
// LOWER: math.round
// LOWER: arith.select
// LOWER: arith.truncf
// LOWER: linalg.yield
// LOWER-NOT: mixq.
func.func @lower(%x: tensor<?x8xf16>,
                 %w: !mixq.qtensor<4x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 4>>)
    -> tensor<?x8xf16> {
  %xq = mixq.quantize_act %x, %w bits = 4 : tensor<?x8xf16>,
      !mixq.qtensor<4x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 4>> -> tensor<?x8xf16>
  return %xq : tensor<?x8xf16>
}

// A QUIK weight with sparse outliers on top: the pass-through test reads
// the dense part's col_map, the first 6 of the 9 components.
// LOWER-LABEL: func.func @lower_wrapped
// LOWER-SAME: (%[[X:.*]]: tensor<?x8xf16>, %{{.*}}: tensor<2xi32>, %{{.*}}: tensor<4x2xf16>, %{{.*}}: tensor<4x1xi32>, %{{.*}}: tensor<4xf16>, %{{.*}}: tensor<4xi32>, %[[MAP:.*]]: tensor<8xi16>, %{{.*}}: tensor<5xi32>
// LOWER: linalg.generic
// LOWER: tensor.extract %[[MAP]]
// LOWER: arith.cmpi sge
// LOWER: linalg.generic
// LOWER: tensor.extract %[[MAP]]
// LOWER-NOT: mixq.
func.func @lower_wrapped(%x: tensor<?x8xf16>,
    %w: !mixq.qtensor<4x8, #mixq.sparse<#mixq.outlier_cols<cols = 2, bits = 4, act_bits = 4>, frac = 0.25>>)
    -> tensor<?x8xf16> {
  %xq = mixq.quantize_act %x, %w bits = 4 : tensor<?x8xf16>,
      !mixq.qtensor<4x8, #mixq.sparse<#mixq.outlier_cols<cols = 2, bits = 4, act_bits = 4>, frac = 0.25>> -> tensor<?x8xf16>
  return %xq : tensor<?x8xf16>
}

// -----

func.func @not_outlier_cols(%x: tensor<1x64xf32>,
                            %w: !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 32>>) {
  // expected-error @+1 {{'mixq.quantize_act' op needs a weight whose scheme quantizes activations (has activation bits, e.g. #mixq.outlier_cols<..., act_bits = 8>), got #mixq.affine<bits = 4, group = 32>}}
  %xq = mixq.quantize_act %x, %w bits = 8 : tensor<1x64xf32>,
      !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 32>> -> tensor<1x64xf32>
  return
}

// -----

func.func @bits_mismatch(%x: tensor<1x64xf32>,
                         %w: !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 4, bits = 4, act_bits = 8>>) {
  // expected-error @+1 {{'mixq.quantize_act' op quantizes to 4 bits, but the weight's scheme takes 8-bit activations}}
  %xq = mixq.quantize_act %x, %w bits = 4 : tensor<1x64xf32>,
      !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 4, bits = 4, act_bits = 8>> -> tensor<1x64xf32>
  return
}

// -----

// A weight-only QUIK weight has no activation format.
func.func @weight_only(%x: tensor<1x64xf32>,
                       %w: !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 4, bits = 4>>) {
  // expected-error @+1 {{'mixq.quantize_act' op needs a weight whose scheme quantizes activations}}
  %xq = mixq.quantize_act %x, %w bits = 8 : tensor<1x64xf32>,
      !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 4, bits = 4>> -> tensor<1x64xf32>
  return
}

// -----

func.func @bad_act_bits(%x: tensor<1x64xf32>,
  // expected-error @+1 {{outlier_cols 'act_bits' must be 0 (weight-only), 4 or 8, got 3}}
                        %w: !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 4, bits = 4, act_bits = 3>>) {
  return
}

// -----

func.func @missing_bits(%x: tensor<1x64xf32>,
                        %w: !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 4, bits = 4>>) {
  // expected-error @+1 {{expected 'bits'}}
  %xq = mixq.quantize_act %x, %w : tensor<1x64xf32>,
      !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 4, bits = 4>> -> tensor<1x64xf32>
  return
}

// -----

func.func @k_mismatch(%x: tensor<1x32xf32>,
                      %w: !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 4, bits = 4, act_bits = 8>>) {
  // expected-error @+1 {{'mixq.quantize_act' op input has 1x32 but the weight has K = 64 inputs (the K dimension must be static)}}
  %xq = mixq.quantize_act %x, %w bits = 8 : tensor<1x32xf32>,
      !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 4, bits = 4, act_bits = 8>> -> tensor<1x32xf32>
  return
}

// -----

func.func @dynamic_k(%x: tensor<1x?xf32>,
                     %w: !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 4, bits = 4, act_bits = 8>>) {
  // expected-error @+1 {{'mixq.quantize_act' op input has 1x? but the weight has K = 64 inputs (the K dimension must be static)}}
  %xq = mixq.quantize_act %x, %w bits = 8 : tensor<1x?xf32>,
      !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 4, bits = 4, act_bits = 8>> -> tensor<1x?xf32>
  return
}

// -----

func.func @result_type(%x: tensor<?x64xf32>,
                       %w: !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 4, bits = 4, act_bits = 8>>) {
  // expected-error @+1 {{'mixq.quantize_act' op result type 'tensor<?x64xf16>' must match the input type 'tensor<?x64xf32>'}}
  %xq = mixq.quantize_act %x, %w bits = 8 : tensor<?x64xf32>,
      !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 4, bits = 4, act_bits = 8>> -> tensor<?x64xf16>
  return
}

// -----

func.func @int_input(%x: tensor<1x64xi8>,
                     %w: !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 4, bits = 4, act_bits = 8>>) {
  // expected-error @+1 {{'mixq.quantize_act' op operand #0 must be 2D tensor of 16-bit float or bfloat16 type or 32-bit float values}}
  %xq = mixq.quantize_act %x, %w bits = 8 : tensor<1x64xi8>,
      !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 4, bits = 4, act_bits = 8>> -> tensor<1x64xi8>
  return
}
