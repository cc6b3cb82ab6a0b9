//===- FuzzGGUF.cpp - libFuzzer target: GGUF parsing and llama import -----===//
//
// Feeds arbitrary bytes to parseGGUF() and, when they parse, to every
// metadata accessor and to interpretGGUFLlama(), the loader's logic short of
// mapping a file. Besides "no crash, no out-of-bounds access, no huge
// allocation", it checks the loader's invariants: every placement lies
// inside the input and has the byte size its dtype and shape imply, and a
// model built from the placements passes validateModel(), as loadGGUF()
// requires. A broken invariant traps, so libFuzzer reports the input.
//===----------------------------------------------------------------------===//

#include "frontend/GGUF.h"
#include "frontend/ModelConfig.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

using namespace mixq;

namespace {

/// Calls every typed accessor on `key`; each must fail cleanly or succeed.
void exerciseAccessors(const GGUFFile &file, const GGUFKeyValue &entry) {
  const std::string &key = entry.key;
  (void)file.getString(key);
  (void)file.getU64(key);
  (void)file.getU32(key);
  (void)file.getI64(key);
  (void)file.getI32(key);
  (void)file.getF64(key);
  (void)file.getF32(key);
  (void)file.getBool(key);
  (void)file.getArray(key);
  (void)file.getStringArray(key);
  (void)file.getF32Array(key);
  (void)file.getI64Array(key);
  (void)entry.value.describe();
  (void)entry.value.asInt64();
  (void)entry.value.asUInt64();
  if (entry.value.type == GGUFType::Array)
    for (uint64_t i = 0; i < std::min<uint64_t>(entry.value.length, 16); ++i)
      (void)entry.value.fixedElement(i).asInt64();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto file = parseGGUF(data, size, "fuzz.gguf");
  if (!file)
    return 0;
  for (const GGUFKeyValue &entry : file->metadata)
    exerciseAccessors(*file, entry);

  // The parser promises every tensor lies inside the input: touch the first
  // and last byte so that ASan checks it.
  volatile uint8_t sink = 0;
  for (const GGUFTensorInfo &tensor : file->tensors) {
    if (!ggmlTypeInfo(tensor.ggmlType))
      __builtin_trap();
    (void)tensor.shape();
    if (tensor.byteSize != 0) {
      sink = sink + file->tensorData(tensor)[0];
      sink = sink + file->tensorData(tensor)[tensor.byteSize - 1];
    }
  }

  auto llama = interpretGGUFLlama(*file);
  if (!llama)
    return 0;
  Model model;
  model.config = llama->config;
  model.tokenizer = llama->tokenizer;
  model.source = "fuzz.gguf";
  model.format = "gguf";
  for (const GGUFTensorPlacement &t : llama->tensors) {
    if (t.fileOffset > size || t.byteSize > size - t.fileOffset)
      __builtin_trap();
    std::vector<uint8_t> bytes(data + t.fileOffset,
                               data + t.fileOffset + t.byteSize);
    // Fails only when the byte size contradicts dtype x shape, or a name
    // repeats: both are loader bugs.
    if (!model.weights.addOwnedTensor(t.canonicalName, t.dtype, t.shape,
                                      std::move(bytes)))
      __builtin_trap();
  }
  // interpretGGUFLlama() checked what validateModel() checks; a model it
  // accepts must pass.
  if (!validateModel(model))
    __builtin_trap();
  // Convert one row of each tensor, as the compiler's consumers do.
  std::vector<float> row;
  for (const TensorView *view : model.weights.tensors()) {
    row.resize(size_t(view->rowLength()));
    if (!readRowsAsF32(*view, 0, 1, row.data()))
      __builtin_trap();
  }
  return 0;
}
