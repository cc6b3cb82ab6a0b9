//===- TableOffsetTest.cpp - table offsets of resident lookups ------------===//
//
// gatherResidentBytes addresses a lookup in a resident tile in bytes. A
// code (x >> shift) & mask becomes one shift and one lop3 that ORs it into
// the row's offset, or, where the scaled field is exactly byte b of x (the
// rest of that byte known zero, rows a multiple of 256 bytes apart), one
// byte permute. These tests count which the offsets take.
//===----------------------------------------------------------------------===//
#include "codegen/cuda/MatmulKernelsInternal.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::mixq::cuda;
using namespace mlir::mixq::cuda::gen::matmul;

namespace {

class TableOffsetTest : public ::testing::Test {
protected:
  void SetUp() override {
    context.loadDialect<arith::ArithDialect, func::FuncDialect, gpu::GPUDialect,
                        LLVM::LLVMDialect, memref::MemRefDialect,
                        vector::VectorDialect>();
  }

  /// Looks up the four fields (word >> (8m + fieldShift)) & mask, m = 0..3,
  /// of `word` (masked first with `wordMask` when it is nonzero) in a tile
  /// of `rows` rows of `entries` i32, and counts the offsets' prmt and lop3.
  std::pair<int, int> countOffsets(int64_t rows, int64_t entries,
                                   uint32_t wordMask, uint32_t fieldShift,
                                   uint32_t mask) {
    OpBuilder b(&context);
    Location loc = b.getUnknownLoc();
    module = ModuleOp::create(loc);
    b.setInsertionPointToEnd(module->getBody());
    auto workgroup =
        gpu::AddressSpaceAttr::get(&context, gpu::AddressSpace::Workgroup);
    Type i32 = b.getI32Type();
    auto bytesType = MemRefType::get({rows * entries * 4}, b.getI8Type(),
                                     MemRefLayoutAttrInterface{}, workgroup);
    auto func = func::FuncOp::create(b, loc, "f",
                                     b.getFunctionType({bytesType, i32}, {}));
    Block *entry = func.addEntryBlock();
    b.setInsertionPointToStart(entry);
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    auto tileType = MemRefType::get({rows, entries}, i32,
                                    MemRefLayoutAttrInterface{}, workgroup);
    Value tile = memref::ViewOp::create(b, loc, tileType, entry->getArgument(0),
                                        zero, ValueRange{});
    ResidentComponent component{0, tile, entry->getArgument(0)};
    Value word = entry->getArgument(1);
    if (wordMask)
      word = arith::AndIOp::create(
          b, loc, word,
          arith::ConstantIntOp::create(b, loc, i32, int64_t(wordMask)));
    auto vectorType = VectorType::get({4}, i32);
    Value words = vector::BroadcastOp::create(b, loc, vectorType, word);
    SmallVector<int32_t> shifts;
    for (uint32_t m = 0; m < 4; ++m)
      shifts.push_back(int32_t(8 * m + fieldShift));
    Value codes = arith::AndIOp::create(
        b, loc,
        arith::ShRUIOp::create(
            b, loc, words,
            arith::ConstantOp::create(
                b, loc, DenseIntElementsAttr::get(vectorType, shifts))),
        arith::ConstantOp::create(
            b, loc, DenseIntElementsAttr::get(vectorType, int32_t(mask))));
    (void)gatherResidentBytes(b, loc, component, zero, codes);
    int prmt = 0, lop3 = 0;
    module->walk([&](LLVM::InlineAsmOp op) {
      StringRef text = op.getAsmString();
      prmt += text.starts_with("prmt.b32");
      lop3 += text.starts_with("lop3.b32");
    });
    return {prmt, lop3};
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
};

// bitplane's pair indices: 6-bit fields from bit 2 of each byte of a word
// whose other bits are masked off, rows of 64 i32 (256 bytes): bytes 1-3
// by one byte permute each, byte 0 by one lop3.
TEST_F(TableOffsetTest, CleanBytesTakeABytePermute) {
  EXPECT_EQ(countOffsets(4, 64, 0xFCFCFCFC, 2, 0x3F), std::make_pair(3, 1));
}

// The same fields of a word whose other bits are unknown (lut's code
// stream, where fields share bytes): a shift and a lop3 each.
TEST_F(TableOffsetTest, BytesWithOtherBitsKeepTheLop3) {
  EXPECT_EQ(countOffsets(4, 64, 0, 2, 0x3F), std::make_pair(0, 4));
  // One bit of the byte below the field not known zero is enough.
  EXPECT_EQ(countOffsets(4, 64, 0xFDFCFCFC, 2, 0x3F), std::make_pair(2, 2));
}

// Rows 64 bytes apart (16 i32 entries): the row offset's low byte is not
// zero, so no byte permute, even for a clean byte.
TEST_F(TableOffsetTest, RowsNotAMultipleOf256BytesKeepTheLop3) {
  EXPECT_EQ(countOffsets(4, 16, 0xFCFCFCFC, 2, 0x0F), std::make_pair(0, 4));
}

// 8-bit fields scaled by 4 bytes (fp4's pair table, one row of 256 i32)
// are 10-bit offsets: a byte permute would drop their top 2 bits, so each
// takes a shift and a lop3, although the field starts a whole number of
// bytes up once scaled and the bits below it are known zero.
TEST_F(TableOffsetTest, OffsetsWiderThanAByteKeepTheLop3) {
  EXPECT_EQ(countOffsets(1, 256, 0xFCFCFCFC, 2, 0xFF), std::make_pair(0, 4));
  EXPECT_EQ(countOffsets(1, 256, 0, 0, 0xFF), std::make_pair(0, 4));
}

} // namespace
