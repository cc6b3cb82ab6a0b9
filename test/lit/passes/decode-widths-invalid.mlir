// Errors of --mixq-decode-widths.
// RUN: mixq-opt %s -split-input-file -verify-diagnostics \
// RUN:   --mixq-decode-widths="widths=4,5"
// RUN: not mixq-opt %s -split-input-file --mixq-decode-widths 2>&1 \
// RUN:   | FileCheck %s --check-prefix=EMPTY
// RUN: not mixq-opt %s -split-input-file \
// RUN:   --mixq-decode-widths="widths=3 prefill-width=1" 2>&1 \
// RUN:   | FileCheck %s --check-prefix=PREFILL

// RUN: not mixq-opt %s -split-input-file --mixq-decode-widths="widths=4,4" \
// RUN:   2>&1 | FileCheck %s --check-prefix=TWICE
// RUN: not mixq-opt %s -split-input-file --mixq-decode-widths="widths=1" \
// RUN:   2>&1 | FileCheck %s --check-prefix=FLOOR

// TWICE: error: decode width 4 is given twice
// FLOOR: error: decode width 1 is outside 2..4, the widths @decode's nested weights decode at
// EMPTY: error: mixq-decode-widths needs at least one width (widths=4,3,2)
// PREFILL: error: prefill width 1 is outside 2..4, the widths @prefill's nested weights decode at

// A width above the widest weight.
func.func @prefill(%x: tensor<?x64xf32>) {
  %q = mixq.weight @wq : !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4>>
  return
}
// expected-error @below {{decode width 5 is outside 2..4, the widths @decode's nested weights decode at}}
func.func @decode(%x: tensor<1x64xf32>) {
  %q = mixq.weight @wq : !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4>>
  return
}

// -----

// No nested weight at all.
// expected-error @below {{decode widths need weights with nested widths (#mixq.bitplane, alone or as the dense part of #mixq.sparse); no weight of @decode has any}}
func.func @decode(%x: tensor<1x64xf32>) {
  %a = mixq.weight @wa : !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 32>>
  return
}

// -----

// expected-error @below {{no @decode function to give widths to}}
module {
  func.func @prefill(%x: tensor<?x64xf32>) {
    return
  }
}

// -----

// expected-error @below {{the module already has decode widths (mixq.decode_widths); run the pass once}}
module attributes {mixq.decode_widths = []} {
  func.func @decode(%x: tensor<1x64xf32>) {
    return
  }
}

// -----

// A copy's name is taken.
// expected-error @below {{the module already has a @decode_w5 for decode width 5}}
module {
  func.func @decode(%x: tensor<1x64xf32>) {
    %q = mixq.weight @wq : !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 8>>
    return
  }
  func.func @decode_w5(%x: tensor<1x64xf32>) {
    return
  }
}
