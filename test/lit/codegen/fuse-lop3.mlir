// RUN: mixq-opt %s -split-input-file -mixq-fuse-lop3 | FileCheck %s

// (x & C1) | C2 on i32: one lop3.b32 (0xEA = (a & b) | c), pure asm.
// CHECK-LABEL: func.func @scalar(
// CHECK-SAME:    %[[X:.*]]: i32
// CHECK:         %[[R:.*]] = llvm.inline_asm asm_dialect = att "lop3.b32 $0, $1, 983055, 1677747200, 234;", "=r,r" %[[X]] : (i32) -> i32
// CHECK-NOT:     arith.andi
// CHECK-NOT:     arith.ori
// CHECK:         return %[[R]]
func.func @scalar(%x: i32) -> i32 {
  %mask = arith.constant 983055 : i32
  %magic = arith.constant 1677747200 : i32
  %a = arith.andi %mask, %x : i32
  %o = arith.ori %magic, %a : i32
  return %o : i32
}

// -----

// Vectors: one lop3 per element, with that element's constants.
// CHECK-LABEL: func.func @vector(
// CHECK-SAME:    %[[X:.*]]: vector<2xi32>
// CHECK:         %[[X0:.*]] = vector.extract %[[X]][0]
// CHECK:         %[[R0:.*]] = llvm.inline_asm {{.*}}"lop3.b32 $0, $1, 983055, 1677747200, 234;", "=r,r" %[[X0]]
// CHECK:         %[[X1:.*]] = vector.extract %[[X]][1]
// CHECK:         %[[R1:.*]] = llvm.inline_asm {{.*}}"lop3.b32 $0, $1, 15728880, 1677747200, 234;", "=r,r" %[[X1]]
// CHECK:         %[[R:.*]] = vector.from_elements %[[R0]], %[[R1]] : vector<2xi32>
// CHECK:         return %[[R]]
func.func @vector(%x: vector<2xi32>) -> vector<2xi32> {
  %mask = arith.constant dense<[983055, 15728880]> : vector<2xi32>
  %magic = arith.constant dense<1677747200> : vector<2xi32>
  %a = arith.andi %x, %mask : vector<2xi32>
  %o = arith.ori %a, %magic : vector<2xi32>
  return %o : vector<2xi32>
}

// -----

// Not a masked OR of constants, or not i32: left alone.
// CHECK-LABEL: func.func @untouched(
// CHECK-NOT:     llvm.inline_asm
// CHECK:         arith.ori
// CHECK:         arith.ori
// CHECK:         arith.ori
func.func @untouched(%x: i32, %y: i32, %z: i64) -> (i32, i32, i64) {
  %mask = arith.constant 15 : i32
  %a = arith.andi %x, %mask : i32
  %o1 = arith.ori %a, %y : i32
  %b = arith.andi %x, %y : i32
  %o2 = arith.ori %b, %mask : i32
  %m64 = arith.constant 15 : i64
  %c = arith.andi %z, %m64 : i64
  %o3 = arith.ori %c, %m64 : i64
  return %o1, %o2, %o3 : i32, i32, i64
}

// -----

// (a & M) | (b & ~M): one lop3.b32 selecting a's bits by M (0xE4 =
// (a & c) | (b & ~c)), for either operand order of the ands.
// CHECK-LABEL: func.func @select(
// CHECK-SAME:    %[[A:[^:]*]]: i32, %[[B:[^:]*]]: i32
// CHECK:         %[[R:.*]] = llvm.inline_asm asm_dialect = att "lop3.b32 $0, $1, $2, 3435973836, 228;", "=r,r,r" %[[A]], %[[B]] : (i32, i32) -> i32
// CHECK-NOT:     arith.andi
// CHECK-NOT:     arith.ori
// CHECK:         return %[[R]]
func.func @select(%a: i32, %b: i32) -> i32 {
  %top = arith.constant 3435973836 : i32
  %bottom = arith.constant 858993459 : i32
  %x = arith.andi %a, %top : i32
  %y = arith.andi %bottom, %b : i32
  %o = arith.ori %x, %y : i32
  return %o : i32
}

// -----

// Vectors: one lop3 per element, with that element's mask.
// CHECK-LABEL: func.func @select_vector(
// CHECK-SAME:    %[[A:[^:]*]]: vector<2xi32>, %[[B:[^:]*]]: vector<2xi32>
// CHECK-DAG:     %[[A0:.*]] = vector.extract %[[A]][0]
// CHECK-DAG:     %[[B0:.*]] = vector.extract %[[B]][0]
// CHECK:         %[[R0:.*]] = llvm.inline_asm {{.*}}"lop3.b32 $0, $1, $2, 3435973836, 228;", "=r,r,r" %[[A0]], %[[B0]]
// CHECK-DAG:     %[[A1:.*]] = vector.extract %[[A]][1]
// CHECK-DAG:     %[[B1:.*]] = vector.extract %[[B]][1]
// CHECK:         %[[R1:.*]] = llvm.inline_asm {{.*}}"lop3.b32 $0, $1, $2, 15, 228;", "=r,r,r" %[[A1]], %[[B1]]
// CHECK:         %[[R:.*]] = vector.from_elements %[[R0]], %[[R1]] : vector<2xi32>
// CHECK:         return %[[R]]
func.func @select_vector(%a: vector<2xi32>, %b: vector<2xi32>) -> vector<2xi32> {
  %top = arith.constant dense<[3435973836, 15]> : vector<2xi32>
  %bottom = arith.constant dense<[858993459, 4294967280]> : vector<2xi32>
  %x = arith.andi %a, %top : vector<2xi32>
  %y = arith.andi %b, %bottom : vector<2xi32>
  %o = arith.ori %x, %y : vector<2xi32>
  return %o : vector<2xi32>
}

// -----

// Masks that are not complements (a bit from neither, or from both) are
// no select: left alone.
// CHECK-LABEL: func.func @not_select(
// CHECK-NOT:     llvm.inline_asm
// CHECK:         arith.ori
// CHECK:         arith.ori
func.func @not_select(%a: i32, %b: i32) -> (i32, i32) {
  %top = arith.constant 3435973836 : i32
  %gap = arith.constant 858993458 : i32
  %both = arith.constant 858993460 : i32
  %x = arith.andi %a, %top : i32
  %y = arith.andi %b, %gap : i32
  %o1 = arith.ori %x, %y : i32
  %z = arith.andi %b, %both : i32
  %o2 = arith.ori %x, %z : i32
  return %o1, %o2 : i32, i32
}
