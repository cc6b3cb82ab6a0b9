// The test-only scheme's own checks run through the generic qtensor verifier.
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s --split-input-file --verify-diagnostics

// expected-error @+1 {{fp4 'group' (3) does not divide the number of inputs}}
func.func @bad(%w: !mixq.qtensor<2x16, #mixq_test.fp4<group = 3>>)

// -----

// expected-error @+1 {{fp4 'group' must be positive, got -8}}
func.func @negative_group(%w: !mixq.qtensor<2x16, #mixq_test.fp4<group = -8>>)
