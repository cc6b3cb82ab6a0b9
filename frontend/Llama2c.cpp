//===- Llama2c.cpp - llama2.c legacy checkpoints and tokenizer.bin --------===//
//
// The legacy format (../shared/models/README.md): seven int32 header fields
// (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a
// negative vocab_size means an untied classifier), then f32 arrays stacked
// over layers. Each layer's matrix is a zero-copy view into the stack.
//===----------------------------------------------------------------------===//

#include "frontend/Checkpoint.h"
#include "frontend/OutputFile.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>

using namespace mixq;

namespace {

constexpr uint64_t kHeaderBytes = 7 * sizeof(int32_t);

/// One stacked array of the checkpoint: `perLayer` tensors of `shape`.
struct StackedArray {
  const char *suffix; ///< canonical block suffix, or a top-level name
  std::vector<int64_t> shape;
  bool perLayer;
};

/// The arrays in file order (freq_cis tables excluded; see below).
std::vector<StackedArray> llama2cLayout(const ModelConfig &c) {
  int64_t qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
  return {
      {"tok_embed", {c.vocabSize, c.dim}, false},
      {"attn_norm", {c.dim}, true},
      {"q_proj", {qDim, c.dim}, true},
      {"k_proj", {kvDim, c.dim}, true},
      {"v_proj", {kvDim, c.dim}, true},
      {"o_proj", {c.dim, qDim}, true},
      {"ffn_norm", {c.dim}, true},
      {"gate_proj", {c.hiddenDim, c.dim}, true},
      {"down_proj", {c.dim, c.hiddenDim}, true},
      {"up_proj", {c.hiddenDim, c.dim}, true},
      {"final_norm", {c.dim}, false},
  };
}

int64_t elementsOf(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

Status readHeader(const MappedFile &file, ModelConfig &config) {
  ByteReader reader(file.data(), file.size(), file.path());
  int32_t fields[7];
  for (int32_t &field : fields)
    if (Status s = reader.readI32(field); !s)
      return makeError(s.message(), " (llama2.c header is 7 int32 values)");
  config.dim = fields[0];
  config.hiddenDim = fields[1];
  config.numLayers = fields[2];
  config.numHeads = fields[3];
  config.numKvHeads = fields[4];
  config.vocabSize = fields[5] < 0 ? -int64_t(fields[5]) : fields[5];
  config.tiedEmbeddings = fields[5] > 0;
  config.maxSeqLen = fields[6];
  config.headDim = config.numHeads > 0 ? config.dim / config.numHeads : 0;
  config.normEps = 1e-5f;
  config.ropeTheta = 10000.0f;
  config.ropeLayout = RopeLayout::Interleaved;
  config.weightDType = DType::F32;
  if (config.numHeads > 0 && config.dim % config.numHeads != 0)
    return makeError(file.path(), ": dim (", config.dim,
                     ") is not a multiple of n_heads (", config.numHeads, ")");
  return config.validate(file.path());
}

} // namespace

Expected<std::unique_ptr<Model>>
mixq::loadLlama2c(const std::string &path, const std::string &tokenizerPath) {
  auto model = std::make_unique<Model>();
  model->source = path;
  model->format = "llama2c";
  auto mapped = model->weights.mapFile(path);
  if (!mapped)
    return mapped.status();
  const MappedFile &file = **mapped;
  ModelConfig &config = model->config;
  if (Status s = readHeader(file, config); !s)
    return s;

  // Lay the arrays out and check the total before creating any view, so a
  // short file is reported with the sizes that explain it.
  uint64_t offset = kHeaderBytes;
  for (const StackedArray &array : llama2cLayout(config)) {
    int64_t count =
        elementsOf(array.shape) * (array.perLayer ? config.numLayers : 1);
    uint64_t bytes = uint64_t(count) * sizeof(float);
    if (!file.contains(offset, bytes))
      return makeError(path, ": truncated: array '", array.suffix, "' needs ",
                       bytes, " bytes at offset ", offset, " but the file has ",
                       file.size(), " bytes (header: dim ", config.dim,
                       ", hidden_dim ", config.hiddenDim, ", n_layers ",
                       config.numLayers, ", vocab ", config.vocabSize, ")");
    for (int64_t layer = 0; layer < (array.perLayer ? config.numLayers : 1);
         ++layer) {
      std::string name = array.perLayer ? blockTensorName(layer, array.suffix)
                                        : std::string(array.suffix);
      uint64_t tensorBytes = uint64_t(elementsOf(array.shape)) * sizeof(float);
      if (Status s = model->weights.addFileTensor(
              file, name, DType::F32, array.shape, offset, tensorBytes);
          !s)
        return s;
      offset += tensorBytes;
    }
  }
  // freq_cis_real/imag (seq_len x head_dim/2 each) follow; rope is
  // recomputed from theta, so they are skipped, but they must be present.
  uint64_t freqBytes =
      2 * uint64_t(config.maxSeqLen) * uint64_t(config.headDim / 2) * 4;
  if (!file.contains(offset, freqBytes))
    return makeError(path, ": truncated: the freq_cis tables need ", freqBytes,
                     " bytes at offset ", offset, " but the file has ",
                     file.size(), " bytes");
  offset += freqBytes;
  if (!config.tiedEmbeddings) {
    std::vector<int64_t> shape = {config.vocabSize, config.dim};
    uint64_t bytes = uint64_t(elementsOf(shape)) * sizeof(float);
    if (!file.contains(offset, bytes))
      return makeError(path, ": truncated: the untied classifier needs ", bytes,
                       " bytes at offset ", offset, " but the file has ",
                       file.size(), " bytes");
    if (Status s = model->weights.addFileTensor(file, "lm_head", DType::F32,
                                                shape, offset, bytes);
        !s)
      return s;
    offset += bytes;
  }
  if (offset != file.size())
    return makeError(path, ": ", file.size() - offset,
                     " unexpected trailing bytes after the last tensor (at "
                     "offset ",
                     offset, "); is the header right?");

  if (!tokenizerPath.empty())
    if (Status s = loadLlama2cTokenizer(tokenizerPath, config.vocabSize,
                                        model->tokenizer);
        !s)
      return s;
  if (Status s = validateModel(*model); !s)
    return s;
  return model;
}

Status mixq::loadLlama2cTokenizer(const std::string &path, int64_t vocabSize,
                                  TokenizerData &out) {
  auto file = MappedFile::open(path);
  if (!file)
    return file.status();
  ByteReader reader((*file)->data(), (*file)->size(), path);
  int32_t maxTokenLength = 0;
  if (Status s = reader.readI32(maxTokenLength); !s)
    return s;
  if (maxTokenLength <= 0)
    return makeError(path, ": max_token_length must be positive, got ",
                     maxTokenLength);
  TokenizerData data;
  data.model = "llama";
  data.bosId = 1;
  data.eosId = 2;
  for (int64_t id = 0; id < vocabSize; ++id) {
    float score = 0;
    int32_t length = 0;
    if (Status s = reader.readF32(score); !s)
      return makeError(s.message(), " (token ", id, " of ", vocabSize, ")");
    if (Status s = reader.readI32(length); !s)
      return makeError(s.message(), " (token ", id, " of ", vocabSize, ")");
    if (length < 0 || length > maxTokenLength)
      return makeError(path, ": token ", id, " has length ", length,
                       " outside [0, max_token_length = ", maxTokenLength, "]");
    std::string piece;
    if (Status s = reader.readBytes(length, piece); !s)
      return makeError(s.message(), " (token ", id, ")");
    int32_t type = int32_t(TokenType::Normal);
    if (piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 &&
        piece.back() == '>')
      type = int32_t(TokenType::Byte);
    else if (id == 0)
      type = int32_t(TokenType::Unknown);
    else if (id == data.bosId || id == data.eosId)
      type = int32_t(TokenType::Control);
    data.tokens.push_back(std::move(piece));
    data.scores.push_back(score);
    data.types.push_back(type);
  }
  out = std::move(data);
  return Status::success();
}

Status mixq::writeLlama2c(const std::string &path, const ModelConfig &config,
                          const std::vector<TensorSource> &tensors) {
  if (Status s = config.validate(path); !s)
    return s;
  if (config.ropeLayout != RopeLayout::Interleaved)
    return makeError(path, ": llama2.c checkpoints use the interleaved rope "
                           "layout; this model is rotate_half");
  if (config.ropeScaling.enabled())
    return makeError(path, ": llama2.c checkpoints cannot express rope "
                           "scaling");
  if (config.dim != config.numHeads * config.headDim)
    return makeError(path, ": llama2.c requires head_dim = dim / n_heads");
  std::map<std::string, const TensorSource *> byName;
  for (const TensorSource &t : tensors)
    byName[t.name] = &t;

  AtomicOutputFile out(path);
  if (Status s = out.open(); !s)
    return s;
  int32_t header[7] = {int32_t(config.dim),        int32_t(config.hiddenDim),
                       int32_t(config.numLayers),  int32_t(config.numHeads),
                       int32_t(config.numKvHeads), int32_t(config.vocabSize),
                       int32_t(config.maxSeqLen)};
  if (!config.tiedEmbeddings)
    header[5] = -header[5];
  if (Status s = out.write(header, sizeof(header)); !s)
    return s;

  std::vector<uint8_t> buffer;
  auto writeTensor = [&](const std::string &name,
                         const std::vector<int64_t> &shape) -> Status {
    auto it = byName.find(name);
    if (it == byName.end())
      return makeError(path, ": no data for tensor '", name, "'");
    const TensorSource &t = *it->second;
    if (t.dtype != DType::F32)
      return makeError(path, ": tensor '", name, "' is ", dtypeName(t.dtype),
                       "; llama2.c checkpoints hold f32 only");
    if (t.shape != shape)
      return makeError(path, ": tensor '", name, "' has shape ",
                       formatShape(t.shape), ", expected ", formatShape(shape));
    buffer.resize(elementsOf(shape) * sizeof(float));
    if (Status s = t.fill(buffer.data()); !s)
      return s;
    return out.write(buffer.data(), buffer.size());
  };
  for (const StackedArray &array : llama2cLayout(config))
    for (int64_t layer = 0; layer < (array.perLayer ? config.numLayers : 1);
         ++layer)
      if (Status s =
              writeTensor(array.perLayer ? blockTensorName(layer, array.suffix)
                                         : std::string(array.suffix),
                          array.shape);
          !s)
        return s;
  // freq_cis_real / freq_cis_imag, as llama2.c's export script writes them.
  int64_t half = config.headDim / 2;
  std::vector<float> real(config.maxSeqLen * half), imag(real.size());
  for (int64_t p = 0; p < config.maxSeqLen; ++p)
    for (int64_t i = 0; i < half; ++i) {
      double freq = std::pow(double(config.ropeTheta),
                             -double(2 * i) / double(config.headDim));
      real[p * half + i] = float(std::cos(p * freq));
      imag[p * half + i] = float(std::sin(p * freq));
    }
  if (Status s = out.write(real.data(), real.size() * 4); !s)
    return s;
  if (Status s = out.write(imag.data(), imag.size() * 4); !s)
    return s;
  if (!config.tiedEmbeddings)
    if (Status s = writeTensor("lm_head", {config.vocabSize, config.dim}); !s)
      return s;
  return out.commit();
}
