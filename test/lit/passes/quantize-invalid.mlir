// RUN: not mixq-opt %s --mixq-quantize="scheme=affine:bits=5,group=32" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=BITS
// RUN: not mixq-opt %s --mixq-quantize="scheme=affine:bits=4,grop=32" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=KEY
// RUN: not mixq-opt %s --mixq-quantize="scheme=affine:bits=four" 2>&1 | FileCheck %s --check-prefix=VALUE
// RUN: not mixq-opt %s --mixq-quantize="scheme=affine:bits" 2>&1 | FileCheck %s --check-prefix=NOEQ
// RUN: not mixq-opt %s --mixq-quantize="scheme=gptq:bits=4" 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not mixq-opt %s --mixq-quantize="scheme=mixed:group=64" 2>&1 | FileCheck %s --check-prefix=NOATTR
// RUN: not mixq-opt %s --mixq-quantize="scheme=lut:bits=5" 2>&1 | FileCheck %s --check-prefix=LUTBITS
// RUN: not mixq-opt %s --mixq-quantize="scheme=affine:bits=4,group=48" 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: not mixq-opt %s --mixq-quantize="overrides=down(=affine:bits=8" 2>&1 | FileCheck %s --check-prefix=REGEX
// RUN: not mixq-opt %s --mixq-quantize="overrides=q_proj" 2>&1 | FileCheck %s --check-prefix=OVERRIDE

// Errors point at the bad key or value with a caret under the spec.

// BITS: error: invalid scheme spec: bits must be 2, 3, 4 or 8, got 5
// BITS-NEXT: {{^}}  affine:bits=5,group=32
// BITS-NEXT: {{^}}              ^

// KEY: error: invalid scheme spec: unknown option 'grop' for scheme 'affine' (known: bits, group, sym, scale)
// KEY-NEXT: {{^}}  affine:bits=4,grop=32
// KEY-NEXT: {{^}}                ^

// VALUE: error: invalid scheme spec: 'bits' expects an integer, got 'four'
// NOEQ: error: invalid scheme spec: expected key=value, got 'bits'
// UNKNOWN: error: invalid scheme spec: unknown scheme 'gptq' (known: affine, mixed, lut, sparse, quik, bitplane, fp16, fp32)
// LUTBITS: error: invalid scheme spec: lut bits must be 2, 3 or 4, got 5
// NOATTR: error: invalid scheme spec: scheme 'mixed' has a host quantizer but no IR attribute yet

// A group that does not divide K = 64 is reported on the op, naming the
// weight.
// SHAPE: error: cannot quantize weight @blk0.q_proj of shape 64x64 with 'affine:bits=4,group=48': affine 'group' (48) does not divide the number of inputs K = 64

// REGEX: error: invalid override pattern 'down(':
// OVERRIDE: error: invalid override 'q_proj': expected REGEX=SPEC

func.func @block(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %wq = llm.weight @blk0.q_proj : tensor<64x64xf32>
  %q = llm.linear %x, %wq : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  return %q : tensor<?x64xf32>
}
