//===- WeightStore.cpp - Zero-copy named tensors over mapped files --------===//

#include "frontend/WeightStore.h"

#include "quant/FloatFormats.h"

#include <algorithm>
#include <sys/mman.h>
#include <unistd.h>
#include <cstring>
#include <limits>

using namespace mixq;

const char *mixq::dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "f32";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  case DType::I8:
    return "i8";
  case DType::U8:
    return "u8";
  case DType::I32:
    return "i32";
  }
  return "?";
}

unsigned mixq::dtypeSize(DType dtype) {
  switch (dtype) {
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::F16:
  case DType::BF16:
    return 2;
  case DType::I8:
  case DType::U8:
    return 1;
  }
  return 1;
}

bool mixq::isFloatDType(DType dtype) {
  return dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16;
}

int64_t TensorView::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

int64_t TensorView::numRows() const {
  if (shape.size() <= 1)
    return 1;
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i)
    rows *= shape[i];
  return rows;
}

int64_t TensorView::rowLength() const {
  return shape.empty() ? 1 : shape.back();
}

std::string mixq::formatShape(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Expected<int64_t> mixq::checkedNumElements(const std::vector<int64_t> &shape,
                                           const std::string &what) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return makeError(what, ": negative dimension in shape ",
                       formatShape(shape));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      return makeError(what, ": shape ", formatShape(shape),
                       " has more elements than fit in 64 bits");
    n *= d;
  }
  return n;
}

WeightStore::WeightStore() = default;
WeightStore::~WeightStore() = default;
WeightStore::WeightStore(WeightStore &&) noexcept = default;
WeightStore &WeightStore::operator=(WeightStore &&) noexcept = default;

Expected<const MappedFile *> WeightStore::mapFile(const std::string &path) {
  for (const auto &file : files_)
    if (file->path() == path)
      return static_cast<const MappedFile *>(file.get());
  auto file = MappedFile::open(path);
  if (!file)
    return file.status();
  files_.push_back(file.take());
  return static_cast<const MappedFile *>(files_.back().get());
}

Status WeightStore::insert(TensorView view) {
  std::string name = view.name;
  if (!tensors_.emplace(name, std::move(view)).second)
    return makeError("tensor '", name, "' is defined twice");
  return Status::success();
}

/// byteSize must equal elements x element size (checked without overflow).
static Status checkByteSize(const std::string &where, const std::string &name,
                            DType dtype, const std::vector<int64_t> &shape,
                            uint64_t byteSize) {
  auto elements = checkedNumElements(shape, where + ": tensor '" + name + "'");
  if (!elements)
    return elements.status();
  uint64_t n = static_cast<uint64_t>(*elements);
  if (n > std::numeric_limits<uint64_t>::max() / dtypeSize(dtype) ||
      n * dtypeSize(dtype) != byteSize)
    return makeError(where, ": tensor '", name, "' of shape ",
                     formatShape(shape), " and type ", dtypeName(dtype),
                     " needs ", n, " x ", dtypeSize(dtype),
                     " bytes but its data range has ", byteSize);
  return Status::success();
}

Status WeightStore::addFileTensor(const MappedFile &file, std::string name,
                                  DType dtype, std::vector<int64_t> shape,
                                  uint64_t offset, uint64_t byteSize) {
  const std::string &path = file.path();
  if (Status s = checkByteSize(path, name, dtype, shape, byteSize); !s)
    return s;
  if (!file.contains(offset, byteSize))
    return makeError(path, ": tensor '", name, "' at bytes [", offset, ", ",
                     offset + byteSize, ") lies outside the file (", file.size(),
                     " bytes)");
  if (offset % dtypeSize(dtype) != 0)
    return makeError(path, ": tensor '", name, "' at offset ", offset,
                     " is not aligned to its ", dtypeSize(dtype),
                     "-byte elements");
  TensorView view;
  view.name = std::move(name);
  view.dtype = dtype;
  view.shape = std::move(shape);
  view.data = file.data() + offset;
  view.byteSize = byteSize;
  view.sourcePath = path;
  view.fileOffset = offset;
  if (Status s = insert(std::move(view)); !s)
    return makeError(path, ": ", s.message());
  return Status::success();
}

Status WeightStore::addOwnedTensor(std::string name, DType dtype,
                                   std::vector<int64_t> shape,
                                   std::vector<uint8_t> bytes) {
  if (Status s = checkByteSize("owned data", name, dtype, shape, bytes.size());
      !s)
    return s;
  blobs_.push_back(std::make_unique<std::vector<uint8_t>>(std::move(bytes)));
  TensorView view;
  view.name = std::move(name);
  view.dtype = dtype;
  view.shape = std::move(shape);
  view.data = blobs_.back()->data();
  view.byteSize = blobs_.back()->size();
  return insert(std::move(view));
}

Status WeightStore::checkNoOverlaps() const {
  std::vector<const TensorView *> views;
  for (const auto &entry : tensors_)
    if (!entry.second.sourcePath.empty() && entry.second.byteSize != 0)
      views.push_back(&entry.second);
  std::sort(views.begin(), views.end(),
            [](const TensorView *a, const TensorView *b) {
              if (a->sourcePath != b->sourcePath)
                return a->sourcePath < b->sourcePath;
              return a->fileOffset < b->fileOffset;
            });
  for (size_t i = 1; i < views.size(); ++i) {
    const TensorView *prev = views[i - 1], *cur = views[i];
    if (prev->sourcePath == cur->sourcePath &&
        cur->fileOffset < prev->fileOffset + prev->byteSize)
      return makeError(cur->sourcePath, ": tensor '", cur->name,
                       "' at offset ", cur->fileOffset, " overlaps tensor '",
                       prev->name, "' at [", prev->fileOffset, ", ",
                       prev->fileOffset + prev->byteSize, ")");
  }
  return Status::success();
}

const TensorView *WeightStore::lookup(const std::string &name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

Expected<const TensorView *> WeightStore::get(const std::string &name) const {
  if (const TensorView *view = lookup(name))
    return view;
  return makeError("missing tensor '", name, "'");
}

std::vector<const TensorView *> WeightStore::tensors() const {
  std::vector<const TensorView *> out;
  out.reserve(tensors_.size());
  for (const auto &entry : tensors_)
    out.push_back(&entry.second);
  return out;
}

void WeightStore::releasePages(const TensorView &view) const {
  if (view.sourcePath.empty() || view.byteSize == 0)
    return; // owned bytes are not file pages
  // madvise works on whole pages; only pages entirely inside the view are
  // released, so neighbouring tensors keep theirs.
  uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  uintptr_t begin = (uintptr_t(view.data) + page - 1) / page * page;
  uintptr_t end = (uintptr_t(view.data) + view.byteSize) / page * page;
  if (end > begin)
    ::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED);
}

size_t WeightStore::size() const { return tensors_.size(); }

Status WeightStore::rename(const std::string &from, const std::string &to) {
  auto it = tensors_.find(from);
  if (it == tensors_.end())
    return makeError("cannot rename missing tensor '", from, "'");
  TensorView view = std::move(it->second);
  tensors_.erase(it);
  view.name = to;
  return insert(std::move(view));
}

Status mixq::readAsF32(const TensorView &view, int64_t first, int64_t count,
                       float *out) {
  if (!isFloatDType(view.dtype))
    return makeError("tensor '", view.name, "' has type ",
                     dtypeName(view.dtype), ", not a float type");
  int64_t total = view.numElements();
  if (first < 0 || count < 0 || first > total || count > total - first)
    return makeError("tensor '", view.name, "': elements [", first, ", ",
                     first + count, ") are outside its ", total, " elements");
  const uint8_t *src = view.data + first * dtypeSize(view.dtype);
  switch (view.dtype) {
  case DType::F32:
    std::memcpy(out, src, count * sizeof(float));
    break;
  case DType::F16:
    quant::halfBitsToFloatArray(src, count, out);
    break;
  case DType::BF16:
    for (int64_t i = 0; i < count; ++i) {
      uint16_t bits;
      std::memcpy(&bits, src + 2 * i, 2);
      out[i] = quant::bfloat16BitsToFloat(bits);
    }
    break;
  default:
    break;
  }
  return Status::success();
}

Status mixq::readRowsAsF32(const TensorView &view, int64_t row,
                           int64_t numRows, float *out) {
  int64_t rowLength = view.rowLength();
  if (row < 0 || numRows < 0 || row > view.numRows() ||
      numRows > view.numRows() - row)
    return makeError("tensor '", view.name, "': rows [", row, ", ",
                     row + numRows, ") are outside its ", view.numRows(),
                     " rows");
  return readAsF32(view, row * rowLength, numRows * rowLength, out);
}

Expected<std::vector<float>> mixq::readAllAsF32(const TensorView &view) {
  std::vector<float> out(view.numElements());
  if (Status s = readAsF32(view, 0, view.numElements(), out.data()); !s)
    return s;
  return out;
}
