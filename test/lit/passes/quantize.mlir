// RUN: mixq-opt %s --mixq-quantize="scheme=affine:bits=4,group=32" | FileCheck %s --check-prefix=DEFAULT
// RUN: mixq-opt %s --mixq-quantize="scheme=affine:bits=2,group=32,sym=true,scale=bf16 overrides=down_proj=affine:bits=8,group=64;blk0\..*=fp16" | FileCheck %s --check-prefix=OVERRIDE
// RUN: mixq-opt %s --mixq-quantize="scheme=affine:bits=3,group=32,clip=mse overrides=up_proj=affine:bits=3,group=32,clip=5;down_proj=affine:bits=3,group=32,clip=rtn" | FileCheck %s --check-prefix=CLIP
// RUN: mixq-opt %s --mixq-quantize="scheme=fp32" | FileCheck %s --check-prefix=NONE
// RUN: mixq-opt %s --mixq-quantize="scheme=lut:bits=3 overrides=up_proj=lut:bits=2" | FileCheck %s --check-prefix=LUT
// RUN: mixq-opt %s --mixq-quantize="scheme=mixed:group=64,hi=4,lo=2,hi-frac=0.1,outliers=0.0075 overrides=down_proj=mixed:group=32,hi-frac=0.25,bits=0,outliers=0,block=2" | FileCheck %s --check-prefix=MIXED
// RUN: mixq-opt %s --mixq-quantize="scheme=mixed:lo=3,hi=8,group=32,bits=3.5" | FileCheck %s --check-prefix=MIXED3
// RUN: mixq-opt %s --mixq-quantize="scheme=bitplane:seed=2,parent=4 overrides=up_proj=bitplane:seed=2,parent=4,width=3;down_proj=bitplane:seed=1,parent=3,width=3" | FileCheck %s --check-prefix=BITPLANE
// RUN: mixq-opt %s --mixq-quantize="scheme=affine:bits=4,group=32" | mixq-opt > /dev/null
// RUN: mixq-opt %s --mixq-quantize="scheme=mixed:group=64" | mixq-opt > /dev/null

// Weights are symbols: llm.weight becomes mixq.weight of a qtensor, and
// llm.linear becomes mixq.matmul. Logits and embeddings stay unquantized.

// DEFAULT-LABEL: func.func @block
// DEFAULT: %[[Q:.*]] = mixq.weight @blk0.q_proj : !mixq.qtensor<64x64, #mixq.affine<bits = 4, group = 32>>
// DEFAULT: mixq.matmul %{{.*}}, %[[Q]] : tensor<?x64xf32>, !mixq.qtensor<64x64, #mixq.affine<bits = 4, group = 32>> -> tensor<?x64xf32>
// DEFAULT: %[[D:.*]] = mixq.weight @blk1.down_proj : !mixq.qtensor<64x128, #mixq.affine<bits = 4, group = 32>>
// DEFAULT: mixq.matmul %{{.*}}, %[[D]]
// DEFAULT-NOT: llm.linear
// DEFAULT: llm.logits %{{.*}}, %{{.*}} {last_token_only}

// The first matching override wins; blk0 stays f32 via fp16 ("keep").
// OVERRIDE-LABEL: func.func @block
// OVERRIDE: llm.weight @blk0.q_proj : tensor<64x64xf32>
// OVERRIDE: llm.linear
// OVERRIDE: mixq.weight @blk1.up_proj : !mixq.qtensor<128x64, #mixq.affine<bits = 2, group = 32, symmetric = true, scale = bf16>>
// OVERRIDE: mixq.weight @blk1.down_proj : !mixq.qtensor<64x128, #mixq.affine<bits = 8, group = 64>>

// clip=mse is the 11-ratio grid; clip=rtn (the default) is not printed.
// CLIP-LABEL: func.func @block
// CLIP: mixq.weight @blk0.q_proj : !mixq.qtensor<64x64, #mixq.affine<bits = 3, group = 32, clip = 11>>
// CLIP: mixq.weight @blk1.up_proj : !mixq.qtensor<128x64, #mixq.affine<bits = 3, group = 32, clip = 5>>
// CLIP: mixq.weight @blk1.down_proj : !mixq.qtensor<64x128, #mixq.affine<bits = 3, group = 32>>

// LUT-LABEL: func.func @block
// LUT: mixq.weight @blk0.q_proj : !mixq.qtensor<64x64, #mixq.lut<bits = 3>>
// LUT: mixq.weight @blk1.up_proj : !mixq.qtensor<128x64, #mixq.lut<bits = 2>>

// Every option of `mixed` equal to its default leaves the printed attribute
// at `group`; the others are printed.
// MIXED-LABEL: func.func @block
// MIXED: mixq.weight @blk0.q_proj : !mixq.qtensor<64x64, #mixq.mixed<group = 64>>
// MIXED: mixq.weight @blk1.up_proj : !mixq.qtensor<128x64, #mixq.mixed<group = 64>>
// MIXED: mixq.weight @blk1.down_proj : !mixq.qtensor<64x128, #mixq.mixed<group = 32, hi_frac = 0.25, bits = 0.0, outliers = 0.0, block = 2>>
// MIXED3: mixq.weight @blk0.q_proj : !mixq.qtensor<64x64, #mixq.mixed<group = 32, lo = 3, hi = 8, bits = 3.5>>

// `width` equal to `parent` is the default and is not printed.
// BITPLANE-LABEL: func.func @block
// BITPLANE: mixq.weight @blk0.q_proj : !mixq.qtensor<64x64, #mixq.bitplane<seed = 2, parent = 4>>
// BITPLANE: mixq.weight @blk1.up_proj : !mixq.qtensor<128x64, #mixq.bitplane<seed = 2, parent = 4, width = 3>>
// BITPLANE: mixq.weight @blk1.down_proj : !mixq.qtensor<64x128, #mixq.bitplane<seed = 1, parent = 3>>

// NONE-LABEL: func.func @block
// NONE-NOT: mixq.
// NONE: llm.linear
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
