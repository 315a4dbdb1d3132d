// Status and Result: expected failures as values (see STYLE.md, "Errors and logs").
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sanjog {

// The bounded error taxonomy; the numeric values equal sanjog_status in plugin_abi.h.
enum class Code {
  kOk = 0,
  kInvalidArgument = 1,
  kUnauthenticated = 2,
  kNotFound = 3,
  kRateLimited = 4,
  kTimeout = 5,
  kUnavailable = 6,
  kUpstreamError = 7,
  kInternal = 8,
  kOutsideWindow = 9,
};

// The snake_case name used in logs and in the `reason` metric label.
constexpr std::string_view codeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidArgument:
      return "invalid_argument";
    case Code::kUnauthenticated:
      return "unauthenticated";
    case Code::kNotFound:
      return "not_found";
    case Code::kRateLimited:
      return "rate_limited";
    case Code::kTimeout:
      return "timeout";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kUpstreamError:
      return "upstream_error";
    case Code::kInternal:
      return "internal";
    case Code::kOutsideWindow:
      return "outside_window";
  }
  return "internal";
}

// Maps an ABI status code to Code; unknown values become kInternal.
constexpr Code codeFromInt(int value) {
  return (value >= 0 && value <= 9) ? static_cast<Code>(value) : Code::kInternal;
}

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }

  [[nodiscard]] bool isOk() const { return code_ == Code::kOk; }
  [[nodiscard]] Code code() const { return code_; }
  [[nodiscard]] const std::string& message() const { return message_; }
  [[nodiscard]] std::string toString() const {
    return isOk() ? "ok" : std::string(codeName(code_)) + ": " + message_;
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or a non-OK Status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).isOk());
  }

  [[nodiscard]] bool isOk() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return isOk(); }

  [[nodiscard]] const Status& status() const {
    static const Status kOkStatus;
    return isOk() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }
  T& operator*() & { return std::get<T>(v_); }
  const T& operator*() const& { return std::get<T>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sanjog
