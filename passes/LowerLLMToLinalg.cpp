//===- LowerLLMToLinalg.cpp - llm ops to linalg on tensors ----------------===//
//
// The executable definition of the llm dialect: every compute op becomes
// linalg.generic ops (plus tensor slicing and reshapes) on tensors that
// compute exactly what LLMOps.td says, in f32, rounding only the final
// result into the storage type T. This is the front half of the CPU code
// generator and the reference for every other backend, so nothing is
// approximated: only the additions and multiplications of reductions carry
// `reassoc | contract`, which leaves the summation order unspecified as the
// op descriptions allow.
//
// Every row (sequence) dimension may be dynamic. When operands disagree on
// whether the rows are static (the verifiers allow `?` against `4`), they are
// first cast to the common, most static type, and the result is cast to the
// op's result type at the end.
//===----------------------------------------------------------------------===//
#include "dialect/LLM/LLMOps.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "passes/LLMFormulas.h"
#include "passes/LinalgBuilders.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/DialectConversion.h"

#include <cmath>
#include <limits>

namespace mlir::mixq {
#define GEN_PASS_DEF_MIXQLOWERLLMTOLINALG
#include "passes/Passes.h.inc"
} // namespace mlir::mixq

using namespace mlir;
using namespace mlir::mixq;

namespace {

using utils::IteratorType;

/// The only relaxation: reductions may be reassociated and contracted.
constexpr arith::FastMathFlags kReduction =
    arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;

constexpr IteratorType kParallel = IteratorType::parallel;
constexpr IteratorType kReduce = IteratorType::reduction;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// The first static row count among `values` (rank-2 or rank-1 tensors), or
/// dynamic if every one is dynamic.
int64_t commonRows(ValueRange values) {
  for (Value value : values) {
    int64_t rows = cast<RankedTensorType>(value.getType()).getDimSize(0);
    if (!ShapedType::isDynamic(rows))
      return rows;
  }
  return ShapedType::kDynamic;
}

/// `value` with its first dimension set to `rows` (a tensor.cast when that
/// changes the type).
Value castRows(OpBuilder &b, Location loc, Value value, int64_t rows) {
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<int64_t> shape(type.getShape());
  shape[0] = rows;
  auto newType = RankedTensorType::get(shape, type.getElementType());
  if (newType == type)
    return value;
  return tensor::CastOp::create(b, loc, newType, value);
}

/// `value` cast to `type` (which differs at most in static-ness).
Value castTo(OpBuilder &b, Location loc, Value value, Type type) {
  if (value.getType() == type)
    return value;
  return tensor::CastOp::create(b, loc, type, value);
}

/// A tensor.empty of the given mixed sizes.
Value buildEmpty(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                 Type elementType) {
  return tensor::EmptyOp::create(b, loc, sizes, elementType);
}

/// A tensor of the given mixed sizes filled with the f32 `value`.
Value buildFilled(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                  float value) {
  Value empty = buildEmpty(b, loc, sizes, b.getF32Type());
  Value scalar = buildF32Constant(b, loc, value);
  return linalg::FillOp::create(b, loc, ValueRange{scalar}, ValueRange{empty})
      .getResult(0);
}

/// Maps of `numDims` loops, each given by the loop indices it reads.
SmallVector<AffineMap> buildMaps(MLIRContext *ctx, unsigned numDims,
                                 ArrayRef<SmallVector<unsigned>> operands) {
  SmallVector<AffineMap> maps;
  for (ArrayRef<unsigned> dims : operands) {
    SmallVector<AffineExpr> exprs;
    for (unsigned dim : dims)
      exprs.push_back(getAffineDimExpr(dim, ctx));
    maps.push_back(AffineMap::get(numDims, 0, exprs, ctx));
  }
  return maps;
}

using BodyBuilder = function_ref<void(OpBuilder &, Location, ValueRange)>;

/// A linalg.generic with one result per output.
linalg::GenericOp buildGeneric(OpBuilder &b, Location loc, ValueRange inputs,
                               ValueRange outputs, ArrayRef<AffineMap> maps,
                               ArrayRef<IteratorType> iterators,
                               BodyBuilder body) {
  return linalg::GenericOp::create(b, loc, outputs.getTypes(), inputs, outputs,
                                   maps, iterators, body);
}

/// An elementwise op on rank-2 operands of the same shape, computed in f32
/// and rounded into `resultType`'s element type.
Value buildElementwise(
    OpBuilder &b, Location loc, ValueRange operands,
    RankedTensorType resultType,
    function_ref<Value(OpBuilder &, Location, ValueRange)> computeF32) {
  int64_t rows = commonRows(operands);
  SmallVector<Value> inputs;
  for (Value operand : operands)
    inputs.push_back(castRows(b, loc, operand, rows));
  auto elementType = cast<FloatType>(resultType.getElementType());
  Value init = buildEmpty(b, loc, tensor::getMixedSizes(b, loc, inputs.front()),
                          elementType);
  SmallVector<AffineMap> maps(inputs.size() + 1, b.getMultiDimIdentityMap(2));
  auto generic = buildGeneric(
      b, loc, inputs, init, maps, {kParallel, kParallel},
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        SmallVector<Value> widened;
        for (Value arg : args.drop_back())
          widened.push_back(buildExtendToF32(nb, nloc, arg));
        Value result = computeF32(nb, nloc, widened);
        linalg::YieldOp::create(
            nb, nloc, buildTruncateFromF32(nb, nloc, result, elementType));
      });
  return castTo(b, loc, generic.getResult(0), resultType);
}

//===----------------------------------------------------------------------===//
// llm.embed
//===----------------------------------------------------------------------===//

struct EmbedLowering : OpConversionPattern<llm::EmbedOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(llm::EmbedOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value table = adaptor.getTable();
    Value tokens = adaptor.getTokens();
    auto tableType = cast<RankedTensorType>(table.getType());
    SmallVector<OpFoldResult> sizes = {
        tensor::getMixedSize(rewriter, loc, tokens, 0),
        rewriter.getIndexAttr(tableType.getDimSize(1))};
    Value init = buildEmpty(rewriter, loc, sizes, tableType.getElementType());
    // result[s, d] = table[tokens[s], d], copied bit-exactly.
    auto generic = buildGeneric(
        rewriter, loc, tokens, init, buildMaps(getContext(), 2, {{0}, {0, 1}}),
        {kParallel, kParallel}, [&](OpBuilder &b, Location l, ValueRange args) {
          Value row =
              arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
          Value col = linalg::IndexOp::create(b, l, 1);
          Value value =
              tensor::ExtractOp::create(b, l, table, ValueRange{row, col});
          linalg::YieldOp::create(b, l, value);
        });
    rewriter.replaceOp(
        op, castTo(rewriter, loc, generic.getResult(0), op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// llm.rms_norm
//===----------------------------------------------------------------------===//

struct RMSNormLowering : OpConversionPattern<llm::RMSNormOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(llm::RMSNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = getContext();
    Value input = adaptor.getInput();
    Value weight = adaptor.getWeight();
    auto inputType = cast<RankedTensorType>(input.getType());
    auto elementType = cast<FloatType>(inputType.getElementType());
    int64_t hidden = inputType.getDimSize(1);
    OpFoldResult rows = tensor::getMixedSize(rewriter, loc, input, 0);

    // sum[s] = sum_d float(input[s, d])^2.
    Value sumInit = buildFilled(rewriter, loc, {rows}, 0.0f);
    Value sum =
        buildGeneric(
            rewriter, loc, input, sumInit, buildMaps(ctx, 2, {{0, 1}, {0}}),
            {kParallel, kReduce},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value x = buildExtendToF32(b, l, args[0]);
              Value square = arith::MulFOp::create(b, l, x, x, kReduction);
              linalg::YieldOp::create(
                  b, l,
                  arith::AddFOp::create(b, l, args[1], square, kReduction)
                      .getResult());
            })
            .getResult(0);

    // r[s] = 1 / sqrt(sum[s] / D + eps).
    float eps = op.getEps().convertToFloat();
    Value rInit = buildEmpty(rewriter, loc, {rows}, rewriter.getF32Type());
    Value r =
        buildGeneric(rewriter, loc, sum, rInit, buildMaps(ctx, 1, {{0}, {0}}),
                     {kParallel},
                     [&](OpBuilder &b, Location l, ValueRange args) {
                       linalg::YieldOp::create(
                           b, l, buildRMSNormScale(b, l, args[0], hidden, eps));
                     })
            .getResult(0);

    // result[s, d] = T(float(input[s, d]) * r[s] * float(weight[d])).
    Value init = buildEmpty(rewriter, loc,
                            {rows, rewriter.getIndexAttr(hidden)}, elementType);
    Value result =
        buildGeneric(rewriter, loc, ValueRange{input, r, weight}, init,
                     buildMaps(ctx, 2, {{0, 1}, {0}, {1}, {0, 1}}),
                     {kParallel, kParallel},
                     [&](OpBuilder &b, Location l, ValueRange args) {
                       Value x = buildExtendToF32(b, l, args[0]);
                       Value w = buildExtendToF32(b, l, args[2]);
                       Value scaled = arith::MulFOp::create(b, l, x, args[1]);
                       Value y = arith::MulFOp::create(b, l, scaled, w);
                       linalg::YieldOp::create(
                           b, l, buildTruncateFromF32(b, l, y, elementType));
                     })
            .getResult(0);
    rewriter.replaceOp(op, castTo(rewriter, loc, result, op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// llm.linear and llm.logits
//===----------------------------------------------------------------------===//

struct LinearLowering : OpConversionPattern<llm::LinearOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(llm::LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto elementType = cast<FloatType>(op.getType().getElementType());
    Value acc = buildMatmulTransposedB(rewriter, loc, adaptor.getInput(),
                                       adaptor.getWeight(), kReduction);
    Value result = buildTruncate(rewriter, loc, acc, elementType);
    rewriter.replaceOp(op, castTo(rewriter, loc, result, op.getType()));
    return success();
  }
};

struct LogitsLowering : OpConversionPattern<llm::LogitsOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(llm::LogitsOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    if (op.getLastTokenOnly()) {
      // Only row S - 1 is projected (checked: a static S is at least 1).
      auto inputType = cast<RankedTensorType>(input.getType());
      OpFoldResult last;
      if (inputType.isDynamicDim(0)) {
        Value rows = tensor::DimOp::create(rewriter, loc, input, 0);
        last = arith::SubIOp::create(rewriter, loc, rows,
                                     buildIndexConstant(rewriter, loc, 1))
                   .getResult();
      } else {
        last = rewriter.getIndexAttr(inputType.getDimSize(0) - 1);
      }
      SmallVector<OpFoldResult> offsets = {last, rewriter.getIndexAttr(0)};
      SmallVector<OpFoldResult> sizes = {
          rewriter.getIndexAttr(1),
          rewriter.getIndexAttr(inputType.getDimSize(1))};
      SmallVector<OpFoldResult> strides(2, rewriter.getIndexAttr(1));
      input = tensor::ExtractSliceOp::create(rewriter, loc, input, offsets,
                                             sizes, strides);
    }
    Value acc = buildMatmulTransposedB(rewriter, loc, input,
                                       adaptor.getWeight(), kReduction);
    rewriter.replaceOp(op, castTo(rewriter, loc, acc, op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// llm.rope
//===----------------------------------------------------------------------===//

/// freq_i = theta^(-(2i)/Dh) for i in [0, Dh/2), rescaled by `scaling` when
/// present. They depend on attributes only, so they are computed here, on
/// the host: the power in double precision and rounded once to f32 (the f32
/// value nearest the formula), the llama3 rescaling in f32 as its
/// description says.
} // namespace

SmallVector<float> mlir::mixq::computeRopeFrequencies(llm::RopeOp op) {
  int64_t headDim = op.getHeadDim();
  double theta = op.getTheta().convertToDouble();
  llm::Llama3RopeScalingAttr scaling = op.getScalingAttr();
  SmallVector<float> freqs;
  for (int64_t i = 0; i < headDim / 2; ++i) {
    float freq = static_cast<float>(
        std::pow(theta, -static_cast<double>(2 * i) / double(headDim)));
    if (scaling) {
      const float pi = 3.14159265358979323846f;
      float factor = scaling.getFactor().getValue().convertToFloat();
      float lowFactor = scaling.getLowFreqFactor().getValue().convertToFloat();
      float highFactor =
          scaling.getHighFreqFactor().getValue().convertToFloat();
      float original = static_cast<float>(scaling.getOriginalMaxPosition());
      float wavelen = 2.0f * pi / freq;
      float low = original / lowFactor;
      float high = original / highFactor;
      if (wavelen < high) {
        // Short wavelengths are kept.
      } else if (wavelen > low) {
        freq = freq / factor;
      } else {
        float t = (original / wavelen - lowFactor) / (highFactor - lowFactor);
        freq = (1.0f - t) * freq / factor + t * freq;
      }
    }
    freqs.push_back(freq);
  }
  return freqs;
}

namespace {

struct RopeLowering : OpConversionPattern<llm::RopeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(llm::RopeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = getContext();
    int64_t rows = commonRows({adaptor.getInput(), adaptor.getPositions()});
    Value input = castRows(rewriter, loc, adaptor.getInput(), rows);
    Value positions = castRows(rewriter, loc, adaptor.getPositions(), rows);
    auto inputType = cast<RankedTensorType>(input.getType());
    auto elementType = cast<FloatType>(inputType.getElementType());
    int64_t headDim = op.getHeadDim(), half = headDim / 2;
    bool interleaved = op.getLayout() == llm::RopeLayout::Interleaved;
    OpFoldResult rowsOfr = tensor::getMixedSize(rewriter, loc, input, 0);

    // cos[s, i], sin[s, i] of angle = float(positions[s]) * freq_i: Dh/2
    // angles per row, shared by every head.
    SmallVector<float> freqs = computeRopeFrequencies(op);
    auto freqType = RankedTensorType::get({half}, rewriter.getF32Type());
    Value freqTable = arith::ConstantOp::create(
        rewriter, loc, DenseElementsAttr::get(freqType, ArrayRef(freqs)));
    SmallVector<OpFoldResult> tableSizes = {rowsOfr,
                                            rewriter.getIndexAttr(half)};
    Value cosInit =
        buildEmpty(rewriter, loc, tableSizes, rewriter.getF32Type());
    Value sinInit =
        buildEmpty(rewriter, loc, tableSizes, rewriter.getF32Type());
    auto tables = buildGeneric(
        rewriter, loc, ValueRange{positions, freqTable},
        ValueRange{cosInit, sinInit},
        buildMaps(ctx, 2, {{0}, {1}, {0, 1}, {0, 1}}), {kParallel, kParallel},
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value position =
              arith::SIToFPOp::create(b, l, b.getF32Type(), args[0]);
          Value angle = arith::MulFOp::create(b, l, position, args[1]);
          Value cos = math::CosOp::create(b, l, angle);
          Value sin = math::SinOp::create(b, l, angle);
          linalg::YieldOp::create(b, l, ValueRange{cos, sin});
        });
    Value cosTable = tables.getResult(0);
    Value sinTable = tables.getResult(1);

    // result[s, c]: c is j0 or j1 of its pair (j0, j1) in head c / Dh;
    // `self` is x[s, c] and `other` the other element of the pair:
    //   j0: self * cos - other * sin      j1: other * sin + self * cos
    // i.e. self * cos + other * (j0 ? -sin : sin) (negation is exact).
    Value init = buildEmpty(
        rewriter, loc,
        {rowsOfr, rewriter.getIndexAttr(inputType.getDimSize(1))}, elementType);
    Value result =
        buildGeneric(
            rewriter, loc, input, init, buildMaps(ctx, 2, {{0, 1}, {0, 1}}),
            {kParallel, kParallel},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value row = linalg::IndexOp::create(b, l, 0);
              Value col = linalg::IndexOp::create(b, l, 1);
              Value j = arith::RemUIOp::create(
                  b, l, col, buildIndexConstant(b, l, headDim));
              Value isFirst, pair, partner;
              if (interleaved) {
                // (2i, 2i + 1): the parity of j (and of col, Dh is even).
                Value one = buildIndexConstant(b, l, 1);
                Value parity = arith::AndIOp::create(b, l, col, one);
                isFirst =
                    arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq,
                                          parity, buildIndexConstant(b, l, 0));
                pair = arith::ShRUIOp::create(b, l, j, one);
                partner = arith::XOrIOp::create(b, l, col, one);
              } else {
                // (i, i + Dh/2).
                Value halfValue = buildIndexConstant(b, l, half);
                isFirst = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult,
                                                j, halfValue);
                pair = arith::SelectOp::create(
                    b, l, isFirst, j,
                    arith::SubIOp::create(b, l, j, halfValue));
                partner = arith::SelectOp::create(
                    b, l, isFirst, arith::AddIOp::create(b, l, col, halfValue),
                    arith::SubIOp::create(b, l, col, halfValue));
              }
              Value self = buildExtendToF32(b, l, args[0]);
              Value other =
                  buildExtendToF32(b, l,
                                   tensor::ExtractOp::create(
                                       b, l, input, ValueRange{row, partner}));
              Value cos = tensor::ExtractOp::create(b, l, cosTable,
                                                    ValueRange{row, pair});
              Value sin = tensor::ExtractOp::create(b, l, sinTable,
                                                    ValueRange{row, pair});
              Value y = buildRopeElement(b, l, self, other, cos, sin, isFirst);
              linalg::YieldOp::create(
                  b, l, buildTruncateFromF32(b, l, y, elementType));
            })
            .getResult(0);
    rewriter.replaceOp(op, castTo(rewriter, loc, result, op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// llm.attention
//===----------------------------------------------------------------------===//

struct AttentionLowering : OpConversionPattern<llm::AttentionOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(llm::AttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = getContext();
    int64_t heads = op.getNumHeads(), kvHeads = op.getNumKvHeads();
    int64_t headDim = op.getHeadDim(), group = heads / kvHeads;
    int64_t rows = commonRows({adaptor.getQ(), adaptor.getK(), adaptor.getV()});
    Value q = castRows(rewriter, loc, adaptor.getQ(), rows);
    Value k = castRows(rewriter, loc, adaptor.getK(), rows);
    Value v = castRows(rewriter, loc, adaptor.getV(), rows);
    Value kCache = adaptor.getKCache();
    Value vCache = adaptor.getVCache();
    Value startPos = adaptor.getStartPos();
    auto elementType =
        cast<FloatType>(cast<RankedTensorType>(q.getType()).getElementType());
    auto attr = [&](int64_t value) -> OpFoldResult {
      return rewriter.getIndexAttr(value);
    };

    // 1. Cache update: rows [P, P + S) become k and v.
    OpFoldResult s = tensor::getMixedSize(rewriter, loc, q, 0);
    SmallVector<OpFoldResult> offsets = {startPos, attr(0)};
    SmallVector<OpFoldResult> sizes = {s, attr(kvHeads * headDim)};
    SmallVector<OpFoldResult> strides = {attr(1), attr(1)};
    Value newKCache = tensor::InsertSliceOp::create(rewriter, loc, k, kCache,
                                                    offsets, sizes, strides);
    Value newVCache = tensor::InsertSliceOp::create(rewriter, loc, v, vCache,
                                                    offsets, sizes, strides);

    // 2. Attention over the cache prefix [0, T), T = P + S, viewed as
    // [T, Hkv, Dh]; q is viewed as [S, Hkv, G, Dh] (query head h = g * G + r
    // uses kv head g = h / G).
    Value sValue = getValueOrCreateConstantIndexOp(rewriter, loc, s);
    Value total = arith::AddIOp::create(rewriter, loc, startPos, sValue);
    auto prefix = [&](Value cache) {
      SmallVector<OpFoldResult> sliceOffsets = {attr(0), attr(0)};
      SmallVector<OpFoldResult> sliceSizes = {total, attr(kvHeads * headDim)};
      Value slice = tensor::ExtractSliceOp::create(
          rewriter, loc, cache, sliceOffsets, sliceSizes, strides);
      auto type = RankedTensorType::get(
          {ShapedType::kDynamic, kvHeads, headDim}, elementType);
      SmallVector<ReassociationIndices> reassociation = {{0}, {1, 2}};
      SmallVector<OpFoldResult> shape = {total, attr(kvHeads), attr(headDim)};
      return tensor::ExpandShapeOp::create(rewriter, loc, type, slice,
                                           reassociation, shape)
          .getResult();
    };
    Value keys = prefix(newKCache);
    Value values = prefix(newVCache);
    auto qViewType =
        RankedTensorType::get({rows, kvHeads, group, headDim}, elementType);
    SmallVector<ReassociationIndices> headSplit = {{0}, {1, 2, 3}};
    SmallVector<OpFoldResult> qViewShape = {s, attr(kvHeads), attr(group),
                                            attr(headDim)};
    Value queries = tensor::ExpandShapeOp::create(rewriter, loc, qViewType, q,
                                                  headSplit, qViewShape);

    // dots[s, g, r, j] = sum_d float(q[s, g, r, d]) * float(k[j, g, d]).
    // Loops (s, g, r, j, d).
    SmallVector<OpFoldResult> headSizes = {s, attr(kvHeads), attr(group)};
    SmallVector<OpFoldResult> scoreSizes = {s, attr(kvHeads), attr(group),
                                            total};
    Value dots =
        buildGeneric(
            rewriter, loc, ValueRange{queries, keys},
            buildFilled(rewriter, loc, scoreSizes, 0.0f),
            buildMaps(ctx, 5, {{0, 1, 2, 4}, {3, 1, 4}, {0, 1, 2, 3}}),
            {kParallel, kParallel, kParallel, kParallel, kReduce},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value qd = buildExtendToF32(b, l, args[0]);
              Value kd = buildExtendToF32(b, l, args[1]);
              Value product = arith::MulFOp::create(b, l, qd, kd, kReduction);
              linalg::YieldOp::create(
                  b, l,
                  arith::AddFOp::create(b, l, args[2], product, kReduction)
                      .getResult());
            })
            .getResult(0);

    // score = scale * dot where j <= P + s (causal), -inf elsewhere; both
    // the max and the exponentials recompute it from `dots`.
    float scale = op.getScaleOrDefault();
    float negInf = -std::numeric_limits<float>::infinity();
    auto isVisible = [&](OpBuilder &b, Location l) {
      Value row = linalg::IndexOp::create(b, l, 0);
      Value key = linalg::IndexOp::create(b, l, 3);
      Value limit = arith::AddIOp::create(b, l, startPos, row);
      return arith::CmpIOp::create(b, l, arith::CmpIPredicate::ule, key, limit)
          .getResult();
    };
    auto scaled = [&](OpBuilder &b, Location l, Value dot) {
      return arith::MulFOp::create(b, l, buildF32Constant(b, l, scale), dot)
          .getResult();
    };
    SmallVector<AffineMap> scoreToHead =
        buildMaps(ctx, 4, {{0, 1, 2, 3}, {0, 1, 2}});
    SmallVector<AffineMap> headToScore =
        buildMaps(ctx, 4, {{0, 1, 2}, {0, 1, 2, 3}});
    SmallVector<IteratorType> reduceKeys = {kParallel, kParallel, kParallel,
                                            kReduce};
    SmallVector<IteratorType> allParallel(4, kParallel);

    // max[s, g, r] = max_j score_j.
    Value max =
        buildGeneric(
            rewriter, loc, dots, buildFilled(rewriter, loc, headSizes, negInf),
            scoreToHead, reduceKeys,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value score = arith::SelectOp::create(
                  b, l, isVisible(b, l), scaled(b, l, args[0]),
                  buildF32Constant(b, l, negInf));
              linalg::YieldOp::create(
                  b, l,
                  arith::MaximumFOp::create(b, l, args[1], score).getResult());
            })
            .getResult(0);

    // e[s, g, r, j] = exp(score_j - max) (0 where masked), in place of dots.
    Value exps =
        buildGeneric(rewriter, loc, max, dots, headToScore, allParallel,
                     [&](OpBuilder &b, Location l, ValueRange args) {
                       Value shifted = arith::SubFOp::create(
                           b, l, scaled(b, l, args[1]), args[0]);
                       Value e = math::ExpOp::create(b, l, shifted);
                       linalg::YieldOp::create(
                           b, l,
                           arith::SelectOp::create(b, l, isVisible(b, l), e,
                                                   buildF32Constant(b, l, 0.0f))
                               .getResult());
                     })
            .getResult(0);

    // sum[s, g, r] = sum_j e_j.
    Value sum =
        buildGeneric(
            rewriter, loc, exps, buildFilled(rewriter, loc, headSizes, 0.0f),
            scoreToHead, reduceKeys,
            [&](OpBuilder &b, Location l, ValueRange args) {
              linalg::YieldOp::create(
                  b, l,
                  arith::AddFOp::create(b, l, args[1], args[0], kReduction)
                      .getResult());
            })
            .getResult(0);

    // p_j = e_j / sum, in place of e.
    Value probs =
        buildGeneric(
            rewriter, loc, sum, exps, headToScore, allParallel,
            [&](OpBuilder &b, Location l, ValueRange args) {
              linalg::YieldOp::create(
                  b, l,
                  arith::DivFOp::create(b, l, args[1], args[0]).getResult());
            })
            .getResult(0);

    // out[s, g, r, d] = sum_j p_j * float(v[j, g, d]). Loops (s, g, r, d, j).
    SmallVector<OpFoldResult> outSizes = {s, attr(kvHeads), attr(group),
                                          attr(headDim)};
    Value weighted =
        buildGeneric(
            rewriter, loc, ValueRange{probs, values},
            buildFilled(rewriter, loc, outSizes, 0.0f),
            buildMaps(ctx, 5, {{0, 1, 2, 4}, {4, 1, 3}, {0, 1, 2, 3}}),
            {kParallel, kParallel, kParallel, kParallel, kReduce},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value vd = buildExtendToF32(b, l, args[1]);
              Value product =
                  arith::MulFOp::create(b, l, args[0], vd, kReduction);
              linalg::YieldOp::create(
                  b, l,
                  arith::AddFOp::create(b, l, args[2], product, kReduction)
                      .getResult());
            })
            .getResult(0);

    // [S, Hkv, G, Dh] -> [S, H * Dh], rounded into T.
    Value out =
        tensor::CollapseShapeOp::create(rewriter, loc, weighted, headSplit);
    out = buildTruncate(rewriter, loc, out, elementType);
    rewriter.replaceOp(op, {castTo(rewriter, loc, out, op.getOut().getType()),
                            newKCache, newVCache});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// llm.swiglu and llm.add
//===----------------------------------------------------------------------===//

struct SwiGLULowering : OpConversionPattern<llm::SwiGLUOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(llm::SwiGLUOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // g / (1 + exp(-g)) * up.
    Value result = buildElementwise(
        rewriter, op.getLoc(), ValueRange{adaptor.getGate(), adaptor.getUp()},
        op.getType(), [](OpBuilder &b, Location l, ValueRange args) {
          return buildSwiGLU(b, l, args[0], args[1]);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct AddLowering : OpConversionPattern<llm::AddOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(llm::AddOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value result = buildElementwise(
        rewriter, op.getLoc(), ValueRange{adaptor.getLhs(), adaptor.getRhs()},
        op.getType(), [](OpBuilder &b, Location l, ValueRange args) {
          return arith::AddFOp::create(b, l, args[0], args[1]).getResult();
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

/// Errors that can be seen at compile time but that the verifiers leave to
/// the runtime (or that they reject, for IR built without verification).
LogicalResult checkLowerable(ModuleOp module) {
  WalkResult result = module.walk([](Operation *op) {
    if (auto logits = dyn_cast<llm::LogitsOp>(op)) {
      if (logits.getLastTokenOnly() &&
          logits.getInput().getType().getDimSize(0) == 0) {
        logits.emitOpError()
            << "cannot be lowered: last_token_only needs at least one input "
               "row, got 0";
        return WalkResult::interrupt();
      }
    }
    if (auto attention = dyn_cast<llm::AttentionOp>(op)) {
      APInt startPos;
      if (!matchPattern(attention.getStartPos(), m_ConstantInt(&startPos)))
        return WalkResult::advance();
      int64_t start = startPos.getSExtValue();
      int64_t capacity = attention.getKCache().getType().getDimSize(0);
      int64_t rows =
          commonRows({attention.getQ(), attention.getK(), attention.getV()});
      if (start < 0) {
        attention.emitOpError()
            << "cannot be lowered: start_pos is negative (" << start << ")";
        return WalkResult::interrupt();
      }
      int64_t known = ShapedType::isDynamic(rows) ? 0 : rows;
      if (start > capacity - known) {
        InFlightDiagnostic diag = attention.emitOpError()
                                  << "cannot be lowered: start_pos (" << start
                                  << ")";
        if (known)
          diag << " + " << known << " rows";
        diag << " exceeds the KV cache length (" << capacity << ")";
        return WalkResult::interrupt();
      }
    }
    return WalkResult::advance();
  });
  return failure(result.wasInterrupted());
}

struct MixQLowerLLMToLinalgPass
    : mlir::mixq::impl::MixQLowerLLMToLinalgBase<MixQLowerLLMToLinalgPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (failed(checkLowerable(module)))
      return signalPassFailure();

    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addIllegalOp<llm::EmbedOp, llm::RMSNormOp, llm::LinearOp,
                        llm::RopeOp, llm::AttentionOp, llm::SwiGLUOp,
                        llm::AddOp, llm::LogitsOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });

    RewritePatternSet patterns(ctx);
    patterns.add<EmbedLowering, RMSNormLowering, LinearLowering, LogitsLowering,
                 RopeLowering, AttentionLowering, SwiGLULowering, AddLowering>(
        ctx);
    if (failed(applyPartialConversion(module, target, std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

Value mlir::mixq::buildRMSNormScale(OpBuilder &b, Location loc,
                                    Value sumOfSquares, int64_t dim,
                                    float eps) {
  Value mean = arith::DivFOp::create(b, loc, sumOfSquares,
                                     buildF32Constant(b, loc, float(dim)));
  Value shifted =
      arith::AddFOp::create(b, loc, mean, buildF32Constant(b, loc, eps));
  Value root = math::SqrtOp::create(b, loc, shifted);
  return arith::DivFOp::create(b, loc, buildF32Constant(b, loc, 1.0f), root);
}

Value mlir::mixq::buildRopeElement(OpBuilder &b, Location loc, Value self,
                                   Value other, Value cos, Value sin,
                                   Value isFirst) {
  // The pair's first element rotates by -sin (negation is exact).
  Value signedSin = arith::SelectOp::create(
      b, loc, isFirst, arith::NegFOp::create(b, loc, sin), sin);
  return arith::AddFOp::create(b, loc, arith::MulFOp::create(b, loc, self, cos),
                               arith::MulFOp::create(b, loc, other, signedSin));
}

Value mlir::mixq::buildSwiGLU(OpBuilder &b, Location loc, Value gate,
                              Value up) {
  Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, gate));
  Value denominator =
      arith::AddFOp::create(b, loc, buildF32Constant(b, loc, 1.0f), e);
  Value silu = arith::DivFOp::create(b, loc, gate, denominator);
  return arith::MulFOp::create(b, loc, silu, up);
}
