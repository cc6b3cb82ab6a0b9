//===- MixQOps.cpp - mixq dialect operations ------------------------------===//
#include "dialect/MixQ/MixQOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace mlir::mixq;

#define GET_OP_CLASSES
#include "dialect/MixQ/MixQOps.cpp.inc"

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

/// Two dimensions agree unless both are static and differ.
bool dimsAgree(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}
} // namespace

//===----------------------------------------------------------------------===//
// AssembleOp
//===----------------------------------------------------------------------===//

LogicalResult AssembleOp::verify() {
  auto type = cast<QTensorType>(getResult().getType());
  SmallVector<ComponentSpec> components = type.getComponents();
  if (components.size() != getComponents().size()) {
    std::string names;
    llvm::raw_string_ostream os(names);
    llvm::interleaveComma(components, os,
                          [&](const ComponentSpec &c) { os << c.name; });
    return emitOpError() << "scheme " << type.getScheme() << " stores "
                         << components.size() << " components (" << names
                         << "), got " << getComponents().size() << " operands";
  }
  for (auto [index, spec, operand] :
       llvm::enumerate(components, getComponents())) {
    if (operand.getType() != spec.getTensorType())
      return emitOpError() << "component #" << index << " ('" << spec.name
                           << "') must be " << spec.getTensorType() << ", got "
                           << operand.getType();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// QuantizeOp
//===----------------------------------------------------------------------===//

LogicalResult QuantizeOp::verify() {
  auto type = cast<QTensorType>(getResult().getType());
  auto input = cast<RankedTensorType>(getInput().getType());
  if (input.getShape() != type.getShape())
    return emitOpError() << "input shape " << formatShape(input.getShape())
                         << " does not match the result's shape "
                         << formatShape(type.getShape());
  return success();
}

LogicalResult mlir::mixq::foldConstantQuantize(QuantizeOp op,
                                               RewriterBase &rewriter,
                                               std::string *whyNot) {
  DenseElementsAttr input;
  if (!matchPattern(op.getInput(), m_Constant(&input))) {
    if (whyNot)
      *whyNot = "its input is not a constant";
    return failure();
  }
  std::vector<float> weights;
  weights.reserve(input.getNumElements());
  for (APFloat value : input.getValues<APFloat>()) {
    bool losesInfo = false;
    value.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven,
                  &losesInfo);
    weights.push_back(value.convertToFloat());
  }
  auto type = cast<QTensorType>(op.getType());
  llvm::Expected<PackedWeights> packed =
      type.getScheme().quantize(weights, type.getShape(), {});
  if (!packed) {
    std::string message = llvm::toString(packed.takeError());
    if (whyNot)
      *whyNot = "the host quantizer failed: " + message;
    return failure();
  }
  SmallVector<Value> components;
  for (auto [spec, bytes] : llvm::zip_equal(type.getComponents(), *packed))
    components.push_back(arith::ConstantOp::create(
        rewriter, op.getLoc(), getComponentAttr(spec, bytes)));
  rewriter.replaceOpWithNewOp<AssembleOp>(op, type, components);
  return success();
}

namespace {
/// quantize(constant) -> assemble(constant components), running the scheme's
/// host quantizer at compile time.
struct FoldConstantQuantize : OpRewritePattern<QuantizeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(QuantizeOp op,
                                PatternRewriter &rewriter) const override {
    return foldConstantQuantize(op, rewriter, /*whyNot=*/nullptr);
  }
};
} // namespace

void QuantizeOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                             MLIRContext *context) {
  results.add<FoldConstantQuantize>(context);
}

//===----------------------------------------------------------------------===//
// DequantizeOp
//===----------------------------------------------------------------------===//

LogicalResult DequantizeOp::verify() {
  auto type = cast<QTensorType>(getInput().getType());
  auto result = cast<RankedTensorType>(getResult().getType());
  if (result.getShape() != type.getShape())
    return emitOpError() << "result shape " << formatShape(result.getShape())
                         << " does not match the qtensor shape "
                         << formatShape(type.getShape());
  return success();
}

//===----------------------------------------------------------------------===//
// MatmulOp
//===----------------------------------------------------------------------===//

LogicalResult MatmulOp::verify() {
  auto weight = cast<QTensorType>(getWeight().getType());
  auto input = cast<RankedTensorType>(getInput().getType());
  auto result = cast<RankedTensorType>(getResult().getType());
  if (!dimsAgree(input.getDimSize(1), weight.getCols()))
    return emitOpError() << "input has " << input.getDimSize(1)
                         << " columns but the weight has K = "
                         << weight.getCols() << " inputs";
  if (input.getDimSize(1) != weight.getCols())
    return emitOpError() << "input's K dimension must be static";
  if (result.getDimSize(1) != weight.getRows())
    return emitOpError() << "result has " << formatShape(result.getShape())
                         << " but the weight has N = " << weight.getRows()
                         << " outputs";
  if (result.getDimSize(0) != input.getDimSize(0))
    return emitOpError() << "result rows (" << formatShape(result.getShape())
                         << ") must match the input rows ("
                         << formatShape(input.getShape()) << ")";
  if (result.getElementType() != input.getElementType())
    return emitOpError() << "result element type " << result.getElementType()
                         << " does not match the input element type "
                         << input.getElementType();
  return success();
}

//===----------------------------------------------------------------------===//
// QuantizeActOp
//===----------------------------------------------------------------------===//

LogicalResult QuantizeActOp::verify() {
  auto weight = cast<QTensorType>(getWeight().getType());
  auto input = cast<RankedTensorType>(getInput().getType());
  std::optional<unsigned> schemeBits = weight.getScheme().getActivationBits();
  if (!schemeBits)
    return emitOpError() << "needs a weight whose scheme quantizes "
                            "activations (has activation bits, e.g. "
                            "#mixq.outlier_cols<..., act_bits = 8>), got "
                         << weight.getScheme();
  // 2^bits - 1 levels in a 32-bit unsigned.
  if (*schemeBits < 1 || *schemeBits > 16)
    return emitOpError() << "the weight's scheme asks for " << *schemeBits
                         << "-bit activations; mixq.quantize_act takes "
                            "1..16 bits";
  if (getBits() != *schemeBits)
    return emitOpError() << "quantizes to " << getBits()
                         << " bits, but the weight's scheme takes "
                         << *schemeBits << "-bit activations";
  if (input.getDimSize(1) != weight.getCols())
    return emitOpError() << "input has " << formatShape(input.getShape())
                         << " but the weight has K = " << weight.getCols()
                         << " inputs (the K dimension must be static)";
  if (getResult().getType() != input)
    return emitOpError() << "result type " << getResult().getType()
                         << " must match the input type " << input;
  return success();
}
