//===- LLMOps.cpp - llm dialect operations --------------------------------===//
//
// Verifiers and builders of the llm ops. The ODS constraints already ensure
// ranks, element-type families and positive head counts; the verifiers here
// check the relations between operands, attributes and results. Every
// diagnostic names the offending operand or attribute and the sizes involved,
// because these ops are written by frontends and by hand in tests.
//
//===----------------------------------------------------------------------===//
#include "dialect/LLM/LLMOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/CheckedArithmetic.h"

#include <cmath>

using namespace mlir;
using namespace mlir::llm;

#define GET_OP_CLASSES
#include "dialect/LLM/LLMOps.cpp.inc"

namespace {
/// Prints a shape as "64x128" (dynamic dimensions as "?").
std::string formatShape(ArrayRef<int64_t> shape) {
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::interleave(
      shape, os,
      [&](int64_t dim) {
        if (ShapedType::isDynamic(dim))
          os << '?';
        else
          os << dim;
      },
      "x");
  return text;
}

/// Row (sequence) dimensions may be dynamic because the prompt length is only
/// known at runtime; a dynamic size agrees with any other size.
bool rowsAgree(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// The more precise of two agreeing row sizes, for inferring result types.
int64_t mergeRows(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) ? b : a;
}

/// Model dimensions (hidden size, heads, vocabulary, cache length) fix the
/// kernels' tiling and the weight layout, so they must be known statically.
LogicalResult requireStaticDim(Operation *op, StringRef operand,
                               RankedTensorType type, unsigned dim,
                               StringRef what) {
  if (!type.isDynamicDim(dim))
    return success();
  return op->emitOpError() << operand << " must have a static " << what
                           << ", got " << type;
}

/// Weights and KV caches have no sequence dimension: every size is a model
/// dimension.
LogicalResult requireStaticShape(Operation *op, StringRef operand,
                                 RankedTensorType type) {
  if (type.hasStaticShape())
    return success();
  return op->emitOpError() << operand << " must have a static shape, got "
                           << type;
}

/// The ops compute in f32 but read and write one storage type T; mixing
/// types would need implicit conversions the kernels do not perform.
LogicalResult requireSameElementType(Operation *op, StringRef operand,
                                     RankedTensorType type, StringRef reference,
                                     RankedTensorType referenceType) {
  if (type.getElementType() == referenceType.getElementType())
    return success();
  return op->emitOpError() << operand << " element type "
                           << type.getElementType() << " does not match the "
                           << reference << " element type "
                           << referenceType.getElementType();
}

LogicalResult requireSameRows(Operation *op, StringRef operand,
                              RankedTensorType type, StringRef reference,
                              RankedTensorType referenceType) {
  if (rowsAgree(type.getDimSize(0), referenceType.getDimSize(0)))
    return success();
  return op->emitOpError() << operand << " has " << type.getDimSize(0)
                           << " rows but " << reference << " has "
                           << referenceType.getDimSize(0);
}

/// Checks that a tensor's last dimension holds `heads` heads of `headDim`
/// elements each (static; the caller has checked the dimension is static).
LogicalResult requireHeadColumns(Operation *op, StringRef operand,
                                 RankedTensorType type, StringRef headsName,
                                 int64_t heads, int64_t headDim) {
  std::optional<int64_t> expected = llvm::checkedMul(heads, headDim);
  if (expected && type.getDimSize(1) == *expected)
    return success();
  InFlightDiagnostic diag = op->emitOpError()
                            << operand << " has " << type.getDimSize(1)
                            << " columns but " << headsName << " (" << heads
                            << ") * head_dim (" << headDim << ")";
  if (expected)
    diag << " = " << *expected;
  else
    diag << " overflows int64";
  return diag;
}

/// Scalar float attributes feed sqrt, pow and exp; zero, negative or
/// non-finite values produce NaNs or infinities rather than a model.
LogicalResult requirePositiveFinite(Operation *op, StringRef name,
                                    FloatAttr attr) {
  const APFloat &value = attr.getValue();
  if (value.isFinite() && !value.isZero() && !value.isNegative())
    return success();
  return op->emitOpError() << name << " must be positive and finite, got "
                           << attr;
}

/// Results are fully determined by the operands, except that a dynamic row
/// count may be refined to a static one (or vice versa) unless `exactRows`.
LogicalResult verifyResultType(Operation *op, StringRef name, Type actual,
                               RankedTensorType expected, bool exactRows) {
  auto type = cast<RankedTensorType>(actual);
  int64_t rows = type.getDimSize(0), expectedRows = expected.getDimSize(0);
  bool rowsOk =
      exactRows ? rows == expectedRows : rowsAgree(rows, expectedRows);
  if (rowsOk && type.getDimSize(1) == expected.getDimSize(1) &&
      type.getElementType() == expected.getElementType())
    return success();
  return op->emitOpError() << name << " type " << type
                           << " does not match the expected " << expected;
}

RankedTensorType matrixType(int64_t rows, int64_t cols, Type elementType) {
  return RankedTensorType::get({rows, cols}, elementType);
}

/// Shared checks of the elementwise ops (swiglu, add).
LogicalResult verifyElementwise(Operation *op, StringRef lhsName,
                                RankedTensorType lhs, StringRef rhsName,
                                RankedTensorType rhs, Type result) {
  if (failed(requireStaticDim(op, lhsName, lhs, 1, "number of columns")) ||
      failed(requireSameElementType(op, rhsName, rhs, lhsName, lhs)))
    return failure();
  if (!rowsAgree(lhs.getDimSize(0), rhs.getDimSize(0)) ||
      lhs.getDimSize(1) != rhs.getDimSize(1))
    return op->emitOpError()
           << rhsName << " shape " << formatShape(rhs.getShape())
           << " does not match the " << lhsName << " shape "
           << formatShape(lhs.getShape());
  RankedTensorType expected =
      matrixType(mergeRows(lhs.getDimSize(0), rhs.getDimSize(0)),
                 lhs.getDimSize(1), lhs.getElementType());
  return verifyResultType(op, "result", result, expected,
                          /*exactRows=*/false);
}
} // namespace

//===----------------------------------------------------------------------===//
// WeightOp
//===----------------------------------------------------------------------===//

LogicalResult WeightOp::verify() {
  auto type = cast<RankedTensorType>(getType());
  if (type.hasStaticShape())
    return success();
  return emitOpError() << "weight " << getNameAttr()
                       << " must have a static shape, got " << type;
}

//===----------------------------------------------------------------------===//
// EmbedOp
//===----------------------------------------------------------------------===//

void EmbedOp::build(OpBuilder &builder, OperationState &state, Value table,
                    Value tokens) {
  auto tableType = cast<RankedTensorType>(table.getType());
  auto tokensType = cast<RankedTensorType>(tokens.getType());
  Type result = matrixType(tokensType.getDimSize(0), tableType.getDimSize(1),
                           tableType.getElementType());
  build(builder, state, result, table, tokens);
}

LogicalResult EmbedOp::verify() {
  RankedTensorType table = getTable().getType();
  if (failed(requireStaticShape(*this, "table", table)))
    return failure();
  RankedTensorType expected =
      matrixType(getTokens().getType().getDimSize(0), table.getDimSize(1),
                 table.getElementType());
  return verifyResultType(*this, "result", getType(), expected,
                          /*exactRows=*/false);
}

//===----------------------------------------------------------------------===//
// RMSNormOp
//===----------------------------------------------------------------------===//

void RMSNormOp::build(OpBuilder &builder, OperationState &state, Value input,
                      Value weight, float eps) {
  build(builder, state, input.getType(), input, weight,
        builder.getF32FloatAttr(eps));
}

LogicalResult RMSNormOp::verify() {
  RankedTensorType input = getInput().getType();
  RankedTensorType weight = getWeight().getType();
  if (failed(requirePositiveFinite(*this, "eps", getEpsAttr())) ||
      failed(requireStaticDim(*this, "input", input, 1, "hidden size")) ||
      failed(requireStaticShape(*this, "weight", weight)) ||
      failed(requireSameElementType(*this, "weight", weight, "input", input)))
    return failure();
  if (weight.getDimSize(0) != input.getDimSize(1))
    return emitOpError() << "weight has " << weight.getDimSize(0)
                         << " elements but the input's hidden size is "
                         << input.getDimSize(1);
  return verifyResultType(*this, "result", getType(), input,
                          /*exactRows=*/false);
}

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

void LinearOp::build(OpBuilder &builder, OperationState &state, Value input,
                     Value weight) {
  auto inputType = cast<RankedTensorType>(input.getType());
  auto weightType = cast<RankedTensorType>(weight.getType());
  Type result = matrixType(inputType.getDimSize(0), weightType.getDimSize(0),
                           inputType.getElementType());
  build(builder, state, result, input, weight);
}

LogicalResult LinearOp::verify() {
  RankedTensorType input = getInput().getType();
  RankedTensorType weight = getWeight().getType();
  if (failed(requireStaticDim(*this, "input", input, 1, "hidden size")) ||
      failed(requireStaticShape(*this, "weight", weight)) ||
      failed(requireSameElementType(*this, "weight", weight, "input", input)))
    return failure();
  if (weight.getDimSize(1) != input.getDimSize(1))
    return emitOpError() << "weight has " << weight.getDimSize(1)
                         << " columns (in_features) but the input has "
                         << input.getDimSize(1);
  RankedTensorType expected = matrixType(
      input.getDimSize(0), weight.getDimSize(0), input.getElementType());
  return verifyResultType(*this, "result", getType(), expected,
                          /*exactRows=*/false);
}

//===----------------------------------------------------------------------===//
// RopeOp
//===----------------------------------------------------------------------===//

void RopeOp::build(OpBuilder &builder, OperationState &state, Value input,
                   Value positions, int64_t numHeads, int64_t headDim,
                   float theta, RopeLayout layout) {
  build(builder, state, input.getType(), input, positions,
        builder.getI64IntegerAttr(numHeads), builder.getI64IntegerAttr(headDim),
        builder.getF32FloatAttr(theta),
        RopeLayoutAttr::get(builder.getContext(), layout),
        /*scaling=*/Llama3RopeScalingAttr());
}

LogicalResult
Llama3RopeScalingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                              FloatAttr factor, FloatAttr lowFreqFactor,
                              FloatAttr highFreqFactor,
                              int64_t originalMaxPosition) {
  auto value = [](FloatAttr attr) {
    return attr.getValue().convertToDouble();
  };
  if (!factor.getType().isF32() || !lowFreqFactor.getType().isF32() ||
      !highFreqFactor.getType().isF32())
    return emitError() << "llama3 rope scaling factors must be f32";
  if (!(value(factor) > 0.0) || !std::isfinite(value(factor)))
    return emitError() << "llama3 rope scaling factor must be positive and "
                          "finite, got "
                       << value(factor);
  if (!(value(lowFreqFactor) > 0.0))
    return emitError() << "low_freq_factor must be positive, got "
                       << value(lowFreqFactor);
  if (!(value(highFreqFactor) > value(lowFreqFactor)) ||
      !std::isfinite(value(highFreqFactor)))
    return emitError() << "high_freq_factor (" << value(highFreqFactor)
                       << ") must be finite and greater than low_freq_factor ("
                       << value(lowFreqFactor) << ")";
  if (originalMaxPosition <= 0)
    return emitError() << "original_max_position must be positive, got "
                       << originalMaxPosition;
  return success();
}

LogicalResult RopeOp::verify() {
  RankedTensorType input = getInput().getType();
  RankedTensorType positions = getPositions().getType();
  int64_t headDim = getHeadDim();
  // Rotation works on pairs, so a head must split into whole pairs.
  if (headDim % 2 != 0)
    return emitOpError() << "head_dim (" << headDim << ") must be even";
  if (failed(requirePositiveFinite(*this, "theta", getThetaAttr())) ||
      failed(requireStaticDim(*this, "input", input, 1, "number of columns")) ||
      failed(requireHeadColumns(*this, "input", input, "num_heads",
                                getNumHeads(), headDim)))
    return failure();
  if (!rowsAgree(positions.getDimSize(0), input.getDimSize(0)))
    return emitOpError() << "positions has " << positions.getDimSize(0)
                         << " entries but the input has " << input.getDimSize(0)
                         << " rows";
  return verifyResultType(*this, "result", getType(), input,
                          /*exactRows=*/false);
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

void AttentionOp::build(OpBuilder &builder, OperationState &state, Value q,
                        Value k, Value v, Value kCache, Value vCache,
                        Value startPos, int64_t numHeads, int64_t numKvHeads,
                        int64_t headDim) {
  build(builder, state, q.getType(), kCache.getType(), vCache.getType(), q, k,
        v, kCache, vCache, startPos, builder.getI64IntegerAttr(numHeads),
        builder.getI64IntegerAttr(numKvHeads),
        builder.getI64IntegerAttr(headDim), /*scale=*/FloatAttr());
}

float AttentionOp::getScaleOrDefault() {
  if (std::optional<APFloat> scale = getScale())
    return scale->convertToFloat();
  return 1.0f / std::sqrt(static_cast<float>(getHeadDim()));
}

/// Checks k, v, k_cache and v_cache against q and the head attributes.
static LogicalResult verifyKeysAndValues(AttentionOp op) {
  RankedTensorType q = op.getQ().getType();
  int64_t kvHeads = op.getNumKvHeads(), headDim = op.getHeadDim();
  std::pair<StringRef, Value> kv[] = {{"k", op.getK()}, {"v", op.getV()}};
  for (auto [name, value] : kv) {
    auto type = cast<RankedTensorType>(value.getType());
    if (failed(requireSameElementType(op, name, type, "q", q)) ||
        failed(requireSameRows(op, name, type, "q", q)) ||
        failed(requireStaticDim(op, name, type, 1, "number of columns")) ||
        failed(requireHeadColumns(op, name, type, "num_kv_heads", kvHeads,
                                  headDim)))
      return failure();
  }
  RankedTensorType kCache = op.getKCache().getType();
  RankedTensorType vCache = op.getVCache().getType();
  if (failed(requireSameElementType(op, "k_cache", kCache, "q", q)) ||
      failed(requireStaticShape(op, "k_cache", kCache)) ||
      failed(requireHeadColumns(op, "k_cache", kCache, "num_kv_heads", kvHeads,
                                headDim)))
    return failure();
  if (vCache != kCache)
    return op.emitOpError() << "v_cache type " << vCache
                            << " does not match the k_cache type " << kCache;
  // Longer-than-cache prompts can only be caught here when S is static; the
  // runtime checks start_pos + S against the capacity in every case.
  if (!q.isDynamicDim(0) && q.getDimSize(0) > kCache.getDimSize(0))
    return op.emitOpError()
           << "q has " << q.getDimSize(0)
           << " rows but the KV cache holds at most " << kCache.getDimSize(0);
  return success();
}

LogicalResult AttentionOp::verify() {
  int64_t heads = getNumHeads(), kvHeads = getNumKvHeads();
  // Each kv head serves a whole group of H / Hkv query heads.
  if (heads % kvHeads != 0)
    return emitOpError() << "num_heads (" << heads
                         << ") is not a multiple of num_kv_heads (" << kvHeads
                         << ")";
  if (FloatAttr scale = getScaleAttr())
    if (failed(requirePositiveFinite(*this, "scale", scale)))
      return failure();
  RankedTensorType q = getQ().getType();
  if (failed(requireStaticDim(*this, "q", q, 1, "number of columns")) ||
      failed(requireHeadColumns(*this, "q", q, "num_heads", heads,
                                getHeadDim())) ||
      failed(verifyKeysAndValues(*this)))
    return failure();
  RankedTensorType expectedOut =
      matrixType(mergeRows(q.getDimSize(0), getK().getType().getDimSize(0)),
                 q.getDimSize(1), q.getElementType());
  if (failed(verifyResultType(*this, "out", getOut().getType(), expectedOut,
                              /*exactRows=*/false)) ||
      failed(verifyResultType(*this, "new_k_cache", getNewKCache().getType(),
                              getKCache().getType(), /*exactRows=*/true)))
    return failure();
  return verifyResultType(*this, "new_v_cache", getNewVCache().getType(),
                          getVCache().getType(), /*exactRows=*/true);
}

//===----------------------------------------------------------------------===//
// SwiGLUOp
//===----------------------------------------------------------------------===//

void SwiGLUOp::build(OpBuilder &builder, OperationState &state, Value gate,
                     Value up) {
  build(builder, state, gate.getType(), gate, up);
}

LogicalResult SwiGLUOp::verify() {
  return verifyElementwise(*this, "gate", getGate().getType(), "up",
                           getUp().getType(), getType());
}

//===----------------------------------------------------------------------===//
// AddOp
//===----------------------------------------------------------------------===//

void AddOp::build(OpBuilder &builder, OperationState &state, Value lhs,
                  Value rhs) {
  build(builder, state, lhs.getType(), lhs, rhs);
}

LogicalResult AddOp::verify() {
  return verifyElementwise(*this, "lhs", getLhs().getType(), "rhs",
                           getRhs().getType(), getType());
}

//===----------------------------------------------------------------------===//
// LogitsOp
//===----------------------------------------------------------------------===//

void LogitsOp::build(OpBuilder &builder, OperationState &state, Value input,
                     Value weight, bool lastTokenOnly) {
  auto inputType = cast<RankedTensorType>(input.getType());
  auto weightType = cast<RankedTensorType>(weight.getType());
  int64_t rows = lastTokenOnly ? 1 : inputType.getDimSize(0);
  Type result =
      matrixType(rows, weightType.getDimSize(0), builder.getF32Type());
  build(builder, state, result, input, weight, lastTokenOnly);
}

LogicalResult LogitsOp::verify() {
  RankedTensorType input = getInput().getType();
  RankedTensorType weight = getWeight().getType();
  if (failed(requireStaticDim(*this, "input", input, 1, "hidden size")) ||
      failed(requireStaticShape(*this, "weight", weight)) ||
      failed(requireSameElementType(*this, "weight", weight, "input", input)))
    return failure();
  if (weight.getDimSize(1) != input.getDimSize(1))
    return emitOpError() << "weight has " << weight.getDimSize(1)
                         << " columns but the input's hidden size is "
                         << input.getDimSize(1);
  bool lastOnly = getLastTokenOnly();
  if (lastOnly && input.getDimSize(0) == 0)
    return emitOpError() << "last_token_only needs at least one input row, "
                            "got 0";
  int64_t rows = lastOnly ? 1 : input.getDimSize(0);
  RankedTensorType expected =
      matrixType(rows, weight.getDimSize(0), Float32Type::get(getContext()));
  return verifyResultType(*this, "result", getType(), expected,
                          /*exactRows=*/lastOnly);
}
