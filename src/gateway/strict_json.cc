#include "gateway/strict_json.h"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/text.h"

namespace aurora::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;

// How a message type is written in proto3 JSON.
enum class MessageForm {
  kObject,      // {"field": …}
  kAny,         // {"@type": …, "field": …} or {"@type": …, "value": …}
  kWrapper,     // google.protobuf.Int32Value & co.: the wrapped value
  kString,      // Timestamp, Duration, FieldMask
  kFreeValue,   // google.protobuf.Value: any JSON
  kFreeObject,  // google.protobuf.Struct: any JSON object
  kFreeArray,   // google.protobuf.ListValue: any JSON array
};

MessageForm FormOf(const Descriptor* type) {
  const std::string& name = type->full_name();
  if (type->file()->name().rfind("google/protobuf/", 0) != 0) return MessageForm::kObject;
  if (name == "google.protobuf.Any") return MessageForm::kAny;
  if (name == "google.protobuf.Value") return MessageForm::kFreeValue;
  if (name == "google.protobuf.Struct") return MessageForm::kFreeObject;
  if (name == "google.protobuf.ListValue") return MessageForm::kFreeArray;
  if (name == "google.protobuf.Timestamp" || name == "google.protobuf.Duration" ||
      name == "google.protobuf.FieldMask") {
    return MessageForm::kString;
  }
  if (type->file()->name() == "google/protobuf/wrappers.proto") return MessageForm::kWrapper;
  return MessageForm::kObject;
}

// The type of one JSON value: a field's type (its label aside) or a message type. Wrappers are
// replaced by the type of their value.
struct ValueType {
  FieldDescriptor::Type type = FieldDescriptor::TYPE_MESSAGE;
  const Descriptor* message = nullptr;
  const EnumDescriptor* enumeration = nullptr;
};

ValueType Unwrapped(ValueType type) {
  if (type.message != nullptr && FormOf(type.message) == MessageForm::kWrapper) {
    const FieldDescriptor* value = type.message->FindFieldByName("value");
    if (value != nullptr) return {value->type(), value->message_type(), value->enum_type()};
  }
  return type;
}

ValueType TypeOf(const FieldDescriptor* field) {
  return Unwrapped({field->type(), field->message_type(), field->enum_type()});
}

ValueType TypeOf(const Descriptor* message) {
  return Unwrapped({FieldDescriptor::TYPE_MESSAGE, message, nullptr});
}

// What the next JSON value must be.
struct Expect {
  enum Form {
    kAnything,  // free JSON: inside Value, Struct, ListValue; an unknown field (the parser's)
    kValue,     // one value of `value`
    kList,      // the array of the repeated `field`
    kMap,       // the object of the map `field`
    kTypeUrl,   // the "@type" string of an Any
  };
  Form form = kAnything;
  ValueType value;
  const FieldDescriptor* field = nullptr;
};

Expect ForField(const FieldDescriptor* field) {
  if (field->is_map()) return {Expect::kMap, {}, field};
  if (field->is_repeated()) return {Expect::kList, {}, field};
  return {Expect::kValue, TypeOf(field), nullptr};
}

enum class Token { kNull, kBool, kInteger, kNumber, kString, kObject, kArray };

bool IsNullValue(const EnumDescriptor* type) {
  return type != nullptr && type->full_name() == "google.protobuf.NullValue";
}

bool Accepts(const Expect& expect, Token token) {
  switch (expect.form) {
    case Expect::kAnything:
      return true;
    case Expect::kList:
      return token == Token::kArray;
    case Expect::kMap:
      return token == Token::kObject;
    case Expect::kTypeUrl:
      return token == Token::kString;
    case Expect::kValue:
      break;
  }
  const ValueType& value = expect.value;
  switch (value.type) {
    case FieldDescriptor::TYPE_DOUBLE:
    case FieldDescriptor::TYPE_FLOAT:
      return token == Token::kInteger || token == Token::kNumber;
    case FieldDescriptor::TYPE_INT64:
    case FieldDescriptor::TYPE_UINT64:
    case FieldDescriptor::TYPE_INT32:
    case FieldDescriptor::TYPE_FIXED64:
    case FieldDescriptor::TYPE_FIXED32:
    case FieldDescriptor::TYPE_UINT32:
    case FieldDescriptor::TYPE_SFIXED32:
    case FieldDescriptor::TYPE_SFIXED64:
    case FieldDescriptor::TYPE_SINT32:
    case FieldDescriptor::TYPE_SINT64:
      return token == Token::kInteger;
    case FieldDescriptor::TYPE_BOOL:
      return token == Token::kBool;
    case FieldDescriptor::TYPE_STRING:
    case FieldDescriptor::TYPE_BYTES:
      return token == Token::kString;
    case FieldDescriptor::TYPE_ENUM:
      return token == Token::kString || token == Token::kInteger ||
             (token == Token::kNull && IsNullValue(value.enumeration));
    case FieldDescriptor::TYPE_MESSAGE:
    case FieldDescriptor::TYPE_GROUP:
      switch (FormOf(value.message)) {
        case MessageForm::kFreeValue:
          return true;
        case MessageForm::kFreeObject:
          return token == Token::kObject || token == Token::kNull;
        case MessageForm::kFreeArray:
          return token == Token::kArray;
        case MessageForm::kString:
          return token == Token::kString;
        case MessageForm::kObject:
        case MessageForm::kAny:
        case MessageForm::kWrapper:  // not reached: unwrapped
          return token == Token::kObject;
      }
  }
  return true;
}

std::string Expected(const Expect& expect) {
  switch (expect.form) {
    case Expect::kAnything:
      return "any JSON value";
    case Expect::kList:
      return "a JSON array";
    case Expect::kMap:
      return "a JSON object";
    case Expect::kTypeUrl:
      return "a JSON string";
    case Expect::kValue:
      break;
  }
  switch (expect.value.type) {
    case FieldDescriptor::TYPE_DOUBLE:
    case FieldDescriptor::TYPE_FLOAT:
      return "a JSON number";
    case FieldDescriptor::TYPE_BOOL:
      return "a JSON boolean";
    case FieldDescriptor::TYPE_STRING:
      return "a JSON string";
    case FieldDescriptor::TYPE_BYTES:
      return "a JSON string (base64)";
    case FieldDescriptor::TYPE_ENUM:
      return absl::StrCat("a value name (a JSON string) or number of ",
                          Sv(expect.value.enumeration->full_name()));
    case FieldDescriptor::TYPE_MESSAGE:
    case FieldDescriptor::TYPE_GROUP:
      switch (FormOf(expect.value.message)) {
        case MessageForm::kString:
          return absl::StrCat("a JSON string (", Sv(expect.value.message->full_name()), ")");
        case MessageForm::kFreeArray:
          return "a JSON array";
        case MessageForm::kFreeValue:
          return "any JSON value";
        default:
          return "a JSON object";
      }
    default:
      return "a JSON integer";
  }
}

std::string Got(Token token, std::string_view text) {
  switch (token) {
    case Token::kNull:
      return "null";
    case Token::kString:
      return QuoteForMessage(text);
    case Token::kObject:
      return "an object";
    case Token::kArray:
      return "an array";
    case Token::kBool:
    case Token::kInteger:
    case Token::kNumber:
      break;
  }
  constexpr size_t kMaxNumberText = 40;
  if (text.size() <= kMaxNumberText) return std::string(text);
  return absl::StrCat(Sv(text.substr(0, kMaxNumberText)), "...");
}

const FieldDescriptor* FindField(const Descriptor* type, std::string_view name) {
  const FieldDescriptor* field = type->FindFieldByName(std::string(name));
  if (field != nullptr) return field;
  for (int i = 0; i < type->field_count(); ++i) {
    if (type->field(i)->json_name() == name) return type->field(i);
  }
  return nullptr;
}

// The SAX handler: follows the document with a stack of its open objects and arrays, each with
// what it holds, and stops at the first value of the wrong kind.
class Checker final : public nlohmann::json::json_sax_t {
 public:
  explicit Checker(const Descriptor* root) : pool_(root->file()->pool()) {
    expect_ = {Expect::kValue, TypeOf(root), nullptr};
  }

  absl::Status status() const { return status_; }

  bool null() override { return Scalar(Token::kNull, "null"); }
  bool boolean(bool value) override { return Scalar(Token::kBool, value ? "true" : "false"); }
  bool number_integer(number_integer_t value) override {
    return Scalar(Token::kInteger, std::to_string(value));
  }
  bool number_unsigned(number_unsigned_t value) override {
    return Scalar(Token::kInteger, std::to_string(value));
  }
  bool number_float(number_float_t /*value*/, const string_t& text) override {
    // Integers beyond 64 bits come here too, without a fraction or exponent: they are integers
    // (out of range, which the parser reports).
    bool fraction = text.find_first_of(".eE") != std::string::npos;
    return Scalar(fraction ? Token::kNumber : Token::kInteger, text);
  }
  bool string(string_t& value) override { return Scalar(Token::kString, value); }
  bool binary(binary_t& /*value*/) override { return true; }  // not in JSON text
  bool start_object(std::size_t /*elements*/) override { return Open(Token::kObject); }
  bool start_array(std::size_t /*elements*/) override { return Open(Token::kArray); }
  bool end_object() override { return Close(); }
  bool end_array() override { return Close(); }
  bool key(string_t& name) override;
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& /*error*/) override {
    if (status_.ok()) status_ = absl::InvalidArgumentError("not valid JSON");
    return false;
  }

 private:
  struct Frame {
    enum Kind {
      kMessage,   // an object of `message`'s fields
      kAny,       // an Any before its "@type"
      kAnyValue,  // an Any of a `message` written as {"@type": …, "value": …}
      kList,      // the array of the repeated `field`
      kMap,       // the object of the map `field`
      kFree,      // free JSON
    };
    Kind kind = kFree;
    const Descriptor* message = nullptr;
    const FieldDescriptor* field = nullptr;
    size_t elements = 0;  // kList: elements seen
    std::string child;    // the current member: ".name", "[3]" or "[key]"
  };

  // Lists and free JSON set the expectation for their next element here; objects do it at the key.
  void BeginValue() {
    if (frames_.empty()) return;
    Frame& top = frames_.back();
    if (top.kind == Frame::kList) {
      top.child = absl::StrCat("[", top.elements, "]");
      expect_ = {Expect::kValue, TypeOf(top.field), nullptr};
    } else if (top.kind == Frame::kFree) {
      expect_ = {};
    }
  }
  void EndValue() {
    if (!frames_.empty() && frames_.back().kind == Frame::kList) ++frames_.back().elements;
  }

  bool Scalar(Token token, std::string_view text) {
    BeginValue();
    if (!Accepts(expect_, token)) return Refuse(token, text);
    if (expect_.form == Expect::kTypeUrl) ResolveAny(text);
    EndValue();
    return true;
  }

  bool Open(Token token) {
    BeginValue();
    if (!Accepts(expect_, token)) return Refuse(token, "");
    Frame frame;
    if (expect_.form == Expect::kList) {
      frame.kind = Frame::kList;
      frame.field = expect_.field;
    } else if (expect_.form == Expect::kMap) {
      frame.kind = Frame::kMap;
      frame.field = expect_.field;
    } else if (expect_.form == Expect::kValue && expect_.value.message != nullptr) {
      switch (FormOf(expect_.value.message)) {
        case MessageForm::kObject:
          frame.kind = Frame::kMessage;
          frame.message = expect_.value.message;
          break;
        case MessageForm::kAny:
          frame.kind = Frame::kAny;
          break;
        default:  // Value, Struct, ListValue
          break;
      }
    }
    frames_.push_back(std::move(frame));
    return true;
  }

  bool Close() {
    frames_.pop_back();
    EndValue();
    return true;
  }

  // "@type" names the message the rest of the Any is checked as.
  void ResolveAny(std::string_view url) {
    Frame& any = frames_.back();
    size_t slash = url.rfind('/');
    const Descriptor* packed = pool_->FindMessageTypeByName(
        std::string(slash == std::string_view::npos ? url : url.substr(slash + 1)));
    if (packed == nullptr) {
      any.kind = Frame::kFree;  // an unknown type: the parser refuses it
    } else if (FormOf(packed) == MessageForm::kObject) {
      any.kind = Frame::kMessage;
      any.message = packed;
    } else {
      any.kind = Frame::kAnyValue;
      any.message = packed;
    }
  }

  // The path of the value at depth `depth` (frames_.size(): the current value).
  std::string Path(size_t depth) const {
    std::string path;
    for (size_t i = 0; i < depth; ++i) path += frames_[i].child;
    if (!path.empty() && path.front() == '.') path.erase(0, 1);
    return path;
  }

  bool Fail(size_t depth, std::string_view message) {
    std::string path = Path(depth);
    status_ = absl::InvalidArgumentError(
        path.empty() ? std::string(message)
                     : absl::StrCat("field ", QuoteForMessage(path), ": ", Sv(message)));
    return false;
  }

  bool Refuse(Token token, std::string_view text) {
    return Fail(frames_.size(),
                absl::StrCat("expected ", Expected(expect_), ", got ", Got(token, text)));
  }

  const DescriptorPool* pool_;
  Expect expect_;
  std::vector<Frame> frames_;
  absl::Status status_;
};

bool Checker::key(string_t& name) {
  Frame& top = frames_.back();
  switch (top.kind) {
    case Frame::kMessage: {
      top.child = absl::StrCat(".", Sv(name));
      const FieldDescriptor* field = FindField(top.message, name);
      expect_ = field != nullptr ? ForField(field) : Expect{};  // unknown: the parser refuses it
      break;
    }
    case Frame::kAny:
      if (name != "@type") {
        return Fail(frames_.size() - 1, "an Any must start with its \"@type\"");
      }
      top.child = ".@type";
      expect_ = {Expect::kTypeUrl, {}, nullptr};
      break;
    case Frame::kAnyValue:
      top.child = absl::StrCat(".", Sv(name));
      expect_ = name == "value" ? Expect{Expect::kValue, TypeOf(top.message), nullptr} : Expect{};
      break;
    case Frame::kMap:
      top.child = absl::StrCat("[", Sv(name), "]");
      expect_ = ForField(top.field->message_type()->map_value());
      break;
    case Frame::kList:  // arrays have no keys
    case Frame::kFree:
      top.child = absl::StrCat(".", Sv(name));
      expect_ = {};
      break;
  }
  return true;
}

}  // namespace

absl::Status CheckStrictJson(std::string_view json, const Descriptor* type) {
  Checker checker(type);
  bool ok = nlohmann::json::sax_parse(json.data(), json.data() + json.size(), &checker);
  if (!checker.status().ok()) return checker.status();
  if (!ok) return absl::InvalidArgumentError("not valid JSON");
  return absl::OkStatus();
}

}  // namespace aurora::gateway
