// --mixq-quantize with dense-and-sparse specs, DENSE+sparse:frac=F[,select=S],
// and the errors of malformed ones (pointing at the bad part or key).
// RUN: mixq-opt %s --mixq-quantize="scheme=lut:bits=3+sparse:frac=0.01" | FileCheck %s --check-prefix=LUT
// RUN: mixq-opt %s --mixq-quantize="scheme=affine:bits=4,group=32+sparse:frac=0.0045,select=iqr overrides=down_proj=mixed:group=64+sparse:frac=0.001,select=sensitivity;up_proj=lut:bits=4" | FileCheck %s --check-prefix=MIX
// RUN: mixq-opt %s --mixq-quantize="scheme=lut:bits=3+sparse:frac=0.01" | mixq-opt > /dev/null
// RUN: not mixq-opt %s --mixq-quantize="scheme=sparse:frac=0.01" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=ALONE
// RUN: not mixq-opt %s --mixq-quantize="scheme=lut:bits=3+sparse" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=NOFRAC
// RUN: not mixq-opt %s --mixq-quantize="scheme=lut:bits=3+sparse:select=iqr" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=NEEDFRAC
// RUN: not mixq-opt %s --mixq-quantize="scheme=lut:bits=3+sparse:frac=1.5" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=FRAC
// RUN: not mixq-opt %s --mixq-quantize="scheme=lut:bits=3+sparse:frac=0" 2>&1 | FileCheck %s --check-prefix=FRACZERO
// RUN: not mixq-opt %s --mixq-quantize="scheme=lut:bits=3+sparse:frac=lots" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=FRACVALUE
// RUN: not mixq-opt %s --mixq-quantize="scheme=lut:bits=3+sparse:frac=0.01,select=largest" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=SELECT
// RUN: not mixq-opt %s --mixq-quantize="scheme=lut:bits=3+sparse:fraction=0.01" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=KEY
// RUN: not mixq-opt %s --mixq-quantize="scheme=lut:bits=5+sparse:frac=0.01" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=DENSE
// RUN: not mixq-opt %s --mixq-quantize="scheme=fp16+sparse:frac=0.01" 2>&1 | FileCheck %s --check-prefix=FP16
// RUN: not mixq-opt %s --mixq-quantize="scheme=lut:bits=3+affine:bits=4" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=NOTSPARSE
// RUN: not mixq-opt %s --mixq-quantize="scheme=lut:bits=3+sparse:frac=0.01+sparse:frac=0.01" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=TWICE
// RUN: mixq-opt %s --mixq-quantize="scheme=affine:bits=4,group=48+sparse:frac=0.01" 2>&1 | FileCheck %s --check-prefix=SHAPE

// The dense part keeps its own printed form; `select = magnitude` is the
// default and is not printed.
// LUT-LABEL: func.func @block
// LUT: %[[Q:.*]] = mixq.weight @blk0.q_proj : !mixq.qtensor<64x64, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.01>>
// LUT: mixq.matmul %{{.*}}, %[[Q]] : tensor<?x64xf32>, !mixq.qtensor<64x64, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.01>> -> tensor<?x64xf32>
// LUT: mixq.weight @blk1.up_proj : !mixq.qtensor<128x64, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.01>>
// LUT: mixq.weight @blk1.down_proj : !mixq.qtensor<64x128, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.01>>
// LUT-NOT: llm.linear
// LUT: llm.logits

// Overrides take composed specs too.
// MIX-LABEL: func.func @block
// MIX: mixq.weight @blk0.q_proj : !mixq.qtensor<64x64, #mixq.sparse<#mixq.affine<bits = 4, group = 32>, frac = 0.0045, select = iqr>>
// MIX: mixq.weight @blk1.up_proj : !mixq.qtensor<128x64, #mixq.lut<bits = 4>>
// MIX: mixq.weight @blk1.down_proj : !mixq.qtensor<64x128, #mixq.sparse<#mixq.mixed<group = 64>, frac = 0.001, select = sensitivity>>

// ALONE: error: invalid scheme spec: 'sparse' is fp16 CSR outliers on top of a dense scheme: write DENSE+sparse:... (e.g. lut:bits=3+sparse:frac=0.0045)
// ALONE-NEXT: {{^}}  sparse:frac=0.01
// ALONE-NEXT: {{^}}  ^

// NOFRAC: error: invalid scheme spec: 'sparse' needs options (known: frac, select; e.g. lut:bits=3+sparse:frac=0.0045)
// NOFRAC-NEXT: {{^}}  lut:bits=3+sparse
// NOFRAC-NEXT: {{^}}             ^

// NEEDFRAC: error: invalid scheme spec: 'sparse' needs frac=...: share of the weights kept as fp16 outliers, (0, 1) (e.g. lut:bits=3+sparse:frac=0.0045)
// NEEDFRAC-NEXT: {{^}}  lut:bits=3+sparse:select=iqr
// NEEDFRAC-NEXT: {{^}}             ^

// FRAC: error: invalid scheme spec: sparse 'frac' must be in (0, 1), got 1.5
// FRAC-NEXT: {{^}}  lut:bits=3+sparse:frac=1.5
// FRAC-NEXT: {{^}}                         ^
// FRACZERO: error: invalid scheme spec: sparse 'frac' must be in (0, 1), got 0

// FRACVALUE: error: invalid scheme spec: sparse 'frac' expects a finite number, got 'lots'
// FRACVALUE-NEXT: {{^}}  lut:bits=3+sparse:frac=lots
// FRACVALUE-NEXT: {{^}}                         ^

// SELECT: error: invalid scheme spec: sparse 'select' must be magnitude, iqr or sensitivity, got 'largest'
// SELECT-NEXT: {{^}}  lut:bits=3+sparse:frac=0.01,select=largest
// SELECT-NEXT: {{^}}                                     ^

// KEY: error: invalid scheme spec: unknown option 'fraction' for scheme 'sparse' (known: frac, select)
// KEY-NEXT: {{^}}  lut:bits=3+sparse:fraction=0.01
// KEY-NEXT: {{^}}                    ^

// The dense part's errors point into the dense part.
// DENSE: error: invalid scheme spec: lut 'bits' must be 2, 3 or 4, got 5
// DENSE-NEXT: {{^}}  lut:bits=5+sparse:frac=0.01
// DENSE-NEXT: {{^}}           ^

// FP16: error: invalid scheme spec: 'fp16' is not a quantized scheme

// NOTSPARSE: error: invalid scheme spec: only a scheme that wraps a dense one may follow '+', and 'affine' does not
// NOTSPARSE-NEXT: {{^}}  lut:bits=3+affine:bits=4
// NOTSPARSE-NEXT: {{^}}             ^

// Each '+' part wraps everything before it; #mixq.sparse refuses to wrap
// itself.
// TWICE: error: invalid scheme spec: sparse: the dense part is itself #mixq.sparse; use one #mixq.sparse with a larger 'frac'
// TWICE-NEXT: {{^}}  lut:bits=3+sparse:frac=0.01+sparse:frac=0.01

// A shape the dense scheme rejects falls back to the dense scheme's
// fallback, outliers kept, with a warning naming the weight.
// SHAPE: warning: weight @blk0.q_proj of shape 64x64: affine 'group' (48) does not divide the number of inputs K = 64; quantized with #mixq.sparse<#mixq.affine<bits = 4, group = 32>, frac = 0.01> instead
// SHAPE: mixq.weight @blk0.q_proj {mixq.requested_scheme = #mixq.sparse<#mixq.affine<bits = 4, group = 48>, frac = 0.01>} : !mixq.qtensor<64x64, #mixq.sparse<#mixq.affine<bits = 4, group = 32>, frac = 0.01>>

func.func @block(%x: tensor<?x64xf32>) -> tensor<1x16xf32> {
  %wq = llm.weight @blk0.q_proj : tensor<64x64xf32>
  %q = llm.linear %x, %wq : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  %wu = llm.weight @blk1.up_proj : tensor<128x64xf32>
  %u = llm.linear %q, %wu : tensor<?x64xf32>, tensor<128x64xf32> -> tensor<?x128xf32>
  %wd = llm.weight @blk1.down_proj : tensor<64x128xf32>
  %d = llm.linear %u, %wd : tensor<?x128xf32>, tensor<64x128xf32> -> tensor<?x64xf32>
  %head = llm.weight @lm_head : tensor<16x64xf32>
  %logits = llm.logits %d, %head {last_token_only} : tensor<?x64xf32>, tensor<16x64xf32> -> tensor<1x16xf32>
  return %logits : tensor<1x16xf32>
}
