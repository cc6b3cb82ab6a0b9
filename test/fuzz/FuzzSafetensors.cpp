//===- FuzzSafetensors.cpp - libFuzzer target for the Hugging Face parsers ===//
//
// Every input is parsed as a safetensors file; inputs that start with '{'
// are also parsed as config.json, model.safetensors.index.json and
// tokenizer.json (with itself as tokenizer_config.json). Parsers must
// return an error, never crash, read out of bounds or throw.
//===----------------------------------------------------------------------===//

#include "frontend/Safetensors.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mixq::Expected<mixq::SafetensorsHeader> header =
      mixq::parseSafetensors(data, size, "fuzz.safetensors");
  if (header) {
    // Touch every byte the parser vouched for, so that a range it got
    // wrong is an out-of-bounds read the sanitizer reports.
    unsigned sum = 0;
    for (const mixq::SafetensorsTensor &tensor : header->tensors)
      for (uint64_t i = 0; i < tensor.byteSize(); ++i)
        sum += data[tensor.fileOffset + i];
    volatile unsigned sink = sum;
    (void)sink;
  }

  if (size > 0 && data[0] == '{') {
    std::string text(reinterpret_cast<const char *>(data), size);
    mixq::Expected<mixq::ModelConfig> config =
        mixq::parseLlamaConfigJson(text, "config.json");
    if (config) {
      // What the parser accepted must print and parse back.
      std::string printed = mixq::llamaConfigJson(*config, {});
      mixq::Expected<mixq::ModelConfig> again =
          mixq::parseLlamaConfigJson(printed, "printed config.json");
      if (!again)
        __builtin_trap();
    }
    (void)mixq::parseSafetensorsIndex(text, "index.json");
    mixq::Expected<mixq::TokenizerData> tokenizer = mixq::parseHFTokenizerJson(
        text, "tokenizer.json", text, "tokenizer_config.json");
    if (tokenizer) {
      (void)mixq::hfTokenizerJson(*tokenizer);
      (void)mixq::hfTokenizerConfigJson(*tokenizer, mixq::ModelConfig());
    }
  }
  return 0;
}
