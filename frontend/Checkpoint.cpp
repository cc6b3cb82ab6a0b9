//===- Checkpoint.cpp - Format detection ----------------------------------===//

#include "frontend/Checkpoint.h"

#include <cstring>
#include <sys/stat.h>

using namespace mixq;

namespace {

bool isDirectory(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool endsWith(const std::string &s, const char *suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

/// The first four bytes of `path`, or an error naming it.
Expected<std::string> readMagic(const std::string &path) {
  auto file = MappedFile::open(path);
  if (!file)
    return file.status();
  uint64_t n = (*file)->size() < 4 ? (*file)->size() : 4;
  return std::string(reinterpret_cast<const char *>((*file)->data()), n);
}

} // namespace

Expected<std::unique_ptr<Model>>
mixq::loadCheckpoint(const std::string &path, const LoadOptions &options) {
  Expected<std::unique_ptr<Model>> model =
      [&]() -> Expected<std::unique_ptr<Model>> {
    if (isDirectory(path) || endsWith(path, ".safetensors") ||
        endsWith(path, ".safetensors.index.json"))
      return loadHuggingFace(path);
    auto magic = readMagic(path);
    if (!magic)
      return magic.status();
    if (*magic == "GGUF")
      return loadGGUF(path);
    if (endsWith(path, ".gguf"))
      return makeError(path, ": not a GGUF file (magic is not 'GGUF')");
    return loadLlama2c(path, options.tokenizerPath);
  }();
  if (!model)
    return model;
  if (!options.tokenizerPath.empty() && (*model)->format != "llama2c")
    if (Status s = loadLlama2cTokenizer(options.tokenizerPath,
                                        (*model)->config.vocabSize,
                                        (*model)->tokenizer);
        !s)
      return s;
  if (options.maxSeqLenOverride > 0)
    (*model)->config.maxSeqLen = options.maxSeqLenOverride;
  return model;
}
