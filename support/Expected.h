//===- Expected.h - Dependency-free error handling --------------*- C++ -*-===//
//
// The loaders, writers and the runtime must build without LLVM (runtime-only
// builds, fuzz targets compiled by a different clang), so they cannot use
// llvm::Error. `mixq::Status` and `mixq::Expected<T>` are the minimal
// equivalent: a value or a human-readable message naming the file and the
// tensor or key at fault. Compiler code converts them with toLLVMError()
// (frontend/LLVMInterop.h).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_SUPPORT_EXPECTED_H
#define MIXQ_SUPPORT_EXPECTED_H

#include <optional>
#include <string>
#include <utility>

namespace mixq {

/// Success, or a failure with a message. [[nodiscard]] so that errors are
/// not dropped silently.
class [[nodiscard]] Status {
public:
  static Status success() { return Status(); }
  static Status failure(std::string message) {
    Status s;
    s.message_ = std::move(message);
    s.failed_ = true;
    return s;
  }
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const std::string &message() const { return message_; }

private:
  std::string message_;
  bool failed_ = false;
};

/// A T or an error message.
template <typename T> class [[nodiscard]] Expected {
public:
  Expected(T value) : value_(std::move(value)) {}
  Expected(Status error) : error_(std::move(error)) {}
  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  T &operator*() { return *value_; }
  const T &operator*() const { return *value_; }
  T *operator->() { return &*value_; }
  const T *operator->() const { return &*value_; }
  T take() { return std::move(*value_); }
  /// The failure; only meaningful when !ok().
  const Status &status() const { return error_; }
  const std::string &message() const { return error_.message(); }

private:
  std::optional<T> value_;
  Status error_;
};

inline std::string toErrorText(const std::string &s) { return s; }
inline std::string toErrorText(const char *s) { return s; }
template <typename T>
auto toErrorText(const T &value) -> decltype(std::to_string(value)) {
  return std::to_string(value);
}

/// Builds a failure from pieces: makeError(path, ": tensor '", name, "' ...").
template <typename... Parts> Status makeError(const Parts &...parts) {
  std::string message;
  (message.append(toErrorText(parts)), ...);
  return Status::failure(std::move(message));
}

} // namespace mixq

#endif // MIXQ_SUPPORT_EXPECTED_H
