//===- HuggingFaceTest.cpp - Hugging Face folders: load, write, config ----===//

#include "frontend/Checkpoint.h"
#include "frontend/Safetensors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

using namespace mixq;
namespace fs = std::filesystem;

namespace {

/// Removes the folders the tests made when the test program ends.
class TempDirCleanup : public ::testing::Environment {
public:
  static std::vector<std::string> &dirs() {
    static std::vector<std::string> list;
    return list;
  }
  void TearDown() override {
    std::error_code ec;
    for (const std::string &dir : dirs())
      fs::remove_all(dir, ec);
  }
};
::testing::Environment *const kTempDirCleanup =
    ::testing::AddGlobalTestEnvironment(new TempDirCleanup);

/// A fresh, empty folder for one test.
std::string tempDir(const std::string &tag) {
  std::string dir = ::testing::TempDir() + "/mixq-hf-" + tag + "-" +
                    std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  TempDirCleanup::dirs().push_back(dir);
  return dir;
}

void writeText(const std::string &path, const std::string &text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string readText(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// Replaces the first `from` in the file at `path` by `to`.
void editFile(const std::string &path, const std::string &from,
              const std::string &to) {
  std::string text = readText(path);
  size_t pos = text.find(from);
  ASSERT_NE(pos, std::string::npos) << from << " not in " << path;
  text.replace(pos, from.size(), to);
  writeText(path, text);
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

/// dim 8, FFN 16, 2 layers, 2 heads of 4, 1 kv head, vocab 8.
ModelConfig tinyConfig(DType dtype, bool tied = false) {
  ModelConfig c;
  c.dim = 8;
  c.hiddenDim = 16;
  c.numLayers = 2;
  c.numHeads = 2;
  c.numKvHeads = 1;
  c.headDim = 4;
  c.vocabSize = 8;
  c.maxSeqLen = 32;
  c.normEps = 1e-5f;
  c.ropeTheta = 500000.0f;
  c.ropeLayout = RopeLayout::RotateHalf;
  c.tiedEmbeddings = tied;
  c.weightDType = dtype;
  return c;
}

/// Tensor `index`'s bytes: a pattern distinct per tensor and position
/// (masked so that bf16/f16 values are finite, though only bytes are
/// compared).
std::vector<uint8_t> patternBytes(int index, uint64_t size) {
  std::vector<uint8_t> bytes(size);
  for (uint64_t i = 0; i < size; ++i)
    bytes[i] = uint8_t((index * 37 + i * 11 + 5) & 0x7F);
  return bytes;
}

uint64_t byteSizeOf(const std::vector<int64_t> &shape, DType dtype) {
  uint64_t n = dtypeSize(dtype);
  for (int64_t d : shape)
    n *= uint64_t(d);
  return n;
}

std::vector<TensorSource> patternTensors(const ModelConfig &config) {
  std::vector<TensorSource> out;
  int index = 0;
  for (const ExpectedTensor &t : expectedTensors(config)) {
    TensorSource source;
    source.name = t.name;
    source.dtype = config.weightDType;
    source.shape = t.shape;
    uint64_t size = byteSizeOf(t.shape, config.weightDType);
    source.fill = [index, size](uint8_t *dst) {
      std::vector<uint8_t> bytes = patternBytes(index, size);
      std::memcpy(dst, bytes.data(), size);
      return Status::success();
    };
    out.push_back(std::move(source));
    ++index;
  }
  return out;
}

/// "<unk>" (Unknown), "<s>", "</s>" (Control), "<0x41>" (Byte), three
/// Normal pieces and one UserDefined.
TokenizerData tinyTokenizer() {
  TokenizerData t;
  t.model = "llama";
  t.tokens = {"<unk>",
              "<s>",
              "</s>",
              "<0x41>",
              "\xE2\x96\x81"
              "a",
              "b",
              "[X]",
              "\xE2\x96\x81"
              "ab"};
  t.scores = {0, 0, 0, 0, -1, -2, 0, -3};
  t.types = {int32_t(TokenType::Unknown),     int32_t(TokenType::Control),
             int32_t(TokenType::Control),     int32_t(TokenType::Byte),
             int32_t(TokenType::Normal),      int32_t(TokenType::Normal),
             int32_t(TokenType::UserDefined), int32_t(TokenType::Normal)};
  t.bosId = 1;
  t.eosId = 2;
  return t;
}

std::string writeTiny(const std::string &tag, DType dtype,
                      uint64_t maxShardBytes = 0, bool tied = false) {
  std::string dir = tempDir(tag);
  ModelConfig config = tinyConfig(dtype, tied);
  Status s = writeHuggingFace(dir, config, tinyTokenizer(),
                              patternTensors(config), maxShardBytes);
  EXPECT_TRUE(s) << s.message();
  return dir;
}

std::string loadError(const std::string &path) {
  auto model = loadHuggingFace(path);
  EXPECT_FALSE(model) << path << " loaded";
  return model ? "" : model.message();
}

//===----------------------------------------------------------------------===//
// Round trips
//===----------------------------------------------------------------------===//

struct RoundTripCase {
  DType dtype;
  uint64_t maxShardBytes;
};

class HuggingFaceRoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(HuggingFaceRoundTrip, EveryTensorConfigAndTokenizerSurvive) {
  const RoundTripCase param = GetParam();
  std::string tag = std::string("rt-") + dtypeName(param.dtype) + "-" +
                    std::to_string(param.maxShardBytes);
  std::string dir = writeTiny(tag, param.dtype, param.maxShardBytes);
  const bool sharded = param.maxShardBytes > 0;
  EXPECT_EQ(::access((dir + "/model.safetensors").c_str(), F_OK) == 0,
            !sharded);
  EXPECT_EQ(::access((dir + "/model.safetensors.index.json").c_str(), F_OK) ==
                0,
            sharded);
  if (sharded) {
    // f32: 5280 bytes of tensors, at most 1024 per shard (the largest
    // tensor has 512) needs at least 6 shards.
    int shards = 0;
    for (const auto &entry : fs::directory_iterator(dir))
      if (contains(entry.path().filename().string(), "-of-"))
        ++shards;
    EXPECT_GE(shards, param.dtype == DType::F32 ? 6 : 3);
    EXPECT_TRUE(contains(readText(dir + "/model.safetensors.index.json"),
                         param.dtype == DType::F32 ? "\"total_size\": 5280"
                                                   : "\"total_size\": 2640"));
  }

  auto loaded = loadHuggingFace(dir);
  ASSERT_TRUE(loaded) << loaded.message();
  const Model &model = **loaded;
  ModelConfig expected = tinyConfig(param.dtype);
  const ModelConfig &c = model.config;
  EXPECT_EQ(c.dim, expected.dim);
  EXPECT_EQ(c.hiddenDim, expected.hiddenDim);
  EXPECT_EQ(c.numLayers, expected.numLayers);
  EXPECT_EQ(c.numHeads, expected.numHeads);
  EXPECT_EQ(c.numKvHeads, expected.numKvHeads);
  EXPECT_EQ(c.headDim, expected.headDim);
  EXPECT_EQ(c.vocabSize, expected.vocabSize);
  EXPECT_EQ(c.maxSeqLen, expected.maxSeqLen);
  EXPECT_EQ(c.normEps, expected.normEps);
  EXPECT_EQ(c.ropeTheta, expected.ropeTheta);
  EXPECT_EQ(c.ropeLayout, RopeLayout::RotateHalf);
  EXPECT_FALSE(c.ropeScaling.enabled());
  EXPECT_FALSE(c.tiedEmbeddings);
  EXPECT_EQ(c.weightDType, param.dtype);
  EXPECT_EQ(model.format, "safetensors");
  EXPECT_EQ(model.source, dir);

  std::vector<ExpectedTensor> tensors = expectedTensors(expected);
  EXPECT_EQ(model.weights.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorView *view = model.weights.lookup(tensors[i].name);
    ASSERT_NE(view, nullptr) << tensors[i].name;
    EXPECT_EQ(view->dtype, param.dtype);
    EXPECT_EQ(view->shape, tensors[i].shape);
    std::vector<uint8_t> want =
        patternBytes(int(i), byteSizeOf(tensors[i].shape, param.dtype));
    ASSERT_EQ(view->byteSize, want.size()) << tensors[i].name;
    EXPECT_EQ(std::memcmp(view->data, want.data(), want.size()), 0)
        << tensors[i].name;
  }

  const TokenizerData &t = model.tokenizer;
  TokenizerData want = tinyTokenizer();
  EXPECT_EQ(t.model, "llama");
  EXPECT_EQ(t.tokens, want.tokens);
  EXPECT_EQ(t.types, want.types);
  EXPECT_EQ(t.bosId, 1);
  EXPECT_EQ(t.eosId, 2);
  // tokenizer.json has no scores: the loader ranks pieces by id.
  EXPECT_EQ(t.scores, std::vector<float>({0, -1, -2, -3, -4, -5, -6, -7}));
}

INSTANTIATE_TEST_SUITE_P(
    HuggingFace, HuggingFaceRoundTrip,
    ::testing::Values(RoundTripCase{DType::F32, 0},
                      RoundTripCase{DType::BF16, 0},
                      RoundTripCase{DType::F32, 1024},
                      RoundTripCase{DType::BF16, 600}),
    [](const ::testing::TestParamInfo<RoundTripCase> &info) {
      return std::string(dtypeName(info.param.dtype)) +
             (info.param.maxShardBytes ? "_sharded" : "_single");
    });

TEST(HuggingFace, LoadsThroughFileAndIndexPaths) {
  std::string single = writeTiny("paths-single", DType::F16);
  auto model = loadHuggingFace(single + "/model.safetensors");
  ASSERT_TRUE(model) << model.message();
  EXPECT_EQ((*model)->config.weightDType, DType::F16);

  std::string sharded = writeTiny("paths-sharded", DType::F16, 700);
  model = loadHuggingFace(sharded + "/model.safetensors.index.json");
  ASSERT_TRUE(model) << model.message();
  EXPECT_EQ((*model)->weights.size(), expectedTensors((*model)->config).size());
}

TEST(HuggingFace, TiedEmbeddingsSkipAnExtraHead) {
  std::string dir = writeTiny("tied", DType::F32, 0, /*tied=*/true);
  auto model = loadHuggingFace(dir);
  ASSERT_TRUE(model) << model.message();
  EXPECT_TRUE((*model)->config.tiedEmbeddings);
  EXPECT_FALSE((*model)->weights.contains("lm_head"));

  // An untied checkpoint whose config.json is switched to tied: its
  // lm_head.weight is ignored.
  dir = writeTiny("tied-extra", DType::F32);
  editFile(dir + "/config.json", "\"tie_word_embeddings\": false",
           "\"tie_word_embeddings\": true");
  model = loadHuggingFace(dir);
  ASSERT_TRUE(model) << model.message();
  EXPECT_FALSE((*model)->weights.contains("lm_head"));
}

TEST(HuggingFace, RopeScalingRoundTrips) {
  std::string dir = tempDir("rope");
  ModelConfig config = tinyConfig(DType::F32);
  config.ropeScaling.factor = 8.0f;
  config.ropeScaling.lowFreqFactor = 1.0f;
  config.ropeScaling.highFreqFactor = 4.0f;
  config.ropeScaling.originalMaxPositions = 16;
  Status s = writeHuggingFace(dir, config, {}, patternTensors(config));
  ASSERT_TRUE(s) << s.message();
  EXPECT_NE(::access((dir + "/tokenizer.json").c_str(), F_OK), 0);
  auto model = loadHuggingFace(dir);
  ASSERT_TRUE(model) << model.message();
  const RopeScaling &r = (*model)->config.ropeScaling;
  EXPECT_EQ(r.factor, 8.0f);
  EXPECT_EQ(r.lowFreqFactor, 1.0f);
  EXPECT_EQ(r.highFreqFactor, 4.0f);
  EXPECT_EQ(r.originalMaxPositions, 16);
  EXPECT_TRUE((*model)->tokenizer.empty());
}

TEST(HuggingFace, RewritingSingleOverShardedRemovesTheIndex) {
  std::string dir = writeTiny("rewrite", DType::F32, 1024);
  ModelConfig config = tinyConfig(DType::F32);
  Status s =
      writeHuggingFace(dir, config, tinyTokenizer(), patternTensors(config), 0);
  ASSERT_TRUE(s) << s.message();
  EXPECT_NE(::access((dir + "/model.safetensors.index.json").c_str(), F_OK), 0);
  auto model = loadHuggingFace(dir);
  ASSERT_TRUE(model) << model.message();
}

TEST(HuggingFace, ConfigJsonHasTheTransformersFields) {
  std::string dir = writeTiny("config-fields", DType::BF16);
  std::string text = readText(dir + "/config.json");
  for (const char *field :
       {"\"architectures\": [\n    \"LlamaForCausalLM\"\n  ]",
        "\"model_type\": \"llama\"", "\"hidden_size\": 8",
        "\"intermediate_size\": 16", "\"num_hidden_layers\": 2",
        "\"num_attention_heads\": 2", "\"num_key_value_heads\": 1",
        "\"head_dim\": 4", "\"rms_norm_eps\": 1e-05",
        "\"rope_theta\": 500000.0", "\"rope_scaling\": null",
        "\"tie_word_embeddings\": false", "\"vocab_size\": 8",
        "\"max_position_embeddings\": 32", "\"torch_dtype\": \"bfloat16\"",
        "\"bos_token_id\": 1", "\"eos_token_id\": 2"})
    EXPECT_TRUE(contains(text, field)) << field << " not in\n" << text;
  std::string tokenizerConfig = readText(dir + "/tokenizer_config.json");
  EXPECT_TRUE(contains(tokenizerConfig, "\"bos_token\": \"<s>\""));
  EXPECT_TRUE(contains(tokenizerConfig, "\"eos_token\": \"</s>\""));
}

TEST(HuggingFace, SkipsRotaryInvFreqAndPadsTheTokenizer) {
  // A checkpoint written by hand: Hugging Face names plus an inv_freq
  // buffer, and a tokenizer with fewer tokens than embedding rows.
  std::string dir = tempDir("invfreq");
  ModelConfig config = tinyConfig(DType::F32);
  std::vector<TensorSource> tensors = patternTensors(config);
  for (TensorSource &t : tensors)
    t.name = *hfNameOfCanonicalTensor(t.name);
  TensorSource invFreq;
  invFreq.name = "model.layers.1.self_attn.rotary_emb.inv_freq";
  invFreq.shape = {2};
  invFreq.fill = [](uint8_t *dst) {
    std::memset(dst, 0, 8);
    return Status::success();
  };
  tensors.push_back(invFreq);
  Status s = writeSafetensors(dir + "/model.safetensors", tensors, {});
  ASSERT_TRUE(s) << s.message();
  writeText(dir + "/config.json", llamaConfigJson(config, {}));
  TokenizerData tokenizer = tinyTokenizer();
  tokenizer.tokens.resize(6);
  tokenizer.types.resize(6);
  Expected<std::string> tokenizerJson = hfTokenizerJson(tokenizer);
  ASSERT_TRUE(tokenizerJson) << tokenizerJson.message();
  writeText(dir + "/tokenizer.json", *tokenizerJson);

  auto model = loadHuggingFace(dir);
  ASSERT_TRUE(model) << model.message();
  const TokenizerData &t = (*model)->tokenizer;
  ASSERT_EQ(t.tokens.size(), 8u);
  EXPECT_EQ(t.tokens[5], "b");
  EXPECT_EQ(t.tokens[6], "[PAD6]");
  EXPECT_EQ(t.tokens[7], "[PAD7]");
  EXPECT_EQ(t.types[7], int32_t(TokenType::Unused));
  // Without tokenizer_config.json, BOS/EOS are found by their pieces.
  EXPECT_EQ(t.bosId, 1);
  EXPECT_EQ(t.eosId, 2);
}

//===----------------------------------------------------------------------===//
// Names
//===----------------------------------------------------------------------===//

TEST(HuggingFace, TensorNamesMapBothWays) {
  struct Pair {
    const char *hf, *canonical;
  };
  for (Pair p :
       {Pair{"model.embed_tokens.weight", "tok_embed"},
        Pair{"model.norm.weight", "final_norm"},
        Pair{"lm_head.weight", "lm_head"},
        Pair{"model.layers.0.input_layernorm.weight", "blk0.attn_norm"},
        Pair{"model.layers.12.self_attn.q_proj.weight", "blk12.q_proj"},
        Pair{"model.layers.3.self_attn.k_proj.weight", "blk3.k_proj"},
        Pair{"model.layers.3.self_attn.v_proj.weight", "blk3.v_proj"},
        Pair{"model.layers.3.self_attn.o_proj.weight", "blk3.o_proj"},
        Pair{"model.layers.7.post_attention_layernorm.weight", "blk7.ffn_norm"},
        Pair{"model.layers.1.mlp.gate_proj.weight", "blk1.gate_proj"},
        Pair{"model.layers.1.mlp.up_proj.weight", "blk1.up_proj"},
        Pair{"model.layers.1.mlp.down_proj.weight", "blk1.down_proj"}}) {
    EXPECT_EQ(canonicalNameOfHFTensor(p.hf), std::string(p.canonical));
    EXPECT_EQ(hfNameOfCanonicalTensor(p.canonical), std::string(p.hf));
  }
  for (const char *bad :
       {"model.layers.01.mlp.up_proj.weight", "model.layers..mlp.up_proj",
        "model.layers.1.mlp.up_proj.bias", "model.layers.1",
        "model.layers.1234567890.mlp.up_proj.weight", "embed_tokens.weight",
        ""})
    EXPECT_FALSE(canonicalNameOfHFTensor(bad)) << bad;
  EXPECT_FALSE(hfNameOfCanonicalTensor("blk.0.q_proj"));
  EXPECT_FALSE(hfNameOfCanonicalTensor("blk0.wq"));
}

//===----------------------------------------------------------------------===//
// config.json
//===----------------------------------------------------------------------===//

const char *const kLlama31Config = R"({
  "architectures": ["LlamaForCausalLM"],
  "hidden_size": 4096,
  "intermediate_size": 14336,
  "num_hidden_layers": 32,
  "num_attention_heads": 32,
  "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05,
  "rope_theta": 500000.0,
  "rope_scaling": {
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
    "rope_type": "llama3"
  },
  "max_position_embeddings": 131072,
  "vocab_size": 128256,
  "torch_dtype": "bfloat16",
  "model_type": "llama"
})";

TEST(HuggingFace, Llama31ConfigParses) {
  auto config = parseLlamaConfigJson(kLlama31Config, "config.json");
  ASSERT_TRUE(config) << config.message();
  EXPECT_EQ(config->dim, 4096);
  EXPECT_EQ(config->hiddenDim, 14336);
  EXPECT_EQ(config->numLayers, 32);
  EXPECT_EQ(config->numHeads, 32);
  EXPECT_EQ(config->numKvHeads, 8);
  EXPECT_EQ(config->headDim, 128); // 4096 / 32
  EXPECT_EQ(config->vocabSize, 128256);
  EXPECT_EQ(config->maxSeqLen, 131072);
  EXPECT_EQ(config->normEps, 1e-5f);
  EXPECT_EQ(config->ropeTheta, 500000.0f);
  EXPECT_FALSE(config->tiedEmbeddings);
  EXPECT_EQ(config->weightDType, DType::BF16);
  EXPECT_EQ(config->ropeLayout, RopeLayout::RotateHalf);
  EXPECT_EQ(config->ropeScaling.factor, 8.0f);
  EXPECT_EQ(config->ropeScaling.lowFreqFactor, 1.0f);
  EXPECT_EQ(config->ropeScaling.highFreqFactor, 4.0f);
  EXPECT_EQ(config->ropeScaling.originalMaxPositions, 8192);
}

TEST(HuggingFace, ConfigDefaults) {
  // Llama 2 style: no kv heads, head_dim, rope_theta or tying; old "type".
  auto config = parseLlamaConfigJson(R"({
    "model_type": "llama", "hidden_size": 64, "intermediate_size": 172,
    "num_hidden_layers": 2, "num_attention_heads": 4, "rms_norm_eps": 1e-6,
    "vocab_size": 32, "max_position_embeddings": 128, "head_dim": null,
    "rope_scaling": {"type": "default"}})",
                                     "config.json");
  ASSERT_TRUE(config) << config.message();
  EXPECT_EQ(config->numKvHeads, 4);
  EXPECT_EQ(config->headDim, 16);
  EXPECT_EQ(config->ropeTheta, 10000.0f);
  EXPECT_FALSE(config->tiedEmbeddings);
  EXPECT_FALSE(config->ropeScaling.enabled());
  EXPECT_EQ(config->weightDType, DType::F32);
}

std::string configError(const std::string &from, const std::string &to) {
  std::string text = kLlama31Config;
  size_t pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos)
    text.replace(pos, from.size(), to);
  auto config = parseLlamaConfigJson(text, "/m/config.json");
  EXPECT_FALSE(config) << "parsed with " << to;
  return config ? "" : config.message();
}

TEST(HuggingFace, ConfigErrorsNameTheFileAndKey) {
  EXPECT_EQ(configError("\"hidden_size\": 4096,", ""),
            "/m/config.json: missing required key 'hidden_size'");
  EXPECT_EQ(configError("\"hidden_size\": 4096", "\"hidden_size\": \"4096\""),
            "/m/config.json: key 'hidden_size' must be an integer, not "
            "\"4096\"");
  EXPECT_EQ(configError("\"hidden_size\": 4096", "\"hidden_size\": 4096.5"),
            "/m/config.json: key 'hidden_size' must be an integer, not 4096.5");
  EXPECT_EQ(configError("\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": []"),
            "/m/config.json: key 'rms_norm_eps' must be a number, not []");
  EXPECT_EQ(configError("\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": 1e300"),
            "/m/config.json: key 'rms_norm_eps' = 1e+300 is out of the 32-bit "
            "float range");
  EXPECT_EQ(configError("\"rope_type\": \"llama3\"", "\"rope_type\": \"yarn\""),
            "/m/config.json: rope_scaling type 'yarn' is not supported (only "
            "'llama3' and 'default')");
  EXPECT_EQ(configError("\"factor\": 8.0,", ""),
            "/m/config.json: missing required key 'rope_scaling.factor'");
  EXPECT_EQ(configError("\"rope_scaling\": {", "\"rope_scaling\": 3, \"x\": {"),
            "/m/config.json: key 'rope_scaling' must be null or an object, "
            "not 3");
  EXPECT_TRUE(contains(
      configError("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 7"),
      "is not a multiple of n_kv_heads"));
  EXPECT_TRUE(contains(configError("\"hidden_size\": 4096",
                                   "\"hidden_size\": 18446744073709551615"),
                       "key 'hidden_size' = 18446744073709551615 is out of "
                       "range"));
}

TEST(HuggingFace, ConfigRejectsOtherArchitectures) {
  // Either architectures or model_type "llama" suffices: change both.
  std::string text = kLlama31Config;
  text.replace(text.find("[\"LlamaForCausalLM\"]"), 20,
               "[\"MistralForCausalLM\"]");
  text.replace(text.find("\"model_type\": \"llama\""), 21,
               "\"model_type\": \"mistral\"");
  auto config = parseLlamaConfigJson(text, "config.json");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.message(),
            "config.json: not a Llama model: architectures "
            "[\"MistralForCausalLM\"], model_type 'mistral' (mixq reads "
            "LlamaForCausalLM checkpoints)");
  EXPECT_EQ(configError("\"hidden_size\"", "\"hidden_act\": \"gelu\", "
                                           "\"hidden_size\""),
            "/m/config.json: hidden_act 'gelu' is not supported (Llama uses "
            "silu)");
  EXPECT_EQ(configError("\"hidden_size\"", "\"attention_bias\": true, "
                                           "\"hidden_size\""),
            "/m/config.json: attention_bias = true is not supported (Llama "
            "has no biases)");
  auto notJson = parseLlamaConfigJson("{\"a\":", "c.json");
  ASSERT_FALSE(notJson);
  EXPECT_EQ(notJson.message(), "c.json: not valid JSON");
  auto notObject = parseLlamaConfigJson("[1]", "c.json");
  ASSERT_FALSE(notObject);
  EXPECT_EQ(notObject.message(), "c.json: must be a JSON object, not [1]");
}

//===----------------------------------------------------------------------===//
// Load errors
//===----------------------------------------------------------------------===//

TEST(HuggingFace, ConfigMissingHiddenSizeFailsTheLoad) {
  std::string dir = writeTiny("no-hidden", DType::F32);
  editFile(dir + "/config.json", "\"hidden_size\": 8,", "");
  EXPECT_EQ(loadError(dir),
            dir + "/config.json: missing required key 'hidden_size'");
}

TEST(HuggingFace, YarnRopeScalingFailsTheLoad) {
  std::string dir = writeTiny("yarn", DType::F32);
  editFile(dir + "/config.json", "\"rope_scaling\": null",
           "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}");
  EXPECT_TRUE(contains(loadError(dir), "rope_scaling type 'yarn'"));
}

TEST(HuggingFace, MissingTensorIsNamed) {
  std::string dir = tempDir("missing");
  ModelConfig config = tinyConfig(DType::F32);
  std::vector<TensorSource> tensors = patternTensors(config);
  tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                               [](const TensorSource &t) {
                                 return t.name == "blk1.up_proj";
                               }),
                tensors.end());
  Status s = writeHuggingFace(dir, config, {}, tensors);
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(loadError(dir),
            dir + ": missing tensor 'blk1.up_proj' (expected shape [16, 8])");
}

TEST(HuggingFace, ShapeContradictingTheConfig) {
  std::string dir = writeTiny("shape", DType::F32);
  editFile(dir + "/config.json", "\"intermediate_size\": 16",
           "\"intermediate_size\": 12");
  EXPECT_EQ(loadError(dir), dir + ": tensor 'blk0.gate_proj' has shape "
                                  "[16, 8] but the config implies [12, 8]");
}

TEST(HuggingFace, UnknownTensorIsNamed) {
  std::string dir = tempDir("unknown");
  ModelConfig config = tinyConfig(DType::F32);
  std::vector<TensorSource> tensors = patternTensors(config);
  for (TensorSource &t : tensors)
    t.name = *hfNameOfCanonicalTensor(t.name);
  tensors[1].name = "model.layers.0.self_attn.q_norm.weight";
  ASSERT_TRUE(writeSafetensors(dir + "/model.safetensors", tensors, {}));
  writeText(dir + "/config.json", llamaConfigJson(config, {}));
  EXPECT_EQ(loadError(dir), dir + "/model.safetensors: unknown tensor "
                                  "'model.layers.0.self_attn.q_norm.weight' "
                                  "(not a weight of LlamaForCausalLM)");

  tensors[1].name = "model.layers.2.input_layernorm.weight";
  ASSERT_TRUE(writeSafetensors(dir + "/model.safetensors", tensors, {}));
  EXPECT_EQ(loadError(dir), dir + "/model.safetensors: tensor "
                                  "'model.layers.2.input_layernorm.weight' "
                                  "is for layer 2 but config.json has 2 "
                                  "layers");
}

TEST(HuggingFace, IndexPointingAtAMissingShard) {
  std::string dir = writeTiny("missing-shard", DType::F32, 1024);
  std::string shard = dir + "/model-00002-of-00006.safetensors";
  ASSERT_EQ(::access(shard.c_str(), F_OK), 0) << "expected 6 shards";
  std::remove(shard.c_str());
  std::string error = loadError(dir);
  EXPECT_TRUE(contains(error, dir + "/model.safetensors.index.json: tensor '"))
      << error;
  EXPECT_TRUE(contains(error, "is mapped to a shard that cannot be read: " +
                                  shard + ": cannot open"))
      << error;
}

TEST(HuggingFace, IndexNamingATensorItsShardLacks) {
  std::string dir = writeTiny("wrong-shard", DType::F32, 1024);
  std::string index = dir + "/model.safetensors.index.json";
  // The embedding is the first tensor, so it is in the first shard.
  editFile(index,
           "\"model.embed_tokens.weight\": \"model-00001-of-00006."
           "safetensors\"",
           "\"model.embed_tokens.weight\": \"model-00006-of-00006."
           "safetensors\"");
  EXPECT_EQ(loadError(dir), index +
                                ": tensor 'model.embed_tokens.weight' is "
                                "mapped to shard " +
                                dir +
                                "/model-00006-of-00006.safetensors, which "
                                "does not contain it");
  editFile(index, "\"model-00006-of-00006.safetensors\"",
           "\"../model.safetensors\"");
  EXPECT_TRUE(contains(loadError(dir), "names shard '../model.safetensors', "
                                       "which is not a file name in the "
                                       "index's folder"));
}

TEST(HuggingFace, MissingFilesAreNamed) {
  EXPECT_EQ(loadError("/nonexistent/mixq-model"),
            "/nonexistent/mixq-model: no such file or folder");
  std::string dir = tempDir("empty");
  EXPECT_EQ(loadError(dir), dir + ": a Hugging Face folder needs "
                                  "model.safetensors or "
                                  "model.safetensors.index.json");
  std::string noConfig = writeTiny("no-config", DType::F32);
  std::remove((noConfig + "/config.json").c_str());
  EXPECT_EQ(loadError(noConfig), noConfig + ": no config.json in " + noConfig);
}

TEST(HuggingFace, CorruptSafetensorsIsReported) {
  std::string dir = writeTiny("corrupt", DType::F32);
  std::string path = dir + "/model.safetensors";
  fs::resize_file(path, 100);
  EXPECT_TRUE(contains(loadError(dir), path + ": truncated"));
}

//===----------------------------------------------------------------------===//
// Writer errors
//===----------------------------------------------------------------------===//

TEST(HuggingFace, WriterRejectsInterleavedRowsAndUnknownNames) {
  ModelConfig config = tinyConfig(DType::F32);
  config.ropeLayout = RopeLayout::Interleaved;
  Status s = writeHuggingFace(tempDir("interleaved"), config, {},
                              patternTensors(config));
  ASSERT_FALSE(s);
  EXPECT_TRUE(contains(s.message(), "rotate-half")) << s.message();

  config.ropeLayout = RopeLayout::RotateHalf;
  std::vector<TensorSource> tensors = patternTensors(config);
  tensors[0].name = "blk0.wq";
  std::string dir = tempDir("badname");
  s = writeHuggingFace(dir, config, {}, tensors);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message(),
            dir + ": tensor 'blk0.wq' has no Hugging Face Llama name");

  TokenizerData duplicate = tinyTokenizer();
  duplicate.tokens[5] = duplicate.tokens[4];
  s = writeHuggingFace(dir, config, duplicate, patternTensors(config));
  ASSERT_FALSE(s);
  EXPECT_TRUE(contains(s.message(), "appears twice (ids 4 and 5)"))
      << s.message();
}

TEST(HuggingFace, WriterCannotCreateTheFolder) {
  std::string file = tempDir("not-a-dir") + "/file";
  writeText(file, "x");
  ModelConfig config = tinyConfig(DType::F32);
  Status s =
      writeHuggingFace(file + "/model", config, {}, patternTensors(config));
  ASSERT_FALSE(s);
  EXPECT_TRUE(contains(s.message(), file + "/model: cannot create the folder"))
      << s.message();
}

//===----------------------------------------------------------------------===//
// tokenizer.json
//===----------------------------------------------------------------------===//

TEST(HuggingFace, Llama3StyleTokenizerJson) {
  // Byte-level BPE (no byte_fallback): the special tokens are only in
  // added_tokens, after the vocabulary.
  const char *tokenizer = R"({
    "added_tokens": [
      {"id": 4, "content": "<|begin_of_text|>", "special": true},
      {"id": 5, "content": "<|end_of_text|>", "special": true},
      {"id": 6, "content": "<|eot_id|>", "special": true}
    ],
    "model": {"type": "BPE", "byte_fallback": false,
              "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120the": 3},
              "merges": ["a b"]}})";
  const char *config = R"({"bos_token": "<|begin_of_text|>",
                           "eos_token": {"content": "<|eot_id|>",
                                         "special": true}})";
  auto t = parseHFTokenizerJson(tokenizer, "tokenizer.json", config,
                                "tokenizer_config.json");
  ASSERT_TRUE(t) << t.message();
  EXPECT_EQ(t->model, "gpt2");
  EXPECT_EQ(t->tokens, std::vector<std::string>(
                           {"a", "b", "ab", "\xC4\xA0the", "<|begin_of_text|>",
                            "<|end_of_text|>", "<|eot_id|>"}));
  int32_t normal = int32_t(TokenType::Normal),
          control = int32_t(TokenType::Control);
  EXPECT_EQ(t->types, std::vector<int32_t>({normal, normal, normal, normal,
                                            control, control, control}));
  EXPECT_EQ(t->bosId, 4);
  EXPECT_EQ(t->eosId, 6);
  EXPECT_EQ(t->scores[3], -3.0f);

  // Without tokenizer_config.json: the Llama 3 pieces.
  t = parseHFTokenizerJson(tokenizer, "tokenizer.json", "", "");
  ASSERT_TRUE(t) << t.message();
  EXPECT_EQ(t->bosId, 4);
  EXPECT_EQ(t->eosId, 5);
}

TEST(HuggingFace, Llama2StyleTokenizerJson) {
  // SentencePiece converted: specials both in the vocabulary and in
  // added_tokens, byte pieces, unk_token.
  const char *tokenizer = R"({
    "added_tokens": [
      {"id": 0, "content": "<unk>", "special": true},
      {"id": 1, "content": "<s>", "special": true},
      {"id": 2, "content": "</s>", "special": true}
    ],
    "model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>",
              "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x00>": 3,
                        "<0xFF>": 4, "\u2581t": 5, "<0xGG>": 6},
              "merges": []}})";
  auto t = parseHFTokenizerJson(tokenizer, "tokenizer.json", "", "");
  ASSERT_TRUE(t) << t.message();
  EXPECT_EQ(t->model, "llama");
  int32_t byte = int32_t(TokenType::Byte), normal = int32_t(TokenType::Normal);
  EXPECT_EQ(t->types,
            std::vector<int32_t>(
                {int32_t(TokenType::Unknown), int32_t(TokenType::Control),
                 int32_t(TokenType::Control), byte, byte, normal, normal}));
  EXPECT_EQ(t->bosId, 1);
  EXPECT_EQ(t->eosId, 2);
}

std::string tokenizerError(const std::string &vocab,
                           const std::string &added = "[]",
                           const std::string &config = "") {
  std::string text = "{\"added_tokens\": " + added +
                     ", \"model\": {\"type\": \"BPE\", \"vocab\": " + vocab +
                     "}}";
  auto t = parseHFTokenizerJson(text, "tok.json", config, "tok_config.json");
  EXPECT_FALSE(t) << vocab;
  return t ? "" : t.message();
}

TEST(HuggingFace, TokenizerJsonErrors) {
  EXPECT_EQ(tokenizerError(R"({"a": 0, "b": 2})"),
            "tok.json: token 'b' has id 2, which leaves gaps in ids 0..1");
  EXPECT_EQ(tokenizerError(R"({"a": 0, "b": 0})"),
            "tok.json: tokens 'a' and 'b' both have id 0");
  EXPECT_EQ(tokenizerError(R"({"a": 0})", R"([{"id": 0, "content": "x"}])"),
            "tok.json: tokens 'a' and 'x' both have id 0");
  EXPECT_EQ(tokenizerError(R"({"a": 0, "b": 2, "c": 3})",
                           R"([{"id": 3, "content": "c"}])"),
            "tok.json: no token has id 1 (the ids must be 0..3 without gaps)");
  EXPECT_EQ(tokenizerError(R"({"a": -1})"),
            "tok.json: token 'a' has id -1, which leaves gaps in ids 0..0");
  EXPECT_EQ(tokenizerError(R"({"a": "0"})"),
            "tok.json: model.vocab entry 'a' must have an integer id, not "
            "\"0\"");
  EXPECT_EQ(tokenizerError(R"({"a": 0})", R"([{"content": "x"}])"),
            "tok.json: missing required key 'added_tokens[].id'");
  EXPECT_EQ(tokenizerError(R"({"a": 0})", "[]", R"({"bos_token": "<s>"})"),
            "tok_config.json: bos_token '<s>' is not in the vocabulary");
  EXPECT_EQ(tokenizerError(R"({"a": 0})", "[]", R"({"eos_token": 5})"),
            "tok_config.json: key 'eos_token' must be a string or an object "
            "with a string 'content', not 5");
  auto unigram = parseHFTokenizerJson(
      R"({"model": {"type": "Unigram", "vocab": []}})", "tok.json", "", "");
  ASSERT_FALSE(unigram);
  EXPECT_EQ(unigram.message(),
            "tok.json: tokenizer model type 'Unigram' is not supported (only "
            "BPE)");
}

TEST(HuggingFace, TokenizerJsonFallbackWhenNoTokenizerModel) {
  // A folder with tokenizer.json only (as written by the writer) and one
  // whose tokenizer_config.json names other BOS/EOS tokens.
  std::string dir = writeTiny("tokjson", DType::F32);
  writeText(dir + "/tokenizer_config.json",
            R"({"bos_token": {"content": "[X]"}, "eos_token": "<0x41>"})");
  auto model = loadHuggingFace(dir);
  ASSERT_TRUE(model) << model.message();
  EXPECT_EQ((*model)->tokenizer.bosId, 6);
  EXPECT_EQ((*model)->tokenizer.eosId, 3);
  EXPECT_EQ((*model)->tokenizer.tokens.size(), 8u);
}

//===----------------------------------------------------------------------===//
// tokenizer.model (SentencePiece)
//===----------------------------------------------------------------------===//

/// Protocol buffer encoding, enough for a SentencePiece ModelProto.
void appendVarint(std::string &out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(char(0x80 | (value & 0x7F)));
    value >>= 7;
  }
  out.push_back(char(value));
}
void appendTag(std::string &out, int field, int wireType) {
  appendVarint(out, uint64_t(field) << 3 | wireType);
}
void appendBytes(std::string &out, int field, const std::string &bytes) {
  appendTag(out, field, 2);
  appendVarint(out, bytes.size());
  out += bytes;
}
void appendVarintField(std::string &out, int field, uint64_t value) {
  appendTag(out, field, 0);
  appendVarint(out, value);
}

/// A ModelProto (sentencepiece_model.proto): pieces (field 1: piece 1,
/// score 2 as a float, type 3), trainer_spec (field 2: model_type 3 = BPE
/// (2), byte_fallback 35), an empty normalizer_spec (field 3). The pieces:
/// "<unk>" (UNKNOWN), "<s>", "</s>" (CONTROL), then with `bytes` the 256
/// byte pieces (BYTE; SentencePiece wants all of them with byte_fallback),
/// else "d" (NORMAL), then "\u2581a", "b" (NORMAL), "[X]" (USER_DEFINED),
/// "c" (UNUSED).
std::string sentencePieceModel(bool bytes) {
  struct Piece {
    std::string text;
    float score;
    int type; // NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5,
              // BYTE 6
  };
  std::vector<Piece> pieces = {{"<unk>", 0, 2}, {"<s>", 0, 3}, {"</s>", 0, 3}};
  if (bytes) {
    for (int b = 0; b < 256; ++b) {
      char text[8];
      std::snprintf(text, sizeof(text), "<0x%02X>", b);
      pieces.push_back({text, 0, 6});
    }
  } else {
    pieces.push_back({"d", -0.5f, 1});
  }
  pieces.push_back({"\xE2\x96\x81"
                    "a",
                    -1.5f, 1});
  pieces.push_back({"b", -2.5f, 1});
  pieces.push_back({"[X]", 0, 4});
  pieces.push_back({"c", -3.5f, 5});
  std::string model;
  for (const Piece &p : pieces) {
    std::string message;
    appendBytes(message, 1, p.text);
    appendTag(message, 2, 5);
    char score[4];
    std::memcpy(score, &p.score, 4);
    message.append(score, 4);
    appendVarintField(message, 3, uint64_t(p.type));
    appendBytes(model, 1, message);
  }
  std::string trainer;
  appendVarintField(trainer, 3, 2);
  appendVarintField(trainer, 35, bytes ? 1 : 0);
  appendBytes(model, 2, trainer);
  appendBytes(model, 3, "");
  return model;
}

TEST(HuggingFace, TokenizerModelWinsOverTokenizerJson) {
  if (!sentencePieceAvailable())
    GTEST_SKIP() << "built without SentencePiece; tokenizer.model is skipped";
  std::string dir = writeTiny("spm", DType::F32);
  writeText(dir + "/tokenizer.model", sentencePieceModel(false));
  auto model = loadHuggingFace(dir);
  ASSERT_TRUE(model) << model.message();
  const TokenizerData &t = (*model)->tokenizer;
  EXPECT_EQ(t.model, "llama");
  ASSERT_EQ(t.tokens.size(), 8u);
  EXPECT_EQ(t.tokens[3], "d");
  EXPECT_EQ(t.tokens[4], "\xE2\x96\x81"
                         "a");
  EXPECT_EQ(t.tokens[7], "c");
  EXPECT_EQ(t.scores[3], -0.5f);
  EXPECT_EQ(t.scores[4], -1.5f);
  EXPECT_EQ(t.scores[7], -3.5f);
  // SentencePiece reports user-defined pieces as none of unknown, control,
  // unused or byte, so they read as Normal.
  int32_t normal = int32_t(TokenType::Normal);
  EXPECT_EQ(t.types,
            std::vector<int32_t>({int32_t(TokenType::Unknown),
                                  int32_t(TokenType::Control),
                                  int32_t(TokenType::Control), normal, normal,
                                  normal, normal, int32_t(TokenType::Unused)}));
  EXPECT_EQ(t.bosId, 1);
  EXPECT_EQ(t.eosId, 2);

  writeText(dir + "/tokenizer.model", "not a protobuf");
  EXPECT_TRUE(contains(loadError(dir), dir + "/tokenizer.model: not a valid "
                                             "SentencePiece model"));
}

TEST(HuggingFace, SentencePieceBytePieces) {
  if (!sentencePieceAvailable())
    GTEST_SKIP() << "built without SentencePiece; tokenizer.model is skipped";
  std::string path = tempDir("spm-bytes") + "/tokenizer.model";
  writeText(path, sentencePieceModel(true));
  auto t = loadSentencePieceModel(path);
  ASSERT_TRUE(t) << t.message();
  ASSERT_EQ(t->tokens.size(), 3u + 256u + 4u);
  EXPECT_EQ(t->tokens[3], "<0x00>");
  EXPECT_EQ(t->tokens[3 + 0x41], "<0x41>");
  EXPECT_EQ(t->types[3], int32_t(TokenType::Byte));
  EXPECT_EQ(t->types[258], int32_t(TokenType::Byte));
  EXPECT_EQ(t->types[259], int32_t(TokenType::Normal));
  EXPECT_EQ(t->bosId, 1);
  EXPECT_EQ(t->eosId, 2);
}

} // namespace
