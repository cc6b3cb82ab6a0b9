//===- WeightStore.h - Zero-copy named tensors over mapped files -*- C++ -*-===//
//
// Every loader produces a WeightStore: named tensors that are views into
// memory-mapped checkpoint files (or, for data the compiler makes, such as
// packed quantized buffers, into owned blobs). Tensor data is converted to
// fp32 only on demand, per tensor or per row range, so model-sized data is
// never copied whole.
//
// Names are canonical (see ModelConfig.h: "blk3.q_proj"), independent of the
// checkpoint format; each loader maps its own names onto them.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_FRONTEND_WEIGHTSTORE_H
#define MIXQ_FRONTEND_WEIGHTSTORE_H

#include "support/Expected.h"
#include "support/MappedFile.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mixq {

/// Element types a checkpoint tensor may have. Only F32/F16/BF16 are
/// convertible to fp32; the integer types occur in packed buffers.
enum class DType { F32, F16, BF16, I8, U8, I32 };

/// "f32", "f16", "bf16", ... (the names used in IR, manifests and errors).
const char *dtypeName(DType dtype);
/// Bytes per element.
unsigned dtypeSize(DType dtype);
/// True for the types readAsF32 accepts.
bool isFloatDType(DType dtype);

/// A tensor's metadata plus a pointer to its bytes (row-major, C order,
/// little-endian). The bytes belong to the WeightStore that holds it.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t *data = nullptr;
  uint64_t byteSize = 0;
  /// Where the bytes come from: the file path and offset in it, for error
  /// messages and overlap checks; an owned blob has an empty path.
  std::string sourcePath;
  uint64_t fileOffset = 0;

  int64_t numElements() const;
  /// Rows of a 2-D (or higher, flattened leading dims) tensor; 1 for 1-D.
  int64_t numRows() const;
  /// Elements per row (the last dimension).
  int64_t rowLength() const;
};

/// "[4096, 11008]".
std::string formatShape(const std::vector<int64_t> &shape);

/// Number of elements of `shape`, or an error when a dimension is negative
/// or the product overflows int64 (huge counts from corrupt headers).
Expected<int64_t> checkedNumElements(const std::vector<int64_t> &shape,
                                     const std::string &what);

class WeightStore {
public:
  WeightStore();
  ~WeightStore();
  WeightStore(WeightStore &&) noexcept;
  WeightStore &operator=(WeightStore &&) noexcept;

  /// Maps `path` (once; a second call returns the same mapping).
  Expected<const MappedFile *> mapFile(const std::string &path);

  /// Adds a view of `file` bytes [offset, offset + byteSize). Fails, naming
  /// the file and the tensor, when the name is taken, the range is outside
  /// the file, the byte size does not match dtype x shape, or the data is
  /// not aligned to the element size.
  Status addFileTensor(const MappedFile &file, std::string name, DType dtype,
                       std::vector<int64_t> shape, uint64_t offset,
                       uint64_t byteSize);

  /// Adds a tensor whose bytes the store owns (e.g. packed weights made by
  /// the compiler).
  Status addOwnedTensor(std::string name, DType dtype,
                        std::vector<int64_t> shape, std::vector<uint8_t> bytes);

  /// Fails naming the two tensors when views of the same file overlap.
  Status checkNoOverlaps() const;

  const TensorView *lookup(const std::string &name) const;
  /// lookup() or an error naming the missing tensor.
  Expected<const TensorView *> get(const std::string &name) const;
  bool contains(const std::string &name) const { return lookup(name); }
  /// All tensors, ordered by name.
  std::vector<const TensorView *> tensors() const;
  size_t size() const;

  /// Tells the kernel that `view`'s file pages are not needed any more, so
  /// that streaming through a checkpoint larger than memory does not keep
  /// it resident (the pages are re-read from the file if touched again).
  void releasePages(const TensorView &view) const;

  /// Renames a tensor (loaders that discover aliases late).
  Status rename(const std::string &from, const std::string &to);

private:
  Status insert(TensorView view);
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::vector<std::unique_ptr<std::vector<uint8_t>>> blobs_;
  std::map<std::string, TensorView> tensors_;
};

/// Converts `count` elements of `view` starting at element `first` to fp32
/// into `out`. Fails for non-float dtypes or a range outside the tensor.
Status readAsF32(const TensorView &view, int64_t first, int64_t count,
                 float *out);
/// Converts rows [row, row + numRows) of a 2-D view.
Status readRowsAsF32(const TensorView &view, int64_t row, int64_t numRows,
                     float *out);
/// The whole tensor as fp32 (for small tensors and tests).
Expected<std::vector<float>> readAllAsF32(const TensorView &view);

} // namespace mixq

#endif // MIXQ_FRONTEND_WEIGHTSTORE_H
