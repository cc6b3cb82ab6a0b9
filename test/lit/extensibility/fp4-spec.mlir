// The test-only #mixq_test.fp4 is reachable from a SPEC: its attribute
// registers its syntax (getSpecSyntax) from test/lib, and nothing in
// dialect/ or passes/ names it. The SPEC's omitted keys take the SPEC
// default (group = 32) or the attribute's TableGen default (spike = false),
// and its errors are the attribute's own verify, under a caret.
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s --mixq-quantize="scheme=fp4 overrides=down=fp4:group=8" | FileCheck %s --check-prefix=DEFAULT
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s --mixq-quantize="scheme=fp4:group=16,spike=yes overrides=down=lut:bits=3" | FileCheck %s --check-prefix=SPIKE
// RUN: not mixq-opt --load-dialect-plugin=%fp4_plugin %s --mixq-quantize="scheme=fp4:group=-8" 2>&1 | FileCheck %s --strict-whitespace --check-prefix=GROUP
// RUN: not mixq-opt --load-dialect-plugin=%fp4_plugin %s --mixq-quantize="scheme=fp4:groups=8" 2>&1 | FileCheck %s --check-prefix=KEY
// RUN: not mixq-opt --load-dialect-plugin=%fp4_plugin %s --mixq-quantize="scheme=fp4:spike=maybe" 2>&1 | FileCheck %s --check-prefix=BOOL
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s --mixq-quantize="scheme=lut:bits=3+sparse:frac=0.01" | FileCheck %s --check-prefix=WRAPPED
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s --mixq-quantize="scheme=fp4:act-bits=8 overrides=down=fp4:group=8" | FileCheck %s --check-prefix=ACT

// DEFAULT: mixq.weight @up : !mixq.qtensor<8x64, #mixq_test.fp4<group = 32>>
// DEFAULT: mixq.weight @down : !mixq.qtensor<64x8, #mixq_test.fp4<group = 8>>

// SPIKE: mixq.weight @up : !mixq.qtensor<8x64, #mixq_test.fp4<group = 16, spike = true>>
// SPIKE: mixq.weight @down : !mixq.qtensor<64x8, #mixq.lut<bits = 3>>

// GROUP: error: invalid scheme spec: fp4 'group' must be positive, got -8
// GROUP-NEXT: {{^}}  fp4:group=-8
// GROUP-NEXT: {{^}}            ^
// KEY: error: invalid scheme spec: unknown option 'groups' for scheme 'fp4' (known: group, spike, act-bits)
// BOOL: error: invalid scheme spec: fp4 'spike' must be true or false, got 'maybe'

// A scheme outside mixq that takes quantized activations gets its
// mixq.quantize_act from getActivationBits alone; down stays weight-only.
// ACT: %[[U:.*]] = mixq.weight @up : !mixq.qtensor<8x64, #mixq_test.fp4<group = 32, act_bits = 8>>
// ACT-NEXT: %[[XQ:.*]] = mixq.quantize_act %{{.*}}, %[[U]] bits = 8
// ACT-NEXT: mixq.matmul %[[XQ]], %[[U]]
// ACT: %[[D:.*]] = mixq.weight @down : !mixq.qtensor<64x8, #mixq_test.fp4<group = 8>>
// ACT-NEXT: mixq.matmul %{{.*}}, %[[D]]

// A built-in wrapper takes any registered dense scheme.
// WRAPPED: mixq.weight @up : !mixq.qtensor<8x64, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.01>>

func.func @block(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %wu = llm.weight @up : tensor<8x64xf32>
  %u = llm.linear %x, %wu : tensor<?x64xf32>, tensor<8x64xf32> -> tensor<?x8xf32>
  %wd = llm.weight @down : tensor<64x8xf32>
  %d = llm.linear %u, %wd : tensor<?x8xf32>, tensor<64x8xf32> -> tensor<?x64xf32>
  return %d : tensor<?x64xf32>
}
