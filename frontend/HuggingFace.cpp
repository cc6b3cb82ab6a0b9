//===- HuggingFace.cpp - Hugging Face Llama folders: load and write -------===//
//
// config.json, the shard index, tokenizer.json and tokenizer_config.json are
// parsed from text without exceptions; every key's JSON type is checked
// before its value is read, so a hostile file is an error naming the file
// and the key. loadHuggingFace() maps each safetensors file once and adds
// its tensors to the WeightStore as views, under canonical names.
//===----------------------------------------------------------------------===//

#include "frontend/Checkpoint.h"
#include "frontend/Safetensors.h"

#include <nlohmann/json.hpp>

#if defined(MIXQ_HAVE_SENTENCEPIECE) && MIXQ_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#define MIXQ_USE_SENTENCEPIECE 1
#else
#define MIXQ_USE_SENTENCEPIECE 0
#endif

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

using namespace mixq;
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;
namespace fs = std::filesystem;

namespace {

//===----------------------------------------------------------------------===//
// JSON helpers
//===----------------------------------------------------------------------===//

/// Parses `text` as a JSON object, or fails naming `what`.
Expected<json> parseJsonObject(const std::string &text,
                               const std::string &what) {
  json root = json::parse(text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded())
    return makeError(what, ": not valid JSON");
  if (!root.is_object())
    return makeError(what, ": must be a JSON object, not ",
                     describeJsonValue(root));
  return root;
}

/// Typed reads of the keys of one JSON object. Errors name the file and the
/// key (with `prefix`, for nested objects: "rope_scaling.factor"). A key
/// whose value is null counts as absent, as transformers writes null for
/// unset optional fields.
class JsonFields {
public:
  JsonFields(const json &object, const std::string &what,
             std::string prefix = "")
      : object_(object), what_(what), prefix_(std::move(prefix)) {}

  /// The value of `key`, or nullptr when it is absent or null.
  const json *find(const char *key) const {
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null())
      return nullptr;
    return &*it;
  }

  Status missing(const char *key) const {
    return makeError(what_, ": missing required key '", prefix_, key, "'");
  }
  Status wrongType(const char *key, const char *expected,
                   const json &value) const {
    return makeError(what_, ": key '", prefix_, key, "' must be ", expected,
                     ", not ", describeJsonValue(value));
  }
  Status badValue(const char *key, const std::string &why) const {
    return makeError(what_, ": key '", prefix_, key, "' ", why);
  }

  // Each read leaves `out` unchanged when the key is absent and not
  // `required`, so that `out`'s initial value is the default.
  Status readInt(const char *key, int64_t &out, bool required) const {
    const json *value = find(key);
    if (!value)
      return required ? missing(key) : Status::success();
    if (!value->is_number_integer())
      return wrongType(key, "an integer", *value);
    if (value->is_number_unsigned()) {
      uint64_t v = value->get<uint64_t>();
      if (v > uint64_t(std::numeric_limits<int64_t>::max()))
        return badValue(key, "= " + std::to_string(v) + " is out of range");
      out = int64_t(v);
      return Status::success();
    }
    out = value->get<int64_t>();
    return Status::success();
  }
  Status readFloat(const char *key, float &out, bool required) const {
    const json *value = find(key);
    if (!value)
      return required ? missing(key) : Status::success();
    if (!value->is_number())
      return wrongType(key, "a number", *value);
    double v = value->get<double>();
    // Converting a double outside float's range is undefined behaviour.
    if (!(std::fabs(v) <= double(FLT_MAX)))
      return badValue(key, "= " + describeJsonValue(*value) +
                               " is out of the 32-bit float range");
    out = float(v);
    return Status::success();
  }
  Status readBool(const char *key, bool &out, bool required) const {
    const json *value = find(key);
    if (!value)
      return required ? missing(key) : Status::success();
    if (!value->is_boolean())
      return wrongType(key, "true or false", *value);
    out = value->get<bool>();
    return Status::success();
  }
  Status readString(const char *key, std::string &out, bool required) const {
    const json *value = find(key);
    if (!value)
      return required ? missing(key) : Status::success();
    if (!value->is_string())
      return wrongType(key, "a string", *value);
    out = value->get<std::string>();
    return Status::success();
  }

private:
  const json &object_;
  const std::string &what_;
  std::string prefix_;
};

/// The double with the shortest decimal form that still converts back to
/// `value`, so that config.json says 1e-05, not 9.999999747378752e-06.
double floatForJson(float value) {
  char text[32];
  for (int digits = 1; digits <= 9; ++digits) {
    std::snprintf(text, sizeof(text), "%.*g", digits, double(value));
    double candidate = std::strtod(text, nullptr);
    if (float(candidate) == value)
      return candidate;
  }
  return double(value);
}

const char *torchDTypeName(DType dtype) {
  switch (dtype) {
  case DType::F16:
    return "float16";
  case DType::BF16:
    return "bfloat16";
  default:
    return "float32";
  }
}

//===----------------------------------------------------------------------===//
// Tensor names
//===----------------------------------------------------------------------===//

struct BlockTensorName {
  const char *hf;        ///< after "model.layers.N."
  const char *canonical; ///< after "blkN."
};

const BlockTensorName kBlockTensorNames[] = {
    {"input_layernorm.weight", "attn_norm"},
    {"self_attn.q_proj.weight", "q_proj"},
    {"self_attn.k_proj.weight", "k_proj"},
    {"self_attn.v_proj.weight", "v_proj"},
    {"self_attn.o_proj.weight", "o_proj"},
    {"post_attention_layernorm.weight", "ffn_norm"},
    {"mlp.gate_proj.weight", "gate_proj"},
    {"mlp.up_proj.weight", "up_proj"},
    {"mlp.down_proj.weight", "down_proj"},
};

struct GlobalTensorName {
  const char *hf;
  const char *canonical;
};

const GlobalTensorName kGlobalTensorNames[] = {
    {"model.embed_tokens.weight", "tok_embed"},
    {"model.norm.weight", "final_norm"},
    {"lm_head.weight", "lm_head"},
};

/// Parses "<prefix><layer>.<suffix>": the layer number (decimal, no leading
/// zeros, at most 9 digits) and the suffix.
bool splitLayerName(const std::string &name, const std::string &prefix,
                    int64_t &layer, std::string &suffix) {
  if (name.compare(0, prefix.size(), prefix) != 0)
    return false;
  size_t pos = prefix.size(), start = pos;
  while (pos < name.size() && name[pos] >= '0' && name[pos] <= '9')
    ++pos;
  size_t digits = pos - start;
  if (digits == 0 || digits > 9 || (digits > 1 && name[start] == '0') ||
      pos >= name.size() || name[pos] != '.')
    return false;
  layer = std::stoll(name.substr(start, digits));
  suffix = name.substr(pos + 1);
  return true;
}

/// Rotary inverse frequencies older transformers versions saved; they are
/// recomputed from rope_theta.
bool isRotaryInvFreq(const std::string &name) {
  int64_t layer;
  std::string suffix;
  return splitLayerName(name, "model.layers.", layer, suffix) &&
         suffix == "self_attn.rotary_emb.inv_freq";
}

//===----------------------------------------------------------------------===//
// Tokenizer
//===----------------------------------------------------------------------===//

/// True for SentencePiece byte pieces "<0x00>".."<0xFF>".
bool isBytePiece(const std::string &piece) {
  auto hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
  };
  return piece.size() == 6 && piece[0] == '<' && piece[1] == '0' &&
         piece[2] == 'x' && hex(piece[3]) && hex(piece[4]) && piece[5] == '>';
}

/// The id of `piece`, or -1.
int32_t findPiece(const TokenizerData &tokenizer, const std::string &piece) {
  for (size_t id = 0; id < tokenizer.tokens.size(); ++id)
    if (tokenizer.tokens[id] == piece)
      return int32_t(id);
  return -1;
}

/// Reads tokenizer_config.json's `key` ("bos_token"): a string, or an
/// AddedToken object {"content": ...}. Sets `piece` empty when absent.
Status readSpecialToken(const JsonFields &fields, const char *key,
                        std::string &piece) {
  piece.clear();
  const json *value = fields.find(key);
  if (!value)
    return Status::success();
  if (value->is_string()) {
    piece = value->get<std::string>();
    return Status::success();
  }
  if (value->is_object()) {
    auto content = value->find("content");
    if (content != value->end() && content->is_string()) {
      piece = content->get<std::string>();
      return Status::success();
    }
  }
  return fields.wrongType(key, "a string or an object with a string 'content'",
                          *value);
}

/// The id of the special token `key` of tokenizer_config.json, else of the
/// first of `fallbacks` in the vocabulary, else -1.
Expected<int32_t> specialTokenId(const TokenizerData &tokenizer,
                                 const JsonFields *config, const char *key,
                                 std::initializer_list<const char *> fallbacks,
                                 const std::string &configWhat) {
  if (config) {
    std::string piece;
    if (Status s = readSpecialToken(*config, key, piece); !s)
      return s;
    if (!piece.empty()) {
      int32_t id = findPiece(tokenizer, piece);
      if (id < 0)
        return makeError(configWhat, ": ", key, " ", quoteName(piece),
                         " is not in the vocabulary");
      return id;
    }
  }
  for (const char *piece : fallbacks)
    if (int32_t id = findPiece(tokenizer, piece); id >= 0)
      return id;
  return -1;
}

//===----------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------===//

/// JSON side files larger than this are not what they claim to be (the
/// largest real tokenizer.json files are tens of megabytes).
constexpr uint64_t kMaxJsonFileBytes = 1ull << 30;

Expected<std::string> readTextFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return makeError(path, ": cannot open");
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size < 0)
    return makeError(path, ": cannot read");
  if (uint64_t(size) > kMaxJsonFileBytes)
    return makeError(path, ": ", uint64_t(size),
                     " bytes is too large for a JSON side file");
  std::string text(size_t(size), '\0');
  in.seekg(0);
  if (size && !in.read(text.data(), size))
    return makeError(path, ": cannot read");
  return text;
}

bool isRegularFile(const std::string &path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

std::string joinPath(const std::string &folder, const std::string &name) {
  if (folder.empty())
    return name;
  if (folder.back() == '/')
    return folder + name;
  return folder + "/" + name;
}

std::string parentFolder(const std::string &path) {
  std::string parent = fs::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Removes `path` if it exists: a file the writer replaces by another name
/// would otherwise be read instead of (or beside) the new one.
Status removeStale(const std::string &path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec)
    return makeError(path, ": cannot remove the stale file: ", ec.message());
  return Status::success();
}

//===----------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------===//

/// Adds the tensors of one safetensors file (those named in `names`, or all
/// when `names` is null) to `model`.
class HFWeightLoader {
public:
  explicit HFWeightLoader(Model &model) : model_(model) {}

  /// Maps `path` and adds its tensors. `only` (optional) restricts the load
  /// to these names, each of which must be present; `context` prefixes the
  /// "missing" error (the index that listed them).
  Status addFile(const std::string &path,
                 const std::vector<std::string> *only = nullptr,
                 const std::string &context = "") {
    Expected<const MappedFile *> file = model_.weights.mapFile(path);
    if (!file) {
      if (only && !only->empty())
        return makeError(
            context, ": tensor ", quoteName(only->front()),
            " is mapped to a shard that cannot be read: ", file.message());
      return file.status();
    }
    Expected<SafetensorsHeader> header =
        parseSafetensors((*file)->data(), (*file)->size(), path);
    if (!header)
      return header.status();
    if (!only) {
      for (const SafetensorsTensor &tensor : header->tensors)
        if (Status s = addTensor(**file, tensor); !s)
          return s;
      return Status::success();
    }
    for (const std::string &name : *only) {
      const SafetensorsTensor *tensor = header->find(name);
      if (!tensor)
        return makeError(context, ": tensor ", quoteName(name),
                         " is mapped to shard ", path,
                         ", which does not contain it");
      if (Status s = addTensor(**file, *tensor); !s)
        return s;
    }
    return Status::success();
  }

private:
  Status addTensor(const MappedFile &file, const SafetensorsTensor &tensor) {
    const ModelConfig &config = model_.config;
    if (isRotaryInvFreq(tensor.name))
      return Status::success();
    // With tied embeddings the head is the embedding; a separate copy some
    // exporters save anyway is not used.
    if (config.tiedEmbeddings && tensor.name == "lm_head.weight")
      return Status::success();
    std::optional<std::string> canonical = canonicalNameOfHFTensor(tensor.name);
    if (!canonical)
      return makeError(file.path(), ": unknown tensor ", quoteName(tensor.name),
                       " (not a weight of LlamaForCausalLM)");
    int64_t layer;
    std::string suffix;
    if (splitLayerName(tensor.name, "model.layers.", layer, suffix) &&
        layer >= config.numLayers)
      return makeError(file.path(), ": tensor ", quoteName(tensor.name),
                       " is for layer ", layer, " but config.json has ",
                       config.numLayers, " layers");
    return model_.weights.addFileTensor(file, *canonical, tensor.dtype,
                                        tensor.shape, tensor.fileOffset,
                                        tensor.byteSize());
  }

  Model &model_;
};

/// Reads the folder's tokenizer into `out`: tokenizer.model through
/// SentencePiece when possible, else tokenizer.json, else none.
Status loadHFTokenizer(const std::string &folder, TokenizerData &out) {
  std::string spmPath = joinPath(folder, "tokenizer.model");
  if (isRegularFile(spmPath)) {
    if (sentencePieceAvailable()) {
      Expected<TokenizerData> tokenizer = loadSentencePieceModel(spmPath);
      if (!tokenizer)
        return tokenizer.status();
      out = tokenizer.take();
      return Status::success();
    }
    std::fprintf(stderr,
                 "mixq: note: %s is ignored (built without SentencePiece); "
                 "reading tokenizer.json instead\n",
                 spmPath.c_str());
  }
  std::string jsonPath = joinPath(folder, "tokenizer.json");
  if (!isRegularFile(jsonPath))
    return Status::success();
  Expected<std::string> text = readTextFile(jsonPath);
  if (!text)
    return text.status();
  std::string configPath = joinPath(folder, "tokenizer_config.json");
  std::string configText;
  if (isRegularFile(configPath)) {
    Expected<std::string> configFile = readTextFile(configPath);
    if (!configFile)
      return configFile.status();
    configText = configFile.take();
  }
  Expected<TokenizerData> tokenizer =
      parseHFTokenizerJson(*text, jsonPath, configText, configPath);
  if (!tokenizer)
    return tokenizer.status();
  out = tokenizer.take();
  return Status::success();
}

/// Matches the tokenizer to the embedding rows: more tokens than rows is an
/// error; fewer (embeddings padded to a round size) are filled with unused
/// "[PAD<id>]" tokens, as llama.cpp's converter does.
Status fitTokenizerToVocab(const std::string &source, int64_t vocabSize,
                           TokenizerData &tokenizer) {
  if (tokenizer.empty())
    return Status::success();
  if (int64_t(tokenizer.tokens.size()) > vocabSize)
    return makeError(source, ": the tokenizer has ", tokenizer.tokens.size(),
                     " tokens but vocab_size is ", vocabSize);
  for (int64_t id = int64_t(tokenizer.tokens.size()); id < vocabSize; ++id) {
    tokenizer.tokens.push_back("[PAD" + std::to_string(id) + "]");
    tokenizer.scores.push_back(0.0f);
    tokenizer.types.push_back(int32_t(TokenType::Unused));
  }
  return Status::success();
}

} // namespace

//===----------------------------------------------------------------------===//
// Names
//===----------------------------------------------------------------------===//

std::optional<std::string>
mixq::canonicalNameOfHFTensor(const std::string &name) {
  for (const GlobalTensorName &entry : kGlobalTensorNames)
    if (name == entry.hf)
      return std::string(entry.canonical);
  int64_t layer;
  std::string suffix;
  if (!splitLayerName(name, "model.layers.", layer, suffix))
    return std::nullopt;
  for (const BlockTensorName &entry : kBlockTensorNames)
    if (suffix == entry.hf)
      return blockTensorName(layer, entry.canonical);
  return std::nullopt;
}

std::optional<std::string>
mixq::hfNameOfCanonicalTensor(const std::string &name) {
  for (const GlobalTensorName &entry : kGlobalTensorNames)
    if (name == entry.canonical)
      return std::string(entry.hf);
  int64_t layer;
  std::string suffix;
  if (!splitLayerName(name, "blk", layer, suffix))
    return std::nullopt;
  for (const BlockTensorName &entry : kBlockTensorNames)
    if (suffix == entry.canonical)
      return "model.layers." + std::to_string(layer) + "." + entry.hf;
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// config.json
//===----------------------------------------------------------------------===//

Expected<ModelConfig> mixq::parseLlamaConfigJson(const std::string &text,
                                                 const std::string &what) {
  Expected<json> parsed = parseJsonObject(text, what);
  if (!parsed)
    return parsed.status();
  const json &root = *parsed;
  JsonFields fields(root, what);

  // Architecture: transformers picks the class from `architectures`;
  // model_type alone (older exports) is accepted too.
  std::string modelType;
  if (Status s = fields.readString("model_type", modelType, false); !s)
    return s;
  bool llamaArchitecture = false;
  std::string architectures = "none";
  if (const json *value = fields.find("architectures")) {
    if (!value->is_array())
      return fields.wrongType("architectures", "an array of strings", *value);
    for (const json &element : *value) {
      if (!element.is_string())
        return fields.wrongType("architectures", "an array of strings", *value);
      if (element.get<std::string>() == "LlamaForCausalLM")
        llamaArchitecture = true;
    }
    architectures = describeJsonValue(*value);
  }
  if (!llamaArchitecture && modelType != "llama")
    return makeError(what, ": not a Llama model: architectures ", architectures,
                     ", model_type ",
                     modelType.empty() ? "none" : quoteName(modelType),
                     " (mixq reads LlamaForCausalLM checkpoints)");

  ModelConfig config;
  config.ropeLayout = RopeLayout::RotateHalf;
  struct RequiredInt {
    const char *key;
    int64_t &field;
  };
  for (RequiredInt entry :
       {RequiredInt{"hidden_size", config.dim},
        RequiredInt{"intermediate_size", config.hiddenDim},
        RequiredInt{"num_hidden_layers", config.numLayers},
        RequiredInt{"num_attention_heads", config.numHeads},
        RequiredInt{"vocab_size", config.vocabSize},
        RequiredInt{"max_position_embeddings", config.maxSeqLen}})
    if (Status s = fields.readInt(entry.key, entry.field, true); !s)
      return s;
  config.numKvHeads = config.numHeads;
  if (Status s =
          fields.readInt("num_key_value_heads", config.numKvHeads, false);
      !s)
    return s;
  if (fields.find("head_dim")) {
    if (Status s = fields.readInt("head_dim", config.headDim, true); !s)
      return s;
  } else if (config.numHeads > 0) {
    if (config.dim % config.numHeads != 0)
      return makeError(what, ": hidden_size (", config.dim,
                       ") is not a multiple of num_attention_heads (",
                       config.numHeads, ") and head_dim is not given");
    config.headDim = config.dim / config.numHeads;
  }
  if (Status s = fields.readFloat("rms_norm_eps", config.normEps, true); !s)
    return s;
  if (Status s = fields.readFloat("rope_theta", config.ropeTheta, false); !s)
    return s;
  if (Status s =
          fields.readBool("tie_word_embeddings", config.tiedEmbeddings, false);
      !s)
    return s;

  // Variants of the architecture that mixq's graph does not compute.
  std::string activation = "silu";
  if (Status s = fields.readString("hidden_act", activation, false); !s)
    return s;
  if (activation != "silu")
    return makeError(what, ": hidden_act ", quoteName(activation),
                     " is not supported (Llama uses silu)");
  for (const char *key : {"attention_bias", "mlp_bias"}) {
    bool bias = false;
    if (Status s = fields.readBool(key, bias, false); !s)
      return s;
    if (bias)
      return makeError(what, ": ", key,
                       " = true is not supported (Llama has no biases)");
  }

  // The checkpoint's dtype; the embedding's type overrides it on load.
  // Newer transformers write "dtype".
  std::string torchDType;
  for (const char *key : {"torch_dtype", "dtype"})
    if (Status s = fields.readString(key, torchDType, false); !s)
      return s;
  if (torchDType == "float16")
    config.weightDType = DType::F16;
  else if (torchDType == "bfloat16")
    config.weightDType = DType::BF16;
  else
    config.weightDType = DType::F32;

  if (const json *scaling = fields.find("rope_scaling")) {
    if (!scaling->is_object())
      return fields.wrongType("rope_scaling", "null or an object", *scaling);
    JsonFields scalingFields(*scaling, what, "rope_scaling.");
    // transformers renamed "type" to "rope_type"; either may be present.
    std::string type;
    const char *typeKey =
        scalingFields.find("rope_type") ? "rope_type" : "type";
    if (Status s = scalingFields.readString(typeKey, type, true); !s)
      return s;
    if (type == "llama3") {
      RopeScaling &rope = config.ropeScaling;
      if (Status s = scalingFields.readFloat("factor", rope.factor, true); !s)
        return s;
      if (Status s = scalingFields.readFloat("low_freq_factor",
                                             rope.lowFreqFactor, true);
          !s)
        return s;
      if (Status s = scalingFields.readFloat("high_freq_factor",
                                             rope.highFreqFactor, true);
          !s)
        return s;
      if (Status s = scalingFields.readInt("original_max_position_embeddings",
                                           rope.originalMaxPositions, true);
          !s)
        return s;
      if (rope.factor == 0.0f)
        return makeError(what, ": rope_scaling.factor must not be 0");
    } else if (type != "default") {
      return makeError(what, ": rope_scaling type ", quoteName(type),
                       " is not supported (only 'llama3' and 'default')");
    }
  }

  if (Status s = config.validate(what); !s)
    return s;
  return config;
}

std::string mixq::llamaConfigJson(const ModelConfig &config,
                                  const TokenizerData &tokenizer) {
  ordered_json j = ordered_json::object();
  j["architectures"] = ordered_json::array({"LlamaForCausalLM"});
  j["model_type"] = "llama";
  j["hidden_size"] = config.dim;
  j["intermediate_size"] = config.hiddenDim;
  j["num_hidden_layers"] = config.numLayers;
  j["num_attention_heads"] = config.numHeads;
  j["num_key_value_heads"] = config.numKvHeads;
  j["head_dim"] = config.headDim;
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = floatForJson(config.normEps);
  j["rope_theta"] = floatForJson(config.ropeTheta);
  if (config.ropeScaling.enabled()) {
    const RopeScaling &rope = config.ropeScaling;
    j["rope_scaling"] = {
        {"rope_type", "llama3"},
        {"factor", floatForJson(rope.factor)},
        {"low_freq_factor", floatForJson(rope.lowFreqFactor)},
        {"high_freq_factor", floatForJson(rope.highFreqFactor)},
        {"original_max_position_embeddings", rope.originalMaxPositions}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["tie_word_embeddings"] = config.tiedEmbeddings;
  j["vocab_size"] = config.vocabSize;
  j["max_position_embeddings"] = config.maxSeqLen;
  j["attention_bias"] = false;
  j["mlp_bias"] = false;
  if (tokenizer.bosId >= 0)
    j["bos_token_id"] = tokenizer.bosId;
  if (tokenizer.eosId >= 0)
    j["eos_token_id"] = tokenizer.eosId;
  j["torch_dtype"] = torchDTypeName(config.weightDType);
  return j.dump(2) + "\n";
}

//===----------------------------------------------------------------------===//
// model.safetensors.index.json
//===----------------------------------------------------------------------===//

Expected<std::map<std::string, std::string>>
mixq::parseSafetensorsIndex(const std::string &text, const std::string &what) {
  Expected<json> parsed = parseJsonObject(text, what);
  if (!parsed)
    return parsed.status();
  JsonFields fields(*parsed, what);
  const json *weightMap = fields.find("weight_map");
  if (!weightMap)
    return fields.missing("weight_map");
  if (!weightMap->is_object())
    return fields.wrongType("weight_map", "an object", *weightMap);
  std::map<std::string, std::string> out;
  for (const auto &entry : weightMap->items()) {
    if (!entry.value().is_string())
      return makeError(what, ": weight_map entry ", quoteName(entry.key()),
                       " must name a shard file, not ",
                       describeJsonValue(entry.value()));
    std::string shard = entry.value().get<std::string>();
    // Shards live in the index's folder; a path would let an index read
    // any file.
    if (shard.empty() || shard == "." || shard == ".." ||
        shard.find('/') != std::string::npos ||
        shard.find('\0') != std::string::npos)
      return makeError(what, ": weight_map entry ", quoteName(entry.key()),
                       " names shard ", quoteName(shard),
                       ", which is not a file name in the index's folder");
    out.emplace(entry.key(), std::move(shard));
  }
  return out;
}

//===----------------------------------------------------------------------===//
// tokenizer.json
//===----------------------------------------------------------------------===//

Expected<TokenizerData>
mixq::parseHFTokenizerJson(const std::string &text, const std::string &what,
                           const std::string &tokenizerConfig,
                           const std::string &tokenizerConfigWhat) {
  Expected<json> parsed = parseJsonObject(text, what);
  if (!parsed)
    return parsed.status();
  JsonFields fields(*parsed, what);
  const json *model = fields.find("model");
  if (!model)
    return fields.missing("model");
  if (!model->is_object())
    return fields.wrongType("model", "an object", *model);
  JsonFields modelFields(*model, what, "model.");
  // Files from old tokenizers versions have no type; their models with
  // merges are BPE.
  std::string type = modelFields.find("merges") ? "BPE" : "";
  if (Status s = modelFields.readString("type", type, type.empty()); !s)
    return s;
  if (type != "BPE")
    return makeError(what, ": tokenizer model type ", quoteName(type),
                     " is not supported (only BPE)");
  bool byteFallback = false;
  if (Status s = modelFields.readBool("byte_fallback", byteFallback, false); !s)
    return s;
  std::string unkPiece;
  if (Status s = modelFields.readString("unk_token", unkPiece, false); !s)
    return s;
  const json *vocab = modelFields.find("vocab");
  if (!vocab)
    return modelFields.missing("vocab");
  if (!vocab->is_object())
    return modelFields.wrongType("vocab", "an object", *vocab);

  struct AddedToken {
    int64_t id;
    std::string content;
    bool special;
  };
  std::vector<AddedToken> added;
  if (const json *list = fields.find("added_tokens")) {
    if (!list->is_array())
      return fields.wrongType("added_tokens", "an array", *list);
    for (const json &entry : *list) {
      if (!entry.is_object())
        return fields.wrongType("added_tokens", "an array of objects", *list);
      JsonFields tokenFields(entry, what, "added_tokens[].");
      AddedToken token{0, "", false};
      if (Status s = tokenFields.readInt("id", token.id, true); !s)
        return s;
      if (Status s = tokenFields.readString("content", token.content, true); !s)
        return s;
      if (Status s = tokenFields.readBool("special", token.special, false); !s)
        return s;
      added.push_back(std::move(token));
    }
  }

  // Ids must be dense: with n entries, an id >= n leaves a gap somewhere.
  // Checking that first also bounds the allocation by the input's size.
  uint64_t entries = vocab->size() + added.size();
  auto checkId = [&](const std::string &piece, int64_t id) -> Status {
    if (id < 0 || uint64_t(id) >= entries ||
        id > std::numeric_limits<int32_t>::max())
      return makeError(what, ": token ", quoteName(piece), " has id ", id,
                       ", which leaves gaps in ids 0..", entries - 1);
    return Status::success();
  };
  std::vector<std::string> pieces;
  std::vector<bool> assigned;
  auto assign = [&](const std::string &piece, int64_t id) -> Status {
    if (Status s = checkId(piece, id); !s)
      return s;
    if (uint64_t(id) >= pieces.size()) {
      pieces.resize(id + 1);
      assigned.resize(id + 1, false);
    }
    if (assigned[id]) {
      if (pieces[id] == piece)
        return Status::success();
      return makeError(what, ": tokens ", quoteName(pieces[id]), " and ",
                       quoteName(piece), " both have id ", id);
    }
    pieces[id] = piece;
    assigned[id] = true;
    return Status::success();
  };
  for (const auto &entry : vocab->items()) {
    if (!entry.value().is_number_integer())
      return makeError(what, ": model.vocab entry ", quoteName(entry.key()),
                       " must have an integer id, not ",
                       describeJsonValue(entry.value()));
    int64_t id = entry.value().is_number_unsigned()
                     ? int64_t(std::min<uint64_t>(
                           entry.value().get<uint64_t>(),
                           uint64_t(std::numeric_limits<int64_t>::max())))
                     : entry.value().get<int64_t>();
    if (Status s = assign(entry.key(), id); !s)
      return s;
  }
  for (const AddedToken &token : added)
    if (Status s = assign(token.content, token.id); !s)
      return s;
  for (size_t id = 0; id < assigned.size(); ++id)
    if (!assigned[id])
      return makeError(what, ": no token has id ", id, " (the ids must be 0..",
                       pieces.size() - 1, " without gaps)");

  TokenizerData out;
  out.model = byteFallback ? "llama" : "gpt2";
  out.tokens = std::move(pieces);
  out.scores.resize(out.tokens.size());
  out.types.assign(out.tokens.size(), int32_t(TokenType::Normal));
  for (size_t id = 0; id < out.tokens.size(); ++id) {
    // Without scores, the id is the merge rank: earlier pieces merge first.
    out.scores[id] = -float(id);
    if (isBytePiece(out.tokens[id]))
      out.types[id] = int32_t(TokenType::Byte);
  }
  for (const AddedToken &token : added)
    out.types[token.id] =
        int32_t(token.special ? TokenType::Control : TokenType::UserDefined);
  if (!unkPiece.empty()) {
    int32_t unk = findPiece(out, unkPiece);
    if (unk < 0)
      return makeError(what, ": model.unk_token ", quoteName(unkPiece),
                       " is not in the vocabulary");
    out.types[unk] = int32_t(TokenType::Unknown);
  }

  std::optional<json> configRoot;
  std::optional<JsonFields> configFields;
  if (!tokenizerConfig.empty()) {
    Expected<json> config =
        parseJsonObject(tokenizerConfig, tokenizerConfigWhat);
    if (!config)
      return config.status();
    configRoot = config.take();
    configFields.emplace(*configRoot, tokenizerConfigWhat);
  }
  const JsonFields *configPtr = configFields ? &*configFields : nullptr;
  Expected<int32_t> bos =
      specialTokenId(out, configPtr, "bos_token", {"<s>", "<|begin_of_text|>"},
                     tokenizerConfigWhat);
  if (!bos)
    return bos.status();
  Expected<int32_t> eos =
      specialTokenId(out, configPtr, "eos_token", {"</s>", "<|end_of_text|>"},
                     tokenizerConfigWhat);
  if (!eos)
    return eos.status();
  out.bosId = *bos;
  out.eosId = *eos;
  return out;
}

Expected<std::string> mixq::hfTokenizerJson(const TokenizerData &tokenizer) {
  static const char *const kSpace = "\xE2\x96\x81"; // U+2581, SentencePiece's
  auto typeOf = [&](size_t id) {
    return id < tokenizer.types.size() ? TokenType(tokenizer.types[id])
                                       : TokenType::Normal;
  };

  ordered_json addedTokens = ordered_json::array();
  ordered_json vocab = ordered_json::object();
  std::map<std::string, size_t> firstId;
  std::string unkPiece;
  for (size_t id = 0; id < tokenizer.tokens.size(); ++id) {
    const std::string &piece = tokenizer.tokens[id];
    auto inserted = firstId.emplace(piece, id);
    if (!inserted.second)
      return makeError("tokenizer.json: token ", quoteName(piece),
                       " appears twice (ids ", inserted.first->second, " and ",
                       id, "); a vocabulary needs distinct pieces");
    // Appended directly: ordered_json's operator[] searches linearly, which
    // made 128K-token vocabularies take half a minute. Pieces are distinct
    // (checked above), so no search is needed.
    static_cast<ordered_json::object_t::Container &>(
        vocab.get_ref<ordered_json::object_t &>())
        .emplace_back(piece, ordered_json(id));
    TokenType type = typeOf(id);
    if (type == TokenType::Unknown && unkPiece.empty())
      unkPiece = piece;
    if (type == TokenType::Control || type == TokenType::Unknown ||
        type == TokenType::UserDefined)
      addedTokens.push_back({{"id", id},
                             {"content", piece},
                             {"single_word", false},
                             {"lstrip", false},
                             {"rstrip", false},
                             {"normalized", false},
                             {"special", type != TokenType::UserDefined}});
  }

  ordered_json j = ordered_json::object();
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = std::move(addedTokens);
  // The normalizer and decoder of Hugging Face's Llama tokenizer.json, so
  // that the tokenizers library reads the file as the same tokenizer.
  j["normalizer"] = {{"type", "Sequence"},
                     {"normalizers",
                      {{{"type", "Prepend"}, {"prepend", kSpace}},
                       {{"type", "Replace"},
                        {"pattern", {{"String", " "}}},
                        {"content", kSpace}}}}};
  j["pre_tokenizer"] = nullptr;
  if (tokenizer.bosId >= 0 &&
      size_t(tokenizer.bosId) < tokenizer.tokens.size()) {
    const std::string &bos = tokenizer.tokens[tokenizer.bosId];
    j["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single",
                            {{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                             {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                           {"pair",
                            {{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                             {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                             {{"SpecialToken", {{"id", bos}, {"type_id", 1}}}},
                             {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
                           {"special_tokens",
                            {{bos,
                              {{"id", bos},
                               {"ids", ordered_json::array({tokenizer.bosId})},
                               {"tokens", ordered_json::array({bos})}}}}}};
  } else {
    j["post_processor"] = nullptr;
  }
  j["decoder"] = {
      {"type", "Sequence"},
      {"decoders",
       {{{"type", "Replace"},
         {"pattern", {{"String", kSpace}}},
         {"content", " "}},
        {{"type", "ByteFallback"}},
        {{"type", "Fuse"}},
        {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  ordered_json model = ordered_json::object();
  model["type"] = "BPE";
  model["dropout"] = nullptr;
  if (unkPiece.empty())
    model["unk_token"] = nullptr;
  else
    model["unk_token"] = unkPiece;
  model["continuing_subword_prefix"] = nullptr;
  model["end_of_word_suffix"] = nullptr;
  model["fuse_unk"] = true;
  model["byte_fallback"] = true;
  model["vocab"] = std::move(vocab);
  model["merges"] = ordered_json::array();
  j["model"] = std::move(model);
  try {
    return j.dump(1) + "\n";
  } catch (const nlohmann::json::exception &e) {
    // Pieces must be valid UTF-8 to be JSON strings.
    return makeError("tokenizer.json: cannot encode the vocabulary: ",
                     e.what());
  }
}

Expected<std::string>
mixq::hfTokenizerConfigJson(const TokenizerData &tokenizer,
                            const ModelConfig &config) {
  auto pieceOf = [&](int32_t id) -> ordered_json {
    if (id >= 0 && size_t(id) < tokenizer.tokens.size())
      return tokenizer.tokens[id];
    return nullptr;
  };
  ordered_json unk = nullptr;
  for (size_t id = 0; id < tokenizer.types.size(); ++id)
    if (TokenType(tokenizer.types[id]) == TokenType::Unknown &&
        id < tokenizer.tokens.size()) {
      unk = tokenizer.tokens[id];
      break;
    }
  ordered_json j = ordered_json::object();
  j["tokenizer_class"] = "PreTrainedTokenizerFast";
  j["bos_token"] = pieceOf(tokenizer.bosId);
  j["eos_token"] = pieceOf(tokenizer.eosId);
  j["unk_token"] = unk;
  j["add_bos_token"] = tokenizer.bosId >= 0;
  j["add_eos_token"] = false;
  j["model_max_length"] = config.maxSeqLen;
  try {
    return j.dump(2) + "\n";
  } catch (const nlohmann::json::exception &e) {
    return makeError("tokenizer_config.json: cannot encode: ", e.what());
  }
}

//===----------------------------------------------------------------------===//
// tokenizer.model
//===----------------------------------------------------------------------===//

bool mixq::sentencePieceAvailable() { return MIXQ_USE_SENTENCEPIECE; }

Expected<TokenizerData> mixq::loadSentencePieceModel(const std::string &path) {
#if MIXQ_USE_SENTENCEPIECE
  sentencepiece::SentencePieceProcessor processor;
  auto status = processor.Load(path);
  if (!status.ok())
    return makeError(path,
                     ": not a valid SentencePiece model: ", status.ToString());
  TokenizerData out;
  out.model = "llama";
  int size = processor.GetPieceSize();
  out.tokens.reserve(size);
  out.scores.reserve(size);
  out.types.reserve(size);
  for (int id = 0; id < size; ++id) {
    out.tokens.push_back(processor.IdToPiece(id));
    out.scores.push_back(processor.GetScore(id));
    TokenType type = TokenType::Normal;
    if (processor.IsUnknown(id))
      type = TokenType::Unknown;
    else if (processor.IsControl(id))
      type = TokenType::Control;
    else if (processor.IsUnused(id))
      type = TokenType::Unused;
    else if (processor.IsByte(id))
      type = TokenType::Byte;
    out.types.push_back(int32_t(type));
  }
  out.bosId = processor.bos_id();
  out.eosId = processor.eos_id();
  return out;
#else
  return makeError(path, ": cannot read a SentencePiece model: mixq was built "
                         "without SentencePiece");
#endif
}

//===----------------------------------------------------------------------===//
// Loading and writing folders
//===----------------------------------------------------------------------===//

Expected<std::unique_ptr<Model>>
mixq::loadHuggingFace(const std::string &path) {
  std::error_code ec;
  fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status))
    return makeError(path, ": no such file or folder");

  // What `path` names: the folder, its index, or one safetensors file.
  std::string folder, indexPath, singlePath;
  if (fs::is_directory(status)) {
    folder = path;
    indexPath = joinPath(folder, "model.safetensors.index.json");
    singlePath = joinPath(folder, "model.safetensors");
    if (isRegularFile(indexPath))
      singlePath.clear();
    else if (isRegularFile(singlePath))
      indexPath.clear();
    else
      return makeError(path, ": a Hugging Face folder needs model.safetensors "
                             "or model.safetensors.index.json");
  } else if (endsWith(path, ".index.json")) {
    folder = parentFolder(path);
    indexPath = path;
  } else {
    folder = parentFolder(path);
    singlePath = path;
  }

  auto model = std::make_unique<Model>();
  model->source = path;
  model->format = "safetensors";

  std::string configPath = joinPath(folder, "config.json");
  if (!isRegularFile(configPath))
    return makeError(path, ": no config.json in ", folder);
  Expected<std::string> configText = readTextFile(configPath);
  if (!configText)
    return configText.status();
  Expected<ModelConfig> config = parseLlamaConfigJson(*configText, configPath);
  if (!config)
    return config.status();
  model->config = config.take();

  HFWeightLoader loader(*model);
  if (!singlePath.empty()) {
    if (Status s = loader.addFile(singlePath); !s)
      return s;
  } else {
    Expected<std::string> indexText = readTextFile(indexPath);
    if (!indexText)
      return indexText.status();
    Expected<std::map<std::string, std::string>> weightMap =
        parseSafetensorsIndex(*indexText, indexPath);
    if (!weightMap)
      return weightMap.status();
    // Each shard is mapped and parsed once, for all of its tensors.
    std::map<std::string, std::vector<std::string>> namesByShard;
    for (const auto &entry : *weightMap)
      namesByShard[entry.second].push_back(entry.first);
    for (const auto &entry : namesByShard)
      if (Status s = loader.addFile(joinPath(folder, entry.first),
                                    &entry.second, indexPath);
          !s)
        return s;
  }

  if (const TensorView *embed = model->weights.lookup("tok_embed"))
    model->config.weightDType = embed->dtype;

  if (Status s = loadHFTokenizer(folder, model->tokenizer); !s)
    return s;
  if (Status s =
          fitTokenizerToVocab(path, model->config.vocabSize, model->tokenizer);
      !s)
    return s;

  if (Status s = validateModel(*model); !s)
    return s;
  return model;
}

Status mixq::writeHuggingFace(const std::string &dir, const ModelConfig &config,
                              const TokenizerData &tokenizer,
                              const std::vector<TensorSource> &tensors,
                              uint64_t maxShardBytes) {
  if (Status s = config.validate(dir); !s)
    return s;
  // Hugging Face's Llama computes rope on rotate-half rows; interleaved rows
  // written as they are would load as a different model.
  if (config.ropeLayout != RopeLayout::RotateHalf)
    return makeError(dir,
                     ": Hugging Face checkpoints hold q_proj/k_proj rows in "
                     "rotate-half layout; permute them with "
                     "interleavedToRotateHalfRows() and set the config's "
                     "rope layout to rotate_half");
  if (int64_t(tokenizer.tokens.size()) > config.vocabSize)
    return makeError(dir, ": the tokenizer has ", tokenizer.tokens.size(),
                     " tokens but vocab_size is ", config.vocabSize);

  // Hugging Face names, and the shards: consecutive tensors, a new shard
  // when the next tensor would overflow the current one (as transformers'
  // save_pretrained does; a tensor larger than the limit gets its own).
  std::vector<std::vector<TensorSource>> shards(1);
  uint64_t totalBytes = 0, shardBytes = 0;
  std::map<std::string, std::string> weightMap;
  for (const TensorSource &source : tensors) {
    std::optional<std::string> hfName = hfNameOfCanonicalTensor(source.name);
    if (!hfName)
      return makeError(dir, ": tensor ", quoteName(source.name),
                       " has no Hugging Face Llama name");
    if (config.tiedEmbeddings && source.name == "lm_head")
      return makeError(dir, ": tensor 'lm_head' is given but the config "
                            "ties it to the embedding");
    std::string where = dir + ": tensor " + quoteName(source.name);
    Expected<int64_t> elements = checkedNumElements(source.shape, where);
    if (!elements)
      return elements.status();
    uint64_t bytes = uint64_t(*elements) * dtypeSize(source.dtype);
    if (maxShardBytes > 0 && shardBytes > 0 &&
        bytes > maxShardBytes - std::min(maxShardBytes, shardBytes)) {
      shards.emplace_back();
      shardBytes = 0;
    }
    TensorSource renamed = source;
    renamed.name = *hfName;
    shards.back().push_back(std::move(renamed));
    shardBytes += bytes;
    totalBytes += bytes;
  }

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return makeError(dir, ": cannot create the folder: ", ec.message());

  const std::map<std::string, std::string> metadata = {{"format", "pt"}};
  std::vector<uint8_t> scratch;
  std::string indexPath = joinPath(dir, "model.safetensors.index.json");
  std::string singlePath = joinPath(dir, "model.safetensors");
  if (shards.size() == 1) {
    if (Status s = writeSafetensors(singlePath, shards[0], metadata, &scratch);
        !s)
      return s;
    if (Status s = removeStale(indexPath); !s)
      return s;
  } else {
    ordered_json index = ordered_json::object();
    index["metadata"] = {{"total_size", totalBytes}};
    for (size_t i = 0; i < shards.size(); ++i) {
      char name[64];
      std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors",
                    i + 1, shards.size());
      if (Status s = writeSafetensors(joinPath(dir, name), shards[i], metadata,
                                      &scratch);
          !s)
        return s;
      for (const TensorSource &source : shards[i])
        weightMap[source.name] = name;
    }
    ordered_json map = ordered_json::object();
    for (const auto &entry : weightMap)
      map[entry.first] = entry.second;
    index["weight_map"] = std::move(map);
    if (Status s = writeFileAtomically(indexPath, index.dump(2) + "\n"); !s)
      return s;
    if (Status s = removeStale(singlePath); !s)
      return s;
  }

  // A tokenizer.model left from an earlier checkpoint would be read instead
  // of the tokenizer.json written here.
  std::string tokenizerPath = joinPath(dir, "tokenizer.json");
  std::string tokenizerConfigPath = joinPath(dir, "tokenizer_config.json");
  if (Status s = removeStale(joinPath(dir, "tokenizer.model")); !s)
    return s;
  if (tokenizer.empty()) {
    for (const std::string &stale : {tokenizerPath, tokenizerConfigPath})
      if (Status s = removeStale(stale); !s)
        return s;
  } else {
    Expected<std::string> tokenizerText = hfTokenizerJson(tokenizer);
    if (!tokenizerText)
      return makeError(dir, "/", tokenizerText.message());
    if (Status s = writeFileAtomically(tokenizerPath, *tokenizerText); !s)
      return s;
    Expected<std::string> configText = hfTokenizerConfigJson(tokenizer, config);
    if (!configText)
      return makeError(dir, "/", configText.message());
    if (Status s = writeFileAtomically(tokenizerConfigPath, *configText); !s)
      return s;
  }

  // config.json last: a folder with a config.json is complete.
  return writeFileAtomically(joinPath(dir, "config.json"),
                             llamaConfigJson(config, tokenizer));
}
