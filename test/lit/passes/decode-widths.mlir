// --mixq-decode-widths: one decode entry per width over the same weights.
// RUN: mixq-opt %s --mixq-decode-widths="widths=4,3,2" | FileCheck %s
// RUN: mixq-opt %s --mixq-decode-widths="widths=3,1 prefill-width=2" \
// RUN:   | FileCheck %s --check-prefix=PREFILL

// Levels step every nested weight down together, each to its own floor:
// wq (seed 2, parent 4), wk (seed 3, parent 4: stops at 3), wo (seed 1,
// parent 3: one width below the widest weight throughout), wv (bitplane as
// the dense part of sparse), and the affine weight unchanged.

// CHECK: module attributes {mixq.decode_widths = [{entry = "decode", width = 4 : i64}, {entry = "decode_w3", width = 3 : i64}, {entry = "decode_w2", width = 2 : i64}], mixq.prefill_width = 4 : i64}

// CHECK-LABEL: func.func @prefill
// CHECK: mixq.weight @wq : !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4>>
// CHECK: mixq.weight @wk : !mixq.qtensor<8x64, #mixq.bitplane<seed = 3, parent = 4>>
// CHECK: mixq.weight @wo : !mixq.qtensor<8x64, #mixq.bitplane<seed = 1, parent = 3>>

// CHECK-LABEL: func.func @decode
// CHECK: mixq.weight @wq : !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4>>
// CHECK: mixq.weight @wk : !mixq.qtensor<8x64, #mixq.bitplane<seed = 3, parent = 4>>
// CHECK: mixq.weight @wo : !mixq.qtensor<8x64, #mixq.bitplane<seed = 1, parent = 3>>
// CHECK: mixq.weight @wv : !mixq.qtensor<8x64, #mixq.sparse<#mixq.bitplane<seed = 2, parent = 4>, frac = 0.01>>
// CHECK: mixq.weight @wa : !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 32>>

// The copies follow @decode, in the order given.
// CHECK-LABEL: func.func @decode_w3
// CHECK: mixq.weight @wq : !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4, width = 3>>
// CHECK: mixq.weight @wk : !mixq.qtensor<8x64, #mixq.bitplane<seed = 3, parent = 4, width = 3>>
// CHECK: mixq.weight @wo : !mixq.qtensor<8x64, #mixq.bitplane<seed = 1, parent = 3, width = 2>>
// CHECK: mixq.weight @wv : !mixq.qtensor<8x64, #mixq.sparse<#mixq.bitplane<seed = 2, parent = 4, width = 3>, frac = 0.01>>
// CHECK: mixq.weight @wa : !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 32>>

// CHECK-LABEL: func.func @decode_w2
// CHECK: mixq.weight @wq : !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4, width = 2>>
// CHECK: mixq.weight @wk : !mixq.qtensor<8x64, #mixq.bitplane<seed = 3, parent = 4, width = 3>>
// CHECK: mixq.weight @wo : !mixq.qtensor<8x64, #mixq.bitplane<seed = 1, parent = 3, width = 1>>
// CHECK: mixq.weight @wv : !mixq.qtensor<8x64, #mixq.sparse<#mixq.bitplane<seed = 2, parent = 4, width = 2>, frac = 0.01>>

// The default width need not be the widest: @decode itself is retyped, and
// the prefill moves to its own width.
// PREFILL: module attributes {mixq.decode_widths = [{entry = "decode", width = 3 : i64}, {entry = "decode_w1", width = 1 : i64}], mixq.prefill_width = 2 : i64}
// PREFILL-LABEL: func.func @prefill
// PREFILL: mixq.weight @wq : !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4, width = 2>>
// PREFILL: mixq.weight @wk : !mixq.qtensor<8x64, #mixq.bitplane<seed = 3, parent = 4, width = 3>>
// PREFILL: mixq.weight @wo : !mixq.qtensor<8x64, #mixq.bitplane<seed = 1, parent = 3, width = 1>>
// PREFILL-LABEL: func.func @decode(
// PREFILL: mixq.weight @wq : !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4, width = 3>>
// PREFILL-LABEL: func.func @decode_w1
// PREFILL: mixq.weight @wq : !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4, width = 2>>
// PREFILL: mixq.weight @wo : !mixq.qtensor<8x64, #mixq.bitplane<seed = 1, parent = 3, width = 1>>

func.func @prefill(%x: tensor<?x64xf32>) -> tensor<?x8xf32> {
  %q = mixq.weight @wq : !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4>>
  %k = mixq.weight @wk : !mixq.qtensor<8x64, #mixq.bitplane<seed = 3, parent = 4>>
  %o = mixq.weight @wo : !mixq.qtensor<8x64, #mixq.bitplane<seed = 1, parent = 3>>
  %y = mixq.matmul %x, %q : tensor<?x64xf32>, !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4>> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

func.func @decode(%x: tensor<1x64xf32>) -> tensor<1x8xf32> {
  %q = mixq.weight @wq : !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4>>
  %k = mixq.weight @wk : !mixq.qtensor<8x64, #mixq.bitplane<seed = 3, parent = 4>>
  %o = mixq.weight @wo : !mixq.qtensor<8x64, #mixq.bitplane<seed = 1, parent = 3>>
  %v = mixq.weight @wv : !mixq.qtensor<8x64, #mixq.sparse<#mixq.bitplane<seed = 2, parent = 4>, frac = 0.01>>
  %a = mixq.weight @wa : !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 32>>
  %y = mixq.matmul %x, %q : tensor<1x64xf32>, !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4>> -> tensor<1x8xf32>
  return %y : tensor<1x8xf32>
}
