// Extensibility proof, tables the same for every row: #mixq_test.fp4
// (test/lib) offers the f16x2 e2m1 values of every pair of codes, 256 i32
// entries indexed by the byte the pair forms in its code stream, marked
// RowTableSpec::sameForEveryRow. The tensor-core GEMV, whose block barrier
// publishes the resident rows, holds one copy of it (1 KiB, one row), built
// by the warp of tile row 0; every row's lookups read row 0, whose offset is
// 0, so a lookup's byte offset is one shift and one lop3 (mask 0x3fc = 255
// entries times 4 bytes). The f32-FMA GEMV, whose warps only sync
// themselves, holds a copy per row, each warp building its own.
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s -mixq-build-gpu-kernels="max-tokens=16 chips=sm_90" | FileCheck %s
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s -mixq-build-gpu-kernels="max-tokens=16 chips=sm_90 tensor-core-gemv=false" | FileCheck %s --check-prefix=FMA

// CHECK-LABEL: gpu.func @k_fp4(
// CHECK-SAME:    %[[PAIR_BYTES:[^ ]*]] : memref<1024xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}
// CHECK:         %[[PAIRS:.*]] = memref.view %[[PAIR_BYTES]][%{{.*}}][] : memref<1024xi8, #gpu.address_space<workgroup>> to memref<1x256xi32, #gpu.address_space<workgroup>>
// CHECK:         %[[FIRST:.*]] = arith.cmpi eq, %{{.*}}, %c0{{.*}} : index
// CHECK-NEXT:    scf.if %[[FIRST]] {
// CHECK:           scf.for %[[E:.*]] = %{{.*}} to %c256{{.*}} step %c32
// CHECK:             memref.store %{{.*}}, %[[PAIRS]][%c0{{.*}}, %[[E]]]
// CHECK:         gpu.barrier
// CHECK:         scf.for {{.*}} iter_args
// CHECK-NOT:       memref.load %[[PAIRS]]
// CHECK-COUNT-16:  llvm.inline_asm asm_dialect = att "lop3.b32 $0, $1, 1020, $2, 234;"
// CHECK:           vector.bitcast %{{.*}} : vector<16xi32> to vector<32xf16>
// CHECK:           nvgpu.mma.sync

// FMA-LABEL: gpu.func @k_fp4(
// FMA-SAME:    %[[PAIR_BYTES:[^ ]*]] : memref<4096xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}
// FMA:         memref.view %[[PAIR_BYTES]][%{{.*}}][] : memref<4096xi8, #gpu.address_space<workgroup>> to memref<4x256xi32, #gpu.address_space<workgroup>>
// FMA-NOT:     gpu.barrier
// FMA:         scf.for {{.*}} iter_args
// FMA-COUNT-16:  llvm.inline_asm asm_dialect = att "lop3.b32 $0, $1, 1020, $2, 234;"
// FMA:           vector.bitcast %{{.*}} : vector<16xi32> to vector<32xf16>
// FMA:           math.fma
func.func private @k_fp4(%x: tensor<1x256xf16>, %w: !mixq.qtensor<16x256, #mixq_test.fp4<group = 128>>) -> tensor<1x16xf16> attributes {mixq.kernel} {
  %0 = mixq.matmul %x, %w : tensor<1x256xf16>, !mixq.qtensor<16x256, #mixq_test.fp4<group = 128>> -> tensor<1x16xf16>
  return %0 : tensor<1x16xf16>
}
