// RUN: mixq-opt %s -split-input-file -mixq-magic-int-to-float | FileCheck %s

// A 4-bit code to f32: OR into 2^23, reinterpret, subtract 2^23.
// CHECK-LABEL: func.func @code_f32(
// CHECK-SAME:    %[[W:.*]]: i32
// CHECK:         %[[C:.*]] = arith.andi %[[W]], %{{.*}} : i32
// CHECK:         %[[O:.*]] = arith.ori %[[C]], %{{.*}} : i32
// CHECK:         %[[B:.*]] = arith.bitcast %[[O]] : i32 to f32
// CHECK:         %[[R:.*]] = arith.subf %[[B]], %{{.*}} : f32
// CHECK-NOT:     arith.uitofp
// CHECK:         return %[[R]]
func.func @code_f32(%w: i32) -> f32 {
  %mask = arith.constant 15 : i32
  %c = arith.andi %w, %mask : i32
  %f = arith.uitofp %c : i32 to f32
  return %f : f32
}

// -----

// The magic constants: 0x4B000000 = 1258291200 and 2^23.
// CHECK-LABEL: func.func @constants(
// CHECK-DAG:     arith.constant 1258291200 : i32
// CHECK-DAG:     arith.constant 0x4B000000 : f32
func.func @constants(%w: i32) -> f32 {
  %mask = arith.constant 255 : i32
  %c = arith.andi %mask, %w : i32
  %f = arith.uitofp %c : i32 to f32
  return %f : f32
}

// -----

// f16 results use 0x6400 (1024) when the code is below 2^10.
// CHECK-LABEL: func.func @code_f16(
// CHECK:         %[[T:.*]] = arith.trunci %{{.*}} : i32 to i16
// CHECK:         %[[O:.*]] = arith.ori %[[T]], %{{.*}} : i16
// CHECK:         %[[B:.*]] = arith.bitcast %[[O]] : i16 to f16
// CHECK:         arith.subf %[[B]], %{{.*}} : f16
func.func @code_f16(%w: i32) -> f16 {
  %mask = arith.constant 1023 : i32
  %c = arith.andi %w, %mask : i32
  %f = arith.uitofp %c : i32 to f16
  return %f : f16
}

// -----

// Left alone: no mask, a mask too wide for f32 (2^23) or f16 (2^10), a
// signed conversion.
// CHECK-LABEL: func.func @unchanged(
// CHECK-COUNT-3: arith.uitofp
// CHECK:         arith.sitofp
func.func @unchanged(%w: i32) -> (f32, f32, f16, f32) {
  %wide = arith.constant 8388608 : i32
  %m1024 = arith.constant 1024 : i32
  %m15 = arith.constant 15 : i32
  %a = arith.uitofp %w : i32 to f32
  %c = arith.andi %w, %wide : i32
  %b = arith.uitofp %c : i32 to f32
  %d = arith.andi %w, %m1024 : i32
  %e = arith.uitofp %d : i32 to f16
  %g = arith.andi %w, %m15 : i32
  %h = arith.sitofp %g : i32 to f32
  return %a, %b, %e, %h : f32, f32, f16, f32
}

// -----

// Vectors (word-level dequantization): the same, with splat constants, when
// every element of the mask is below the bound.
// CHECK-LABEL: func.func @code_vector(
// CHECK:         %[[C:.*]] = arith.andi %{{.*}}, %{{.*}} : vector<4xi32>
// CHECK:         %[[O:.*]] = arith.ori %[[C]], %{{.*}} : vector<4xi32>
// CHECK:         %[[B:.*]] = arith.bitcast %[[O]] : vector<4xi32> to vector<4xf32>
// CHECK:         %[[R:.*]] = arith.subf %[[B]], %{{.*}} : vector<4xf32>
// CHECK-NOT:     arith.uitofp
// CHECK:         return %[[R]]
func.func @code_vector(%w: vector<4xi32>) -> vector<4xf32> {
  %mask = arith.constant dense<[7, 7, 15, 7]> : vector<4xi32>
  %c = arith.andi %w, %mask : vector<4xi32>
  %f = arith.uitofp %c : vector<4xi32> to vector<4xf32>
  return %f : vector<4xf32>
}

// -----

// CHECK-LABEL: func.func @code_vector_f16(
// CHECK:         arith.trunci %{{.*}} : vector<2xi32> to vector<2xi16>
// CHECK:         arith.bitcast %{{.*}} : vector<2xi16> to vector<2xf16>
// CHECK-NOT:     arith.uitofp
func.func @code_vector_f16(%w: vector<2xi32>) -> vector<2xf16> {
  %mask = arith.constant dense<1023> : vector<2xi32>
  %c = arith.andi %w, %mask : vector<2xi32>
  %f = arith.uitofp %c : vector<2xi32> to vector<2xf16>
  return %f : vector<2xf16>
}

// -----

// A vector mask with one element at 2^23 is left alone.
// CHECK-LABEL: func.func @vector_too_wide(
// CHECK:         arith.uitofp
func.func @vector_too_wide(%w: vector<2xi32>) -> vector<2xf32> {
  %mask = arith.constant dense<[15, 8388608]> : vector<2xi32>
  %c = arith.andi %w, %mask : vector<2xi32>
  %f = arith.uitofp %c : vector<2xi32> to vector<2xf32>
  return %f : vector<2xf32>
}
