// RUN: not mixq-opt %s --mixq-quantize="scheme=affine:bits=5,group=32" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=BITS
// RUN: not mixq-opt %s --mixq-quantize="scheme=affine:bits=4,grop=32" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=KEY
// RUN: not mixq-opt %s --mixq-quantize="scheme=affine:bits=four" 2>&1 | FileCheck %s --check-prefix=VALUE
// RUN: not mixq-opt %s --mixq-quantize="scheme=affine:bits" 2>&1 | FileCheck %s --check-prefix=NOEQ
// RUN: not mixq-opt %s --mixq-quantize="scheme=gptq:bits=4" 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not mixq-opt %s --mixq-quantize="scheme=sparse:fraction=0.01" 2>&1 | FileCheck %s --check-prefix=SPARSEALONE
// RUN: not mixq-opt %s --mixq-quantize="scheme=mixed:group=64,hi=2" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=MIXEDHI
// RUN: not mixq-opt %s --mixq-quantize="scheme=mixed:group=64,hi-frac=lots" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=MIXEDVALUE
// RUN: not mixq-opt %s --mixq-quantize="scheme=mixed:group=64,hi_frac=0.2" 2>&1 | FileCheck %s --check-prefix=MIXEDKEY
// RUN: not mixq-opt %s --mixq-quantize="scheme=mixed:group=8" 2>&1 | FileCheck %s --check-prefix=MIXEDALIGN
// RUN: not mixq-opt %s --mixq-quantize="scheme=mixed:hi-frac=1.5" 2>&1 | FileCheck %s --check-prefix=MIXEDFRAC
// RUN: not mixq-opt %s --mixq-quantize="scheme=mixed:bits=-1" 2>&1 | FileCheck %s --check-prefix=MIXEDBITS
// RUN: not mixq-opt %s --mixq-quantize="scheme=mixed:outliers=1" 2>&1 | FileCheck %s --check-prefix=MIXEDOUT
// RUN: not mixq-opt %s --mixq-quantize="scheme=mixed:block=0" 2>&1 | FileCheck %s --check-prefix=MIXEDBLOCK
// RUN: not mixq-opt %s --mixq-quantize="scheme=mixed:lo=0" 2>&1 | FileCheck %s --check-prefix=MIXEDLO
// RUN: not mixq-opt %s --mixq-quantize="scheme=bitplane:seed=2,parent=4,width=5" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=BPWIDTH
// RUN: not mixq-opt %s --mixq-quantize="scheme=bitplane:seed=5,parent=4" 2>&1 | FileCheck %s --check-prefix=BPSEED
// RUN: not mixq-opt %s --mixq-quantize="scheme=bitplane:parent=9" 2>&1 | FileCheck %s --check-prefix=BPPARENT
// RUN: not mixq-opt %s --mixq-quantize="scheme=bitplane:seed=2,bits=4" 2>&1 | FileCheck %s --check-prefix=BPKEY
// RUN: not mixq-opt %s --mixq-quantize="scheme=lut:bits=5" 2>&1 | FileCheck %s --check-prefix=LUTBITS
// RUN: not mixq-opt %s --mixq-quantize="scheme=affine:bits=3,clip=best" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=CLIP
// RUN: not mixq-opt %s --mixq-quantize="scheme=affine:bits=3,clip=0" 2>&1 | FileCheck %s --check-prefix=CLIPZERO
// RUN: not mixq-opt %s --mixq-quantize="scheme=affine:sym=maybe" 2>&1 | FileCheck %s --check-prefix=SYM
// RUN: not mixq-opt %s --mixq-quantize="scheme=affine:scale=f8" 2>&1 | FileCheck %s --check-prefix=SCALE
// RUN: not mixq-opt %s --mixq-quantize="scheme=affine:bits=4.5" 2>&1 | FileCheck %s --check-prefix=NOTINT
// RUN: not mixq-opt %s --mixq-quantize="scheme=affine:sym=yes>" 2>&1 | FileCheck %s --check-prefix=PLAIN
// RUN: not mixq-opt %s --mixq-quantize="scheme=fp16:bits=3" 2>&1 | FileCheck %s --check-prefix=UNQUANT
// RUN: not mixq-opt %s --mixq-quantize="overrides=down(=affine:bits=8" 2>&1 | FileCheck %s --check-prefix=REGEX
// RUN: not mixq-opt %s --mixq-quantize="overrides=q_proj" 2>&1 | FileCheck %s --check-prefix=OVERRIDE

// Errors point at the bad key or value with a caret under the spec.

// CLIP: error: invalid scheme spec: affine 'clip' must be rtn, mse or a number of clip ratios in 1..1000, got 'best'
// CLIP-NEXT: {{^}}  affine:bits=3,clip=best
// CLIP-NEXT: {{^}}                     ^
// CLIPZERO: error: invalid scheme spec: affine 'clip' must be rtn, mse or a number of clip ratios in 1..1000, got '0'

// BITS: error: invalid scheme spec: affine 'bits' must be 2, 3, 4 or 8, got 5
// BITS-NEXT: {{^}}  affine:bits=5,group=32
// BITS-NEXT: {{^}}              ^

// KEY: error: invalid scheme spec: unknown option 'grop' for scheme 'affine' (known: bits, group, sym, scale, clip)
// KEY-NEXT: {{^}}  affine:bits=4,grop=32
// KEY-NEXT: {{^}}                ^

// VALUE: error: invalid scheme spec: affine 'bits' expects a non-negative integer, got 'four'
// NOEQ: error: invalid scheme spec: expected key=value, got 'bits'

// The registered schemes, mixq's own first, then any plugin's.
// UNKNOWN: error: invalid scheme spec: unknown scheme 'gptq' (known: affine, lut, mixed, bitplane, sparse, quik, {{.*}}fp16, fp32)
// LUTBITS: error: invalid scheme spec: lut 'bits' must be 2, 3 or 4, got 5
// SPARSEALONE: error: invalid scheme spec: 'sparse' is fp16 CSR outliers on top of a dense scheme: write DENSE+sparse:... (e.g. lut:bits=3+sparse:frac=0.0045)

// BPWIDTH: error: invalid scheme spec: bitplane 'width' must be in 2..4 (seed..parent), got 5
// BPWIDTH-NEXT: {{^}}  bitplane:seed=2,parent=4,width=5
// BPWIDTH-NEXT: {{^}}                                 ^
// BPSEED: error: invalid scheme spec: bitplane 'seed' must be in 1..4 (parent), got 5
// BPPARENT: error: invalid scheme spec: bitplane 'parent' must be in 1..8, got 9
// BPKEY: error: invalid scheme spec: unknown option 'bits' for scheme 'bitplane' (known: seed, parent, width)

// MIXEDHI: error: invalid scheme spec: mixed 'hi' must be in 3..8, got 2
// MIXEDHI-NEXT: {{^}}  mixed:group=64,hi=2
// MIXEDHI-NEXT: {{^}}                    ^
// MIXEDVALUE: error: invalid scheme spec: mixed 'hi-frac' expects a finite number, got 'lots'
// MIXEDVALUE-NEXT: {{^}}  mixed:group=64,hi-frac=lots
// MIXEDVALUE-NEXT: {{^}}                         ^
// MIXEDKEY: error: invalid scheme spec: unknown option 'hi_frac' for scheme 'mixed' (known: group, lo, hi, hi-frac, bits, outliers, block)
// MIXEDALIGN: error: invalid scheme spec: mixed 'group' (8) times 'lo' (2) and times 'hi' - 'lo' (2) must be multiples of 32
// MIXEDFRAC: error: invalid scheme spec: mixed 'hi-frac' must be in [0, 1], got 1.5
// MIXEDBITS: error: invalid scheme spec: mixed 'bits' (target bits per weight) must be finite and >= 0, got -1
// MIXEDOUT: error: invalid scheme spec: mixed 'outliers' must be in [0, 1), got 1
// MIXEDBLOCK: error: invalid scheme spec: mixed 'block' must be >= 1, got 0
// MIXEDLO: error: invalid scheme spec: mixed 'lo' must be in 1..7, got 0

// The generic grammar's errors, for any registered scheme.
// SYM: error: invalid scheme spec: affine 'sym' must be true or false, got 'maybe'
// SCALE: error: invalid scheme spec: affine 'scale' must be f16, bf16 or f32, got 'f8'
// NOTINT: error: invalid scheme spec: affine 'bits' expects a non-negative integer, got '4.5'
// PLAIN: error: invalid scheme spec: 'sym' has an invalid value 'yes>'
// UNQUANT: error: invalid scheme spec: 'fp16' is not a quantized scheme

// A group that does not divide K falls back with a warning: see
// quantize-fallback.mlir.

// REGEX: error: invalid override pattern 'down(':
// OVERRIDE: error: invalid override 'q_proj': expected REGEX=SPEC

func.func @block(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %wq = llm.weight @blk0.q_proj : tensor<64x64xf32>
  %q = llm.linear %x, %wq : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  return %q : tensor<?x64xf32>
}
