//===- BenchTestPackage.h - a small package for mixq-bench tests -*- C++ -*-//
//
// A hand-written package (PackageWriter): embed, a 4x4 affine matmul,
// attention over two caches, an 8x4 mixed matmul sharing the first
// matmul's kernel, and the tied logits; vocabulary 8, context 16. With
// `cuda`, also a targets.cuda section with fake PTX (for fake drivers).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_TEST_UNIT_TOOLS_BENCHTESTPACKAGE_H
#define MIXQ_TEST_UNIT_TOOLS_BENCHTESTPACKAGE_H

#include "runtime/Package.h"
#include "runtime/Plan.h"

#include <gtest/gtest.h>

#include <string>
#include <unistd.h>
#include <vector>

namespace mixq::bench::test {

using json = nlohmann::json;
using namespace mixq::runtime;

inline json binding(const std::string &blob, const std::string &dtype,
                    std::vector<int64_t> shape) {
  return {{"weight", blob}, {"dtype", dtype}, {"shape", shape}};
}

inline json buffer(int64_t i) { return {{"buffer", i}}; }

inline json planJson(int64_t tokens) {
  json embed = binding("tok_embed", "f32", {8, 4});
  return {{"inputs", {{"tokens", {{"dtype", "i32"}, {"shape", {tokens}}}}}},
          {"caches",
           {{{"dtype", "f32"}, {"shape", {16, 4}}},
            {{"dtype", "f32"}, {"shape", {16, 4}}}}},
          {"buffers",
           {{{"dtype", "f32"}, {"shape", {tokens, 4}}},
            {{"dtype", "f32"}, {"shape", {tokens, 4}}},
            {{"dtype", "f32"}, {"shape", {tokens, 8}}},
            {{"dtype", "f32"}, {"shape", {tokens, 4}}},
            {{"dtype", "f32"}, {"shape", {1, 8}}}}},
          {"steps",
           {{{"kernel", "decode_k0_embed"},
             {"args", {embed, {{"tokens", true}}, buffer(0)}}},
            {{"kernel", "decode_k1_matmul"},
             {"args",
              {buffer(0), binding("blk0.q_proj:codes", "i32", {4, 1}),
               binding("blk0.q_proj:scales", "f16", {4, 1}),
               binding("blk0.q_proj:zeros", "f16", {4, 1}), buffer(1)}}},
            {{"kernel", "decode_k2_attention"},
             {"args",
              {buffer(1),
               buffer(0),
               buffer(0),
               {{"cache", 0}},
               {{"cache", 1}},
               {{"start_pos", true}},
               buffer(3)}}},
            {{"kernel", "decode_k1_matmul"},
             {"args",
              {buffer(3), binding("blk0.up_proj:low_codes", "i32", {8, 1}),
               buffer(2)}}},
            {{"kernel", "decode_k4_logits"},
             {"args", {buffer(2), embed, buffer(4)}}}}},
          {"logits", buffer(4)}};
}

inline json weightJson(const std::string &name, std::vector<int64_t> shape,
                       const std::string &scheme, json components) {
  return {{"name", name},
          {"shape", shape},
          {"scheme", scheme},
          {"components", components}};
}

inline json componentJson(const std::string &name, const std::string &blob,
                          const std::string &dtype,
                          std::vector<int64_t> shape) {
  return {{"name", name}, {"blob", blob}, {"dtype", dtype}, {"shape", shape}};
}

inline json manifestJson() {
  json m;
  m["model"] = {{"vocab_size", 8},
                {"max_seq_len", 16},
                {"source", "/models/tiny-model.gguf"}};
  json up = weightJson(
      "blk0.up_proj", {8, 4}, "#mixq.mixed<group = 4>",
      {componentJson("low_codes", "blk0.up_proj:low_codes", "i32", {8, 1})});
  up["bits_per_weight"] = 3.0;
  json embed = weightJson("tok_embed", {8, 4}, "none",
                          {componentJson("data", "tok_embed", "f32", {8, 4})});
  embed["dtype"] = "f32";
  m["weights"] = {
      embed,
      weightJson("blk0.q_proj", {4, 4}, "#mixq.affine<bits = 4, group = 4>",
                 {componentJson("codes", "blk0.q_proj:codes", "i32", {4, 1}),
                  componentJson("scales", "blk0.q_proj:scales", "f16", {4, 1}),
                  componentJson("zeros", "blk0.q_proj:zeros", "f16", {4, 1})}),
      up};
  m["plan"] = {{"prefill", planJson(-1)}, {"decode", planJson(1)}};
  return m;
}

/// targets.cuda for the plan's four kernels (fake PTX in cuda/sm_90.ptx):
/// one block of 128 threads per token, or per output for the matmuls.
inline json cudaTarget() {
  auto kernel = [](const std::string &name, int64_t count, int64_t perBlock) {
    return json{{"name", name},
                {"entry", name},
                {"block", {128, 1, 1}},
                {"grid",
                 {{{"count", count}, {"tokens_per_block", perBlock}},
                  {{"count", 1}, {"tokens_per_block", 0}},
                  {{"count", 1}, {"tokens_per_block", 0}}}}};
  };
  return {{"abi", "mixq-cuda-1"},
          {"ptx", {{"sm_90", "cuda/sm_90.ptx"}}},
          {"kernels",
           {kernel("decode_k0_embed", 1, 1), kernel("decode_k1_matmul", 2, 0),
            kernel("decode_k2_attention", 1, 1),
            kernel("decode_k4_logits", 2, 0)}}};
}

inline runtime::Package writePackage(const json &manifest) {
  PackageWriter writer;
  for (auto [name, size] : std::vector<std::pair<std::string, size_t>>{
           {"tok_embed", 128},
           {"blk0.q_proj:codes", 16},
           {"blk0.q_proj:scales", 8},
           {"blk0.q_proj:zeros", 8},
           {"blk0.up_proj:low_codes", 32},
           {"blk0.attn_norm", 16}})
    EXPECT_TRUE(writer.addBlob(name, std::vector<uint8_t>(size, 1)).ok());
  std::string ptx = ".version 8.0\n.target sm_90\n";
  if (manifest.value("targets", json::object()).contains("cuda"))
    EXPECT_TRUE(writer
                    .addBlob("cuda/sm_90.ptx",
                             std::vector<uint8_t>(ptx.begin(), ptx.end()))
                    .ok());
  static int counter = 0;
  std::string path = ::testing::TempDir() + "/mixq-bench-test-" +
                     std::to_string(::getpid()) + "-" +
                     std::to_string(counter++) + ".mixq";
  Status s = writer.write(path, manifest);
  EXPECT_TRUE(s.ok()) << s.message();
  auto package = Package::open(path);
  ::unlink(path.c_str());
  EXPECT_TRUE(package.ok()) << package.message();
  return package.take();
}

inline runtime::PackagePlans parsePlans(const runtime::Package &package) {
  auto plans =
      parsePackagePlans(package, [](const std::string &, const std::string &) {
        return Status::success();
      });
  EXPECT_TRUE(plans.ok()) << plans.message();
  return plans.take();
}

} // namespace mixq::bench::test

#endif // MIXQ_TEST_UNIT_TOOLS_BENCHTESTPACKAGE_H
