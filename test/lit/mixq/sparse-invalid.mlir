// Every verifier error of #mixq.sparse, and its parameter parse errors.
// RUN: mixq-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{sparse 'frac' must be in (0, 1), got 0}}
func.func @frac_zero(%q: !mixq.qtensor<8x64, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.0>>)

// -----

// expected-error @+1 {{sparse 'frac' must be in (0, 1), got 1}}
func.func @frac_one(%q: !mixq.qtensor<8x64, #mixq.sparse<#mixq.lut<bits = 3>, frac = 1>>)

// -----

// expected-error @+1 {{sparse 'frac' must be in (0, 1), got -1}}
func.func @frac_negative(%q: !mixq.qtensor<8x64, #mixq.sparse<#mixq.lut<bits = 3>, frac = -1>>)

// -----

// expected-error @+1 {{sparse: the dense part must be a quantization scheme attribute (one implementing QuantSchemeAttrInterface), got 42 : i64}}
func.func @dense_not_a_scheme(%q: !mixq.qtensor<8x64, #mixq.sparse<42, frac = 0.1>>)

// -----

// expected-error @+1 {{sparse: the dense part must be a quantization scheme attribute (one implementing QuantSchemeAttrInterface), got f16}}
func.func @dense_a_type(%q: !mixq.qtensor<8x64, #mixq.sparse<f16, frac = 0.1>>)

// -----

// expected-error @+1 {{sparse: the dense part is itself #mixq.sparse; use one #mixq.sparse with a larger 'frac'}}
func.func @dense_sparse(%q: !mixq.qtensor<8x64, #mixq.sparse<#mixq.sparse<#mixq.lut<bits = 3>, frac = 0.1>, frac = 0.1>>)

// -----

// The dense scheme's own parameter errors are its verifier's.
// expected-error @+2 {{lut 'bits' must be 2, 3 or 4, got 5}}
// expected-error @+1 {{failed to parse MixQ_SparseSchemeAttr parameter 'dense'}}
func.func @dense_invalid(%q: !mixq.qtensor<8x64, #mixq.sparse<#mixq.lut<bits = 5>, frac = 0.1>>)

// -----

// A shape the dense scheme rejects is rejected by #mixq.sparse.
// expected-error @+1 {{affine 'group' (32) does not divide the number of inputs K = 48}}
func.func @dense_shape(%q: !mixq.qtensor<8x48, #mixq.sparse<#mixq.affine<bits = 4, group = 32>, frac = 0.1>>)

// -----

// expected-error @+1 {{sparse scheme: 4294967296 weights exceed the int32 outlier row pointers}}
func.func @too_many_weights(%q: !mixq.qtensor<65536x65536, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.1>>)

// -----

// expected-error @+2 {{sparse 'select' must be magnitude, iqr or sensitivity, got 'largest'}}
// expected-error @+1 {{failed to parse MixQ_SparseSchemeAttr parameter 'select'}}
func.func @select(%q: !mixq.qtensor<8x64, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.1, select = largest>>)

// -----

// expected-error @+1 {{struct is missing required parameter: frac}}
func.func @no_frac(%q: !mixq.qtensor<8x64, #mixq.sparse<#mixq.lut<bits = 3>, select = iqr>>)

// -----

// The CSR components are checked like any other: nnz = round(0.025 * 80)
// = 2 outliers, not 3.
func.func @assemble_nnz(%codes: tensor<2x4xi32>, %lut: tensor<2x8xf16>,
                        %ptr: tensor<3xi32>, %col: tensor<3xi16>,
                        %val: tensor<3xf16>) {
  // expected-error @+1 {{component #3 ('outlier_col_idx') must be 'tensor<2xi16>', got 'tensor<3xi16>'}}
  %q = mixq.assemble %codes, %lut, %ptr, %col, %val
      : tensor<2x4xi32>, tensor<2x8xf16>, tensor<3xi32>, tensor<3xi16>,
        tensor<3xf16>
      -> !mixq.qtensor<2x40, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.025>>
  return
}
