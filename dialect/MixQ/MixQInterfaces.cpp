//===- MixQInterfaces.cpp - QuantSchemeAttrInterface support --------------===//
#include "dialect/MixQ/MixQInterfaces.h"
#include "quant/ReconstructionError.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cstring>

using namespace mlir;
using namespace mlir::mixq;

#include "dialect/MixQ/MixQInterfaces.cpp.inc"

std::string SpecKey::getParamName() const {
  if (!param.empty())
    return param;
  std::string name = key;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

int64_t ComponentSpec::getNumElements() const {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

int64_t ComponentSpec::getSizeInBits() const {
  return getNumElements() * elementType.getIntOrFloatBitWidth();
}

RankedTensorType ComponentSpec::getTensorType() const {
  return RankedTensorType::get(shape, elementType);
}

double mlir::mixq::relativeReconstructionError(ArrayRef<float> weights,
                                               ArrayRef<float> reconstructed,
                                               ArrayRef<int64_t> shape) {
  return ::mixq::quant::matrixErrorSums(weights.data(), reconstructed.data(),
                                        shape[0], shape[1])
      .relative();
}

double mlir::mixq::computeBitsPerWeight(ArrayRef<ComponentSpec> components,
                                        ArrayRef<int64_t> shape) {
  int64_t weights = 1;
  for (int64_t dim : shape)
    weights *= dim;
  int64_t bits = 0;
  for (const ComponentSpec &component : components)
    bits += component.getSizeInBits();
  return weights == 0 ? 0.0 : static_cast<double>(bits) / weights;
}

llvm::Error mlir::mixq::checkPackedSizes(ArrayRef<ComponentSpec> components,
                                         const PackedWeights &packed) {
  if (packed.size() != components.size())
    return llvm::createStringError(
        llvm::formatv("expected {0} packed components, got {1}",
                      components.size(), packed.size()));
  for (auto [component, bytes] : llvm::zip_equal(components, packed)) {
    if (static_cast<int64_t>(bytes.size()) != component.getSizeInBytes())
      return llvm::createStringError(llvm::formatv(
          "component '{0}' holds {1} bytes, expected {2}", component.name,
          bytes.size(), component.getSizeInBytes()));
  }
  return llvm::Error::success();
}

DenseElementsAttr mlir::mixq::getComponentAttr(const ComponentSpec &component,
                                               const PackedBuffer &bytes) {
  ArrayRef<char> raw(reinterpret_cast<const char *>(bytes.data()),
                     bytes.size());
  return DenseElementsAttr::getFromRawBuffer(component.getTensorType(), raw);
}

PackedBuffer mlir::mixq::getComponentBytes(DenseElementsAttr attr) {
  auto type = cast<ShapedType>(attr.getType());
  int64_t elementBytes = type.getElementTypeBitWidth() / 8;
  PackedBuffer bytes(type.getNumElements() * elementBytes);
  ArrayRef<char> raw = attr.getRawData();
  for (int64_t i = 0, e = type.getNumElements(); i < e; ++i) {
    // A splat stores one element; every element reads the same bytes.
    int64_t from = attr.isSplat() ? 0 : i * elementBytes;
    std::memcpy(bytes.data() + i * elementBytes, raw.data() + from,
                elementBytes);
  }
  return bytes;
}
