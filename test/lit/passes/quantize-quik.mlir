// --mixq-quantize with the QUIK spec `quik:cols=N,bits=4|8[,act-bits=4|8]`:
// weight-only without act-bits; with it the scheme has activation bits
// (`act_bits`), and every matmul of its weights gets a mixq.quantize_act;
// SPEC errors point at the bad key or value.
// RUN: mixq-opt %s --mixq-quantize="scheme=quik:cols=2,bits=4" | FileCheck %s --check-prefix=WEIGHT
// RUN: mixq-opt %s --mixq-quantize="scheme=quik:cols=2,bits=4,act-bits=8" | FileCheck %s --check-prefix=ACT
// RUN: mixq-opt %s --mixq-quantize="scheme=quik:bits=8,cols=4,act-bits=4 overrides=down_proj=affine:bits=4,group=32;up_proj=quik:cols=8,bits=4" | FileCheck %s --check-prefix=OVERRIDE
// RUN: mixq-opt %s --mixq-quantize="scheme=quik:cols=2,bits=4,act-bits=8" | mixq-opt > /dev/null
// RUN: mixq-opt %s --mixq-quantize="scheme=quik:cols=2,bits=4,act-bits=8+sparse:frac=0.01" | FileCheck %s --check-prefix=WRAPPED
// RUN: not mixq-opt %s --mixq-quantize="scheme=quik:cols=2,bits=5" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=BITS
// RUN: not mixq-opt %s --mixq-quantize="scheme=quik:cols=2,act-bits=6" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=ACTBITS
// RUN: not mixq-opt %s --mixq-quantize="scheme=quik:cols=2,act_bits=8" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=KEY
// RUN: not mixq-opt %s --mixq-quantize="scheme=quik:cols=many" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=VALUE
// RUN: not mixq-opt %s --mixq-quantize="scheme=quik:cols=-1" 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not mixq-opt %s --mixq-quantize="scheme=quik:cols=64" 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: not mixq-opt %s --mixq-quantize="scheme=quik" 2>&1 | FileCheck %s --check-prefix=DEFAULT

// Without act-bits the scheme is weight-only: the matmul reads the
// unquantized activations.
// WEIGHT-LABEL: func.func @block
// WEIGHT: %[[Q:.*]] = mixq.weight @blk0.q_proj : !mixq.qtensor<64x64, #mixq.outlier_cols<cols = 2, bits = 4>>
// WEIGHT-NEXT: mixq.matmul %{{.*}}, %[[Q]] : tensor<?x64xf32>, !mixq.qtensor<64x64, #mixq.outlier_cols<cols = 2, bits = 4>> -> tensor<?x64xf32>
// WEIGHT: mixq.weight @blk1.up_proj : !mixq.qtensor<128x64, #mixq.outlier_cols<cols = 2, bits = 4>>
// WEIGHT: mixq.weight @blk1.down_proj : !mixq.qtensor<64x128, #mixq.outlier_cols<cols = 2, bits = 4>>
// WEIGHT-NOT: mixq.quantize_act
// WEIGHT: llm.logits

// With act-bits, each matmul of an outlier_cols weight gets its own
// quantize_act (each weight has its own outlier columns), constants too.
// ACT-LABEL: func.func @block
// ACT-SAME: (%[[X:.*]]: tensor<?x64xf32>)
// ACT: %[[Q:.*]] = mixq.weight @blk0.q_proj : !mixq.qtensor<64x64, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 8>>
// ACT-NEXT: %[[XQ:.*]] = mixq.quantize_act %[[X]], %[[Q]] bits = 8 : tensor<?x64xf32>, !mixq.qtensor<64x64, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 8>> -> tensor<?x64xf32>
// ACT-NEXT: %[[Y:.*]] = mixq.matmul %[[XQ]], %[[Q]]
// ACT: %[[U:.*]] = mixq.weight @blk1.up_proj
// ACT-NEXT: %[[UQ:.*]] = mixq.quantize_act %[[Y]], %[[U]] bits = 8
// ACT-NEXT: mixq.matmul %[[UQ]], %[[U]]
// ACT: %[[D:.*]] = mixq.weight @blk1.down_proj
// ACT-NEXT: mixq.quantize_act %{{.*}}, %[[D]] bits = 8
// ACT-NEXT: mixq.matmul
// ACT: %[[C:.*]] = mixq.quantize %{{.*}} : tensor<64x64xf32> -> !mixq.qtensor<64x64, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 8>>
// ACT-NEXT: mixq.quantize_act %{{.*}}, %[[C]] bits = 8
// ACT-NEXT: mixq.matmul
// ACT: llm.logits

// Overrides pick their own scheme; only quik weights whose own SPEC has
// act-bits get a quantize_act.
// OVERRIDE-LABEL: func.func @block
// OVERRIDE: %[[Q:.*]] = mixq.weight @blk0.q_proj : !mixq.qtensor<64x64, #mixq.outlier_cols<cols = 4, bits = 8, act_bits = 4>>
// OVERRIDE-NEXT: mixq.quantize_act %{{.*}}, %[[Q]] bits = 4
// OVERRIDE: %[[U:.*]] = mixq.weight @blk1.up_proj : !mixq.qtensor<128x64, #mixq.outlier_cols<cols = 8, bits = 4>>
// OVERRIDE-NEXT: mixq.matmul %{{.*}}, %[[U]]
// OVERRIDE: %[[D:.*]] = mixq.weight @blk1.down_proj : !mixq.qtensor<64x128, #mixq.affine<bits = 4, group = 32>>
// OVERRIDE-NEXT: mixq.matmul %{{.*}}, %[[D]]
// OVERRIDE: mixq.quantize
// OVERRIDE-NEXT: mixq.quantize_act %{{.*}} bits = 4

// #mixq.sparse over a QUIK weight keeps its activation format (the dense
// scheme's), so the activations are still quantized (the lowering:
// quantize-act.mlir @lower_wrapped).
// WRAPPED: %[[Q:.*]] = mixq.weight @blk0.q_proj : !mixq.qtensor<64x64, #mixq.sparse<#mixq.outlier_cols<cols = 2, bits = 4, act_bits = 8>, frac = 0.01>>
// WRAPPED-NEXT: mixq.quantize_act %{{.*}}, %[[Q]] bits = 8
// WRAPPED-NEXT: mixq.matmul

// BITS: error: invalid scheme spec: quik 'bits' must be 4 or 8, got 5
// BITS-NEXT: {{^}}  quik:cols=2,bits=5
// BITS-NEXT: {{^}}                   ^

// ACTBITS: error: invalid scheme spec: quik 'act-bits' must be 0 (weight-only), 4 or 8, got 6
// ACTBITS-NEXT: {{^}}  quik:cols=2,act-bits=6
// ACTBITS-NEXT: {{^}}                       ^

// KEY: error: invalid scheme spec: unknown option 'act_bits' for scheme 'quik' (known: cols, bits, act-bits)
// KEY-NEXT: {{^}}  quik:cols=2,act_bits=8
// KEY-NEXT: {{^}}              ^

// VALUE: error: invalid scheme spec: quik 'cols' expects an integer, got 'many'
// VALUE-NEXT: {{^}}  quik:cols=many
// VALUE-NEXT: {{^}}            ^

// NEGATIVE: error: invalid scheme spec: quik 'cols' must be >= 0, got -1

// cols must be below K; the error is on the llm.linear and names the weight.
// SHAPE: error: cannot quantize weight @blk0.q_proj of shape 64x64 with 'quik:cols=64': outlier_cols 'cols' (64) must be less than the number of inputs K = 64

// The default is QUIK's 256 outlier columns, more than these tiny layers.
// DEFAULT: error: cannot quantize weight @blk0.q_proj of shape 64x64 with 'quik': outlier_cols 'cols' (256) must be less than the number of inputs K = 64

func.func @block(%x: tensor<?x64xf32>) -> tensor<1x16xf32> {
  %wq = llm.weight @blk0.q_proj : tensor<64x64xf32>
  %q = llm.linear %x, %wq : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  %wu = llm.weight @blk1.up_proj : tensor<128x64xf32>
  %u = llm.linear %q, %wu : tensor<?x64xf32>, tensor<128x64xf32> -> tensor<?x128xf32>
  %wd = llm.weight @blk1.down_proj : tensor<64x128xf32>
  %d = llm.linear %u, %wd : tensor<?x128xf32>, tensor<64x128xf32> -> tensor<?x64xf32>
  %wc = arith.constant dense<0.5> : tensor<64x64xf32>
  %c = llm.linear %d, %wc : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  %head = llm.weight @lm_head : tensor<16x64xf32>
  %logits = llm.logits %c, %head {last_token_only} : tensor<?x64xf32>, tensor<16x64xf32> -> tensor<1x16xf32>
  return %logits : tensor<1x16xf32>
}

