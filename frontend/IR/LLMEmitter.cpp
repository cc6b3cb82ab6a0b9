//===- LLMEmitter.cpp - Build the llm IR of a loaded model ----------------===//

#include "frontend/IR/LLMEmitter.h"

#include "dialect/LLM/LLMDialect.h"
#include "dialect/LLM/LLMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mixq;

void mixq::registerEmitterDialects(MLIRContext &context) {
  context.loadDialect<llm::LLMDialect, func::FuncDialect, arith::ArithDialect,
                      tensor::TensorDialect>();
}

namespace {

Type elementTypeOf(OpBuilder &b, DType dtype) {
  switch (dtype) {
  case DType::F16:
    return b.getF16Type();
  case DType::BF16:
    return b.getBF16Type();
  default:
    return b.getF32Type();
  }
}

/// Emits one function body: the transformer over `tokens` at positions
/// `start_pos + i`, returning the last token's logits and the new caches.
class ForwardBuilder {
public:
  ForwardBuilder(OpBuilder &builder, const ModelConfig &config)
      : b(builder), c(config), loc(builder.getUnknownLoc()),
        elementType(elementTypeOf(builder, config.weightDType)) {}

  /// Builds `func.func @name(tokens, start_pos, caches...)`.
  func::FuncOp build(StringRef name, int64_t numTokens) {
    rows = numTokens;
    SmallVector<Type> inputs = {
        RankedTensorType::get({numTokens}, b.getI32Type()), b.getIndexType()};
    SmallVector<Type> results = {
        RankedTensorType::get({1, c.vocabSize}, b.getF32Type())};
    for (int64_t l = 0; l < c.numLayers; ++l)
      for (int kv = 0; kv < 2; ++kv) {
        inputs.push_back(cacheType());
        results.push_back(cacheType());
      }
    auto func =
        func::FuncOp::create(b, loc, name, b.getFunctionType(inputs, results));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(func.addEntryBlock());
    emitBody(func);
    return func;
  }

private:
  RankedTensorType cacheType() {
    return RankedTensorType::get({c.maxSeqLen, c.numKvHeads * c.headDim},
                                 elementType);
  }
  RankedTensorType activations(int64_t width) {
    return RankedTensorType::get({rows, width}, elementType);
  }

  Value weight(const std::string &name, ArrayRef<int64_t> shape) {
    return llm::WeightOp::create(b, loc,
                                 RankedTensorType::get(shape, elementType),
                                 FlatSymbolRefAttr::get(b.getContext(), name));
  }
  Value blockWeight(int64_t layer, const char *suffix,
                    ArrayRef<int64_t> shape) {
    return weight(blockTensorName(layer, suffix), shape);
  }

  /// positions[i] = start_pos + i, as i32.
  Value positionsOf(Value tokens, Value startPos) {
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value numTokens = tensor::DimOp::create(b, loc, tokens, zero);
    auto type = cast<RankedTensorType>(tokens.getType());
    SmallVector<Value> dynamicSizes;
    if (type.isDynamicDim(0))
      dynamicSizes.push_back(numTokens);
    auto generate = tensor::GenerateOp::create(
        b, loc, type, dynamicSizes,
        [&](OpBuilder &nb, Location nloc, ValueRange indices) {
          Value pos = arith::AddIOp::create(nb, nloc, indices[0], startPos);
          Value pos32 =
              arith::IndexCastOp::create(nb, nloc, nb.getI32Type(), pos);
          tensor::YieldOp::create(nb, nloc, pos32);
        });
    return generate;
  }

  Value rope(Value x, Value positions, int64_t numHeads) {
    llm::Llama3RopeScalingAttr scaling;
    if (c.ropeScaling.enabled())
      scaling = llm::Llama3RopeScalingAttr::get(
          b.getContext(), b.getF32FloatAttr(c.ropeScaling.factor),
          b.getF32FloatAttr(c.ropeScaling.lowFreqFactor),
          b.getF32FloatAttr(c.ropeScaling.highFreqFactor),
          c.ropeScaling.originalMaxPositions);
    auto layout = c.ropeLayout == RopeLayout::Interleaved
                      ? llm::RopeLayout::Interleaved
                      : llm::RopeLayout::RotateHalf;
    return llm::RopeOp::create(
        b, loc, x.getType(), x, positions, b.getI64IntegerAttr(numHeads),
        b.getI64IntegerAttr(c.headDim), b.getF32FloatAttr(c.ropeTheta),
        llm::RopeLayoutAttr::get(b.getContext(), layout), scaling);
  }

  void emitBody(func::FuncOp func) {
    Value tokens = func.getArgument(0), startPos = func.getArgument(1);
    int64_t qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
    Value positions = positionsOf(tokens, startPos);
    Value embedTable = weight("tok_embed", {c.vocabSize, c.dim});
    Value x =
        llm::EmbedOp::create(b, loc, activations(c.dim), embedTable, tokens);
    SmallVector<Value> results = {Value()};
    for (int64_t l = 0; l < c.numLayers; ++l) {
      Value kCache = func.getArgument(2 + 2 * l);
      Value vCache = func.getArgument(3 + 2 * l);
      // Attention block.
      Value h = llm::RMSNormOp::create(
          b, loc, x, blockWeight(l, "attn_norm", {c.dim}), c.normEps);
      Value q = linear(h, blockWeight(l, "q_proj", {qDim, c.dim}), qDim);
      Value k = linear(h, blockWeight(l, "k_proj", {kvDim, c.dim}), kvDim);
      Value v = linear(h, blockWeight(l, "v_proj", {kvDim, c.dim}), kvDim);
      q = rope(q, positions, c.numHeads);
      k = rope(k, positions, c.numKvHeads);
      auto attention =
          llm::AttentionOp::create(b, loc, q, k, v, kCache, vCache, startPos,
                                   c.numHeads, c.numKvHeads, c.headDim);
      results.push_back(attention.getNewKCache());
      results.push_back(attention.getNewVCache());
      Value o = linear(attention.getOut(),
                       blockWeight(l, "o_proj", {c.dim, qDim}), c.dim);
      x = llm::AddOp::create(b, loc, x, o);
      // Feed-forward block: down(silu(gate(h)) * up(h)).
      h = llm::RMSNormOp::create(b, loc, x, blockWeight(l, "ffn_norm", {c.dim}),
                                 c.normEps);
      Value gate = linear(h, blockWeight(l, "gate_proj", {c.hiddenDim, c.dim}),
                          c.hiddenDim);
      Value up = linear(h, blockWeight(l, "up_proj", {c.hiddenDim, c.dim}),
                        c.hiddenDim);
      Value act = llm::SwiGLUOp::create(b, loc, gate, up);
      Value down =
          linear(act, blockWeight(l, "down_proj", {c.dim, c.hiddenDim}), c.dim);
      x = llm::AddOp::create(b, loc, x, down);
    }
    x = llm::RMSNormOp::create(b, loc, x, weight("final_norm", {c.dim}),
                               c.normEps);
    Value head =
        c.tiedEmbeddings ? embedTable : weight("lm_head", {c.vocabSize, c.dim});
    results[0] = llm::LogitsOp::create(b, loc, x, head, /*lastTokenOnly=*/true);
    func::ReturnOp::create(b, loc, results);
  }

  Value linear(Value input, Value weight, int64_t outFeatures) {
    return llm::LinearOp::create(b, loc, activations(outFeatures), input,
                                 weight);
  }

  OpBuilder &b;
  const ModelConfig &c;
  Location loc;
  Type elementType;
  /// Rows of every activation: dynamic for prefill, 1 for decode.
  int64_t rows = ShapedType::kDynamic;
};

/// The config as a dictionary attribute, so that later passes and the
/// package writer need no side channel.
DictionaryAttr configAttr(OpBuilder &b, const Model &model) {
  const ModelConfig &c = model.config;
  SmallVector<NamedAttribute> entries = {
      b.getNamedAttr("dim", b.getI64IntegerAttr(c.dim)),
      b.getNamedAttr("hidden_dim", b.getI64IntegerAttr(c.hiddenDim)),
      b.getNamedAttr("n_layers", b.getI64IntegerAttr(c.numLayers)),
      b.getNamedAttr("n_heads", b.getI64IntegerAttr(c.numHeads)),
      b.getNamedAttr("n_kv_heads", b.getI64IntegerAttr(c.numKvHeads)),
      b.getNamedAttr("head_dim", b.getI64IntegerAttr(c.headDim)),
      b.getNamedAttr("vocab_size", b.getI64IntegerAttr(c.vocabSize)),
      b.getNamedAttr("max_seq_len", b.getI64IntegerAttr(c.maxSeqLen)),
      b.getNamedAttr("norm_eps", b.getF32FloatAttr(c.normEps)),
      b.getNamedAttr("rope_theta", b.getF32FloatAttr(c.ropeTheta)),
      b.getNamedAttr("tied_embeddings", b.getBoolAttr(c.tiedEmbeddings)),
      b.getNamedAttr("format", b.getStringAttr(model.format)),
      b.getNamedAttr("source", b.getStringAttr(model.source)),
  };
  return b.getDictionaryAttr(entries);
}

} // namespace

OwningOpRef<ModuleOp> mixq::emitLLMModule(MLIRContext &context,
                                          const Model &model) {
  registerEmitterDialects(context);
  OpBuilder b(&context);
  OwningOpRef<ModuleOp> module = ModuleOp::create(b.getUnknownLoc());
  (*module)->setAttr("llm.model", configAttr(b, model));
  b.setInsertionPointToEnd(module->getBody());
  ForwardBuilder forward(b, model.config);
  forward.build("prefill", ShapedType::kDynamic);
  forward.build("decode", 1);
  return module;
}
