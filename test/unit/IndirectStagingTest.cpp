//===- IndirectStagingTest.cpp - when a GEMV stages indirect tiles --------===//
//
// A decode GEMV stages an indirect component's tiles (mixed's extra codes,
// ComponentSpec::indirectColumns) only where they fit: dropIndirectTilesOver
// gives them up, and only them, when the multi-buffered staging tiles would
// take more than the shared memory left beside x and the resident tiles.
// getCopyElements decides how a lane's slice of a staged component is
// copied: alone, or as 16-byte pieces the lanes of a row share.
//===----------------------------------------------------------------------===//
#include "codegen/cuda/MatmulKernelsInternal.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::mixq::cuda;
using namespace mlir::mixq::cuda::gen::matmul;

namespace {

class IndirectStagingTest : public ::testing::Test {
protected:
  void SetUp() override {
    // The staging tiles are workgroup memrefs.
    context.loadDialect<func::FuncDialect, gpu::GPUDialect>();
    OpBuilder b(&context);
    module = ModuleOp::create(b.getUnknownLoc());
    b.setInsertionPointToEnd(module->getBody());
    // Low codes of a 64 x 128 2-bit matrix (8 words a row) and the extra
    // codes of 5 high groups of 64 plus the zero row (4 words a row).
    Type i32 = b.getI32Type();
    auto type = b.getFunctionType(
        {MemRefType::get({64, 8}, i32), MemRefType::get({6, 4}, i32)}, {});
    auto func = func::FuncOp::create(b, b.getUnknownLoc(), "f", type);
    Block *entry = func.addEntryBlock();
    ops.components.assign(entry->args_begin(), entry->args_end());
    ops.rows = 64;
    ops.cols = 128;
    // 64-column tiles: 4 words of each a lane and step.
    tiling.tileCols = 64;
    tiling.staged = {{0, 4, 4, 8, Value(), 0}, {1, 4, 4, 4, Value(), 64}};
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  MatmulOperands ops;
  MatmulTiling tiling;
};

// 4 warps x 1 row x 32 lanes x 16 bytes = 2 KiB a component and stage.
TEST_F(IndirectStagingTest, KeptWhereTheTilesFit) {
  ops.pipelineStages = 3;
  dropIndirectTilesOver(ops, tiling, 3 * 4096);
  ASSERT_EQ(tiling.staged.size(), 2u);
  EXPECT_EQ(tiling.staged[1].indirectColumns, 64);
}

TEST_F(IndirectStagingTest, OnlyTheIndirectTilesGoWhereTheyDoNot) {
  ops.pipelineStages = 3;
  dropIndirectTilesOver(ops, tiling, 3 * 4096 - 1);
  ASSERT_EQ(tiling.staged.size(), 1u);
  EXPECT_EQ(tiling.staged[0].index, 0u);
  EXPECT_EQ(tiling.staged[0].indirectColumns, 0);
}

TEST_F(IndirectStagingTest, DeeperPipelinesNeedMoreRoom) {
  ops.pipelineStages = 4;
  dropIndirectTilesOver(ops, tiling, 3 * 4096);
  EXPECT_EQ(tiling.staged.size(), 1u);
  // Two staging rows a warp (a tensor-core lane's two rows) double it.
  MatmulTiling twoRows;
  twoRows.tileCols = 64;
  twoRows.stagingRowsPerWarp = 2;
  twoRows.staged = {{0, 4, 4, 8, Value(), 0}, {1, 4, 4, 4, Value(), 64}};
  ops.pipelineStages = 3;
  dropIndirectTilesOver(ops, twoRows, 6 * 4096);
  EXPECT_EQ(twoRows.staged.size(), 2u);
  dropIndirectTilesOver(ops, twoRows, 6 * 4096 - 1);
  EXPECT_EQ(twoRows.staged.size(), 1u);
}

} // namespace

namespace {

// The copy of a lane's slice of i32 words: a 16-byte slice is one copy;
// with shared copies, 4-, 8-, 12- and 24-byte slices are copied as 16-byte
// pieces when rows start 16-byte aligned (24 words: 96 bytes); without, or
// with rows of 27 words (108 bytes), 4- and 8-byte slices are a lane's own
// copy and 12- and 24-byte ones cannot be staged.
TEST(SharedCopiesTest, PiecesOf16BytesWhereRowsAreAligned) {
  EXPECT_EQ(getCopyElements(4, 4, 24, /*shareCopies=*/true), 4);
  EXPECT_EQ(getCopyElements(3, 4, 24, true), 4);
  EXPECT_EQ(getCopyElements(6, 4, 24, true), 4);
  EXPECT_EQ(getCopyElements(1, 4, 24, true), 4);
  EXPECT_EQ(getCopyElements(2, 4, 24, true), 4);
  // f16 elements: an 8-byte slice of 4 is shared as pieces of 8.
  EXPECT_EQ(getCopyElements(4, 2, 48, true), 8);
}

TEST(SharedCopiesTest, ALanesOwnSliceOtherwise) {
  for (bool share : {false, true}) {
    EXPECT_EQ(getCopyElements(4, 4, share ? 27 : 24, share), 4);
    EXPECT_EQ(getCopyElements(1, 4, share ? 27 : 24, share), 1);
    EXPECT_EQ(getCopyElements(2, 4, share ? 27 : 24, share), 2);
    EXPECT_EQ(getCopyElements(3, 4, share ? 27 : 24, share), 0);
    EXPECT_EQ(getCopyElements(6, 4, share ? 27 : 24, share), 0);
  }
  // 32-byte slices are no single copy, shared or not.
  EXPECT_EQ(getCopyElements(8, 4, 24, true), 0);
}

} // namespace
