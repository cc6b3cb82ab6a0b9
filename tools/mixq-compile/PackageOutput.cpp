//===- PackageOutput.cpp - mixq-compile's package assembly ----------------===//
#include "PackageOutput.h"

#include "codegen/HostPlan.h"
#include "dialect/LLM/LLMOps.h"
#include "dialect/MixQ/MixQOps.h"
#include "dialect/MixQ/MixQTypes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "quant/FloatFormats.h"
#include "runtime/Package.h"
#include "runtime/Tokenizer.h"

#include "llvm/ADT/StringMap.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/ScopedPrinter.h"
#include "llvm/Support/raw_ostream.h"
#include <cmath>
#include <limits>

using namespace mlir;
using json = nlohmann::json;

namespace mixq {
namespace {

llvm::Error makeError(const std::string &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

json modelJson(const Model &model) {
  const ModelConfig &c = model.config;
  return {{"dim", c.dim},
          {"hidden_dim", c.hiddenDim},
          {"n_layers", c.numLayers},
          {"n_heads", c.numHeads},
          {"n_kv_heads", c.numKvHeads},
          {"head_dim", c.headDim},
          {"vocab_size", c.vocabSize},
          {"max_seq_len", c.maxSeqLen},
          {"norm_eps", c.normEps},
          {"rope_theta", c.ropeTheta},
          {"rope_layout", c.ropeLayout == RopeLayout::Interleaved
                              ? "interleaved"
                              : "rotate_half"},
          {"tied_embeddings", c.tiedEmbeddings},
          {"parameters", c.numParameters()},
          {"source", model.source},
          {"source_format", model.format}};
}

json tokenizerJson(const TokenizerData &data) {
  if (data.empty())
    return nullptr;
  runtime::TokenizerSpec spec;
  spec.model = data.model == "llama" ? "llama" : data.model;
  spec.tokens = data.tokens;
  // JSON has no infinities (nlohmann writes null, which the runtime rejects):
  // an infinite merge score becomes the largest finite one, which keeps the
  // merge order.
  spec.scores = data.scores;
  for (float &score : spec.scores)
    if (std::isinf(score))
      score = std::copysign(std::numeric_limits<float>::max(), score);
  spec.types = data.types;
  spec.bosId = data.bosId;
  spec.eosId = data.eosId;
  return runtime::tokenizerSpecToJson(spec);
}

/// Adds the bytes of an unquantized weight in the element type its IR uses
/// (the checkpoint may store norms in f32 next to f16 matrices).
llvm::Error addRawWeight(runtime::PackageWriter &writer, const TensorView &view,
                         Type irType, bool absent) {
  if (absent) {
    uint64_t bytes = view.numElements() * irType.getIntOrFloatBitWidth() / 8;
    if (Status s = writer.addAbsentBlob(view.name, bytes); !s)
      return makeError(s.message());
    return llvm::Error::success();
  }
  bool same = (irType.isF32() && view.dtype == DType::F32) ||
              (irType.isF16() && view.dtype == DType::F16) ||
              (irType.isBF16() && view.dtype == DType::BF16);
  Status status = Status::success();
  if (same) {
    status = writer.addBlob(view.name, view.data, view.byteSize);
  } else {
    auto values = readAllAsF32(view);
    if (!values)
      return makeError(values.message());
    std::vector<uint8_t> bytes;
    if (irType.isF32()) {
      bytes.resize(values->size() * 4);
      std::memcpy(bytes.data(), values->data(), bytes.size());
    } else if (irType.isF16() || irType.isBF16()) {
      bytes.resize(values->size() * 2);
      for (size_t i = 0; i < values->size(); ++i) {
        uint16_t bits = irType.isF16()
                            ? quant::floatToHalfBits((*values)[i])
                            : quant::floatToBFloat16Bits((*values)[i]);
        std::memcpy(bytes.data() + 2 * i, &bits, 2);
      }
    } else {
      return makeError("weight '" + view.name +
                       "' has an element type the package cannot store");
    }
    status = writer.addBlob(view.name, std::move(bytes));
  }
  if (!status)
    return makeError(status.message());
  return llvm::Error::success();
}

/// The blob and manifest entry of an unquantized (llm.weight) weight.
llvm::Error addPlainWeight(runtime::PackageWriter &writer,
                           const WeightStore &store, llm::WeightOp weight,
                           bool absent, json &entry) {
  std::string name = weight.getName().str();
  auto type = cast<RankedTensorType>(weight.getType());
  const TensorView *view = store.lookup(name);
  if (!view)
    return makeError("weight '" + name + "' is not in the model");
  if (llvm::Error error =
          addRawWeight(writer, *view, type.getElementType(), absent))
    return error;
  std::string dtype = mlir::mixq::getDTypeName(type.getElementType());
  entry["shape"] = type.getShape();
  entry["scheme"] = "none";
  entry["dtype"] = dtype;
  entry["bits_per_weight"] = type.getElementTypeBitWidth();
  entry["components"].push_back({{"name", "data"},
                                 {"blob", name},
                                 {"dtype", dtype},
                                 {"shape", type.getShape()}});
  return llvm::Error::success();
}

/// The component blobs and manifest entry of a quantized weight; the packed
/// buffers are `name:component` tensors of the store.
llvm::Error addPackedWeight(runtime::PackageWriter &writer,
                            const WeightStore &store,
                            mlir::mixq::WeightOp weight, bool absent,
                            json &entry) {
  std::string name = weight.getName().str();
  auto type = cast<mlir::mixq::QTensorType>(weight.getType());
  entry["shape"] = type.getShape();
  entry["scheme"] = llvm::to_string(type.getScheme());
  entry["bits_per_weight"] = type.getBitsPerWeight();
  for (const auto &component : type.getComponents()) {
    std::string blob = name + ":" + component.name;
    const TensorView *view = store.lookup(blob);
    if (!view)
      return makeError("weight '" + name + "' has no packed '" +
                       component.name + "' component (quantize first)");
    Status s = absent ? writer.addAbsentBlob(blob, view->byteSize)
                      : writer.addBlob(blob, view->data, view->byteSize);
    if (!s)
      return makeError(s.message());
    entry["components"].push_back(
        {{"name", component.name},
         {"blob", blob},
         {"dtype", mlir::mixq::getDTypeName(component.elementType)},
         {"shape", component.shape}});
  }
  return llvm::Error::success();
}

/// Every distinct weight the plan binds, with its blobs and accounting.
llvm::Error addWeights(runtime::PackageWriter &writer,
                       const PackageContents &contents, json &weights) {
  llvm::StringMap<const WeightReport *> reports;
  if (contents.reports)
    for (const WeightReport &report : *contents.reports)
      reports[report.name] = &report;
  SmallVector<Operation *> weightOps;
  llvm::StringSet<> seen;
  ModuleOp module = contents.module;
  module.walk([&](Operation *op) {
    if (auto weight = dyn_cast<llm::WeightOp>(op)) {
      if (seen.insert(weight.getName()).second)
        weightOps.push_back(op);
    } else if (auto weight = dyn_cast<mlir::mixq::WeightOp>(op)) {
      if (seen.insert(weight.getName()).second)
        weightOps.push_back(op);
    }
  });
  const WeightStore &store = contents.model->weights;
  for (Operation *op : weightOps) {
    json entry = {{"components", json::array()}};
    llvm::Error error = llvm::Error::success();
    if (auto weight = dyn_cast<llm::WeightOp>(op)) {
      entry["name"] = weight.getName().str();
      error =
          addPlainWeight(writer, store, weight, contents.withoutWeights, entry);
    } else {
      auto packed = cast<mlir::mixq::WeightOp>(op);
      entry["name"] = packed.getName().str();
      error = addPackedWeight(writer, store, packed, contents.withoutWeights,
                              entry);
    }
    if (error)
      return error;
    auto it = reports.find(entry["name"].get<std::string>());
    if (it != reports.end()) {
      entry["rel_error"] = it->second->relativeError;
      entry["outlier_fraction"] = it->second->outlierFraction;
    }
    weights.push_back(std::move(entry));
  }
  return llvm::Error::success();
}

/// targets.cuda: one PTX blob per chip and every kernel's launch (schema in
/// docs/cuda.md).
/// The GEMV generator's per-shape choices of a matmul entry, one object per
/// matrix (docs/cuda.md, "The manifest's GEMV records").
json describeGemvChoices(
    const std::vector<mlir::mixq::cuda::GemvChoice> &choices) {
  json out = json::array();
  for (const auto &choice : choices)
    out.push_back({{"rows", choice.rows},
                   {"cols", choice.cols},
                   {"blocks", choice.blocks},
                   {"rows_per_warp", choice.rowsPerWarp},
                   {"split_k", choice.splitK},
                   {"tile_cols", choice.tileCols},
                   {"tensor_cores", choice.tensorCores},
                   {"weights", choice.staged ? "cp.async" : "registers"},
                   {"pipeline_depth", choice.pipelineDepth}});
  return out;
}

llvm::Error addCUDATarget(runtime::PackageWriter &writer,
                          const mlir::mixq::cuda::CompiledCUDA &cuda,
                          json &targets) {
  json ptx = json::object();
  for (const auto &[chip, text] : cuda.ptx) {
    std::string blob = "cuda/" + chip + ".ptx";
    std::vector<uint8_t> bytes(text.begin(), text.end());
    if (Status s = writer.addBlob(blob, std::move(bytes)); !s)
      return makeError(s.message());
    ptx[chip] = blob;
  }
  json kernels = json::array();
  for (const auto &launch : cuda.kernels) {
    json grid = json::array();
    for (const auto &dim : launch.grid)
      grid.push_back(
          {{"count", dim.count}, {"tokens_per_block", dim.tokensPerBlock}});
    json kernel = {{"name", launch.kernel},
                   {"entry", launch.entry},
                   {"block", launch.block},
                   {"grid", grid},
                   {"shared_bytes", launch.sharedBytes},
                   {"workspace_bytes", launch.workspaceBytes}};
    if (launch.weightsPerWarpIteration > 0)
      kernel["weights_per_warp_iteration"] = launch.weightsPerWarpIteration;
    if (launch.weightsPerWarp > 0)
      kernel["weights_per_warp"] = launch.weightsPerWarp;
    if (!launch.gemvs.empty())
      kernel["gemv"] = describeGemvChoices(launch.gemvs);
    kernels.push_back(std::move(kernel));
  }
  targets["cuda"] = {
      {"abi", "mixq-cuda-1"}, {"ptx", ptx}, {"kernels", kernels}};
  if (!cuda.programmaticLaunchChips.empty())
    targets["cuda"]["programmatic_launch"] = cuda.programmaticLaunchChips;
  return llvm::Error::success();
}

/// Bytes of weight `op` one call of its function reads: one row per token
/// of a table only embedded from, all of a matrix otherwise.
int64_t weightBytesPerToken(Operation *op, int64_t &quantizedWeights,
                            double &quantizedBits) {
  Value result = op->getResult(0);
  if (auto type = dyn_cast<mlir::mixq::QTensorType>(result.getType())) {
    double bits = type.getScheme().getReadBitsPerWeight(type.getShape());
    int64_t count = type.getShape()[0] * type.getShape()[1];
    quantizedWeights += count;
    quantizedBits += bits * double(count);
    return int64_t(std::ceil(bits * double(count) / 8));
  }
  auto type = cast<RankedTensorType>(result.getType());
  int64_t elementBytes = type.getElementTypeBitWidth() / 8;
  bool onlyEmbedded =
      !result.use_empty() && llvm::all_of(result.getUsers(), [](Operation *u) {
        return isa<llm::EmbedOp>(u);
      });
  if (onlyEmbedded && type.getRank() == 2)
    return type.getShape()[1] * elementBytes;
  return type.getNumElements() * elementBytes;
}

json describeDecodeEntry(func::FuncOp func, int64_t width) {
  int64_t bytes = 0, quantizedWeights = 0;
  double quantizedBits = 0;
  func.walk([&](Operation *op) {
    if (isa<llm::WeightOp, mlir::mixq::WeightOp>(op))
      bytes += weightBytesPerToken(op, quantizedWeights, quantizedBits);
  });
  return {{"width", width},
          {"plan", func.getSymName().str()},
          {"bits_per_weight",
           quantizedWeights ? quantizedBits / double(quantizedWeights) : 0.0},
          {"bytes_per_step", bytes}};
}

} // namespace

json describeDecodeWidths(ModuleOp module) {
  auto entries = module->getAttrOfType<ArrayAttr>("mixq.decode_widths");
  if (!entries)
    return nullptr;
  json decode = json::array();
  for (auto entry : entries.getAsRange<DictionaryAttr>()) {
    auto name = entry.getAs<StringAttr>("entry");
    auto width = entry.getAs<IntegerAttr>("width");
    auto func = module.lookupSymbol<func::FuncOp>(name);
    if (func && width)
      decode.push_back(describeDecodeEntry(func, width.getInt()));
  }
  json widths = {{"decode", decode}};
  if (auto prefill = module->getAttrOfType<IntegerAttr>("mixq.prefill_width"))
    widths["prefill"] = prefill.getInt();
  return widths;
}

llvm::Error writePackage(const std::string &path,
                         const PackageContents &contents,
                         const ByteProgress &progress) {
  runtime::PackageWriter writer;
  json manifest = {{"producer", contents.producer},
                   {"model", modelJson(*contents.model)},
                   {"tokenizer", tokenizerJson(contents.model->tokenizer)},
                   {"weights", json::array()},
                   {"targets", json::object()},
                   {"plan", contents.plan}};
  if (!contents.widths.is_null())
    manifest["widths"] = contents.widths;
  if (llvm::Error error = addWeights(writer, contents, manifest["weights"]))
    return error;

  if (const auto *cpu = contents.cpu) {
    const char *blob = "cpu/kernels.so";
    if (Status s = writer.addBlob(blob, cpu->sharedObject.data(),
                                  cpu->sharedObject.size());
        !s)
      return makeError(s.message());
    json kernels = json::array();
    for (const auto &kernel : cpu->kernels)
      kernels.push_back({{"name", kernel.kernel}, {"symbol", kernel.symbol}});
    manifest["targets"]["cpu"] = {{"triple", cpu->triple},
                                  {"cpu", cpu->cpu},
                                  {"features", cpu->features},
                                  {"object", blob},
                                  {"kernels", kernels}};
  }
  if (const auto *cuda = contents.cuda)
    if (llvm::Error error = addCUDATarget(writer, *cuda, manifest["targets"]))
      return error;
  if (Status s = writer.write(path, std::move(manifest), progress); !s)
    return makeError(s.message());
  return llvm::Error::success();
}

} // namespace mixq
