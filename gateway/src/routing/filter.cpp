#include "routing/filter.h"

#include <re2/re2.h>

#include <vector>

#include "routing/text.h"

namespace sanjog::routing {

struct Filter::Node {
  enum class Kind { kAll, kAnd, kOr, kNot, kEq, kIn, kExists, kStartsWith, kRegex };
  Kind kind = Kind::kAll;
  std::vector<std::string> path;  // dotted path, split
  nlohmann::json operand;         // strings pre-normalized
  std::vector<std::shared_ptr<const Node>> children;
  std::shared_ptr<const re2::RE2> regex;
};

namespace {

using Node = Filter::Node;
using NodePtr = std::shared_ptr<const Node>;

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    out.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return out;
}

// Strings in operands are compared normalized.
nlohmann::json normalizeOperand(const nlohmann::json& v) {
  if (v.is_string()) return normalizeText(v.get<std::string>());
  if (v.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : v) out.push_back(normalizeOperand(e));
    return out;
  }
  return v;
}

Result<NodePtr> compileDoc(const nlohmann::json& doc, const std::string& pointer);

Result<NodePtr> compileOperator(const std::vector<std::string>& path, const std::string& op,
                                const nlohmann::json& operand, const std::string& pointer) {
  auto node = std::make_shared<Node>();
  node->path = path;
  auto bad = [&](const std::string& why) {
    return Status(Code::kInvalidArgument, "at " + pointer + ": " + why);
  };
  if (op == "$eq") {
    node->kind = Node::Kind::kEq;
    node->operand = normalizeOperand(operand);
  } else if (op == "$in") {
    if (!operand.is_array()) return bad("$in needs an array");
    node->kind = Node::Kind::kIn;
    node->operand = normalizeOperand(operand);
  } else if (op == "$exists") {
    if (!operand.is_boolean()) return bad("$exists needs true or false");
    node->kind = Node::Kind::kExists;
    node->operand = operand;
  } else if (op == "$startsWith") {
    if (!operand.is_string()) return bad("$startsWith needs a string");
    node->kind = Node::Kind::kStartsWith;
    node->operand = normalizeOperand(operand);
  } else if (op == "$regex") {
    if (!operand.is_string()) return bad("$regex needs a string");
    re2::RE2::Options options;
    options.set_log_errors(false);
    options.set_case_sensitive(false);  // text matching is case-insensitive
    auto re = std::make_shared<re2::RE2>(composeText(operand.get<std::string>()), options);
    if (!re->ok()) return bad("invalid regular expression: " + re->error());
    node->kind = Node::Kind::kRegex;
    node->regex = std::move(re);
  } else {
    return bad("unknown operator " + op +
               " (use $eq, $in, $exists, $startsWith, $regex, $and, $or, $not)");
  }
  return NodePtr(node);
}

std::string escape(const std::string& key) {
  std::string out;
  for (char c : key)
    out += c == '/' ? std::string("~1") : c == '~' ? std::string("~0") : std::string(1, c);
  return out;
}

Result<NodePtr> compileDoc(const nlohmann::json& doc, const std::string& pointer) {
  if (!doc.is_object()) {
    return Status(Code::kInvalidArgument, "at " + pointer + ": a filter must be a JSON object");
  }
  auto all = std::make_shared<Node>();
  all->kind = Node::Kind::kAnd;
  for (const auto& [key, value] : doc.items()) {
    const std::string here = pointer + "/" + escape(key);
    if (key == "$and" || key == "$or") {
      if (!value.is_array() || value.empty()) {
        return Status(Code::kInvalidArgument,
                      "at " + here + ": " + key + " needs a non-empty array");
      }
      auto group = std::make_shared<Node>();
      group->kind = key == "$and" ? Node::Kind::kAnd : Node::Kind::kOr;
      for (size_t i = 0; i < value.size(); ++i) {
        auto child = compileDoc(value[i], here + "/" + std::to_string(i));
        if (!child) return child.status();
        group->children.push_back(*child);
      }
      all->children.push_back(group);
    } else if (key == "$not") {
      auto child = compileDoc(value, here);
      if (!child) return child.status();
      auto n = std::make_shared<Node>();
      n->kind = Node::Kind::kNot;
      n->children.push_back(*child);
      all->children.push_back(n);
    } else if (!key.empty() && key[0] == '$') {
      return Status(Code::kInvalidArgument, "at " + here + ": unknown operator " + key);
    } else {
      if (key.empty()) return Status(Code::kInvalidArgument, "at " + here + ": empty path");
      const auto path = splitPath(key);
      bool operators = value.is_object() && !value.empty();
      if (operators) {
        for (const auto& [op, _] : value.items())
          operators = operators && !op.empty() && op[0] == '$';
      }
      if (!operators) {
        auto n = compileOperator(path, "$eq", value, here);
        if (!n) return n.status();
        all->children.push_back(*n);
        continue;
      }
      for (const auto& [op, operand] : value.items()) {
        auto n = compileOperator(path, op, operand, here + "/" + escape(op));
        if (!n) return n.status();
        all->children.push_back(*n);
      }
    }
  }
  return NodePtr(all);
}

const nlohmann::json* lookup(const nlohmann::json& event, const std::vector<std::string>& path) {
  const nlohmann::json* cur = &event;
  for (const auto& part : path) {
    if (cur->is_object()) {
      auto it = cur->find(part);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array() && !part.empty() &&
               part.find_first_not_of("0123456789") == std::string::npos && part.size() < 10) {
      const size_t i = std::stoul(part);
      if (i >= cur->size()) return nullptr;
      cur = &(*cur)[i];
    } else {
      return nullptr;
    }
  }
  return cur;
}

bool equal(const nlohmann::json& value, const nlohmann::json& operand) {
  if (value.is_string() && operand.is_string()) {
    return normalizeText(value.get<std::string>()) == operand.get<std::string>();
  }
  return value == operand;
}

bool eval(const Node& n, const nlohmann::json& event) {
  switch (n.kind) {
    case Node::Kind::kAll:
      return true;
    case Node::Kind::kAnd:
      for (const auto& c : n.children) {
        if (!eval(*c, event)) return false;
      }
      return true;
    case Node::Kind::kOr:
      for (const auto& c : n.children) {
        if (eval(*c, event)) return true;
      }
      return false;
    case Node::Kind::kNot:
      return !eval(*n.children[0], event);
    default:
      break;
  }
  const nlohmann::json* v = lookup(event, n.path);
  switch (n.kind) {
    case Node::Kind::kExists:
      return (v != nullptr && !v->is_null()) == n.operand.get<bool>();
    case Node::Kind::kEq:
      return v != nullptr && equal(*v, n.operand);
    case Node::Kind::kIn:
      if (v == nullptr) return false;
      for (const auto& o : n.operand) {
        if (equal(*v, o)) return true;
      }
      return false;
    case Node::Kind::kStartsWith:
      return v != nullptr && v->is_string() &&
             normalizeText(v->get<std::string>()).rfind(n.operand.get<std::string>(), 0) == 0;
    case Node::Kind::kRegex:
      return v != nullptr && v->is_string() &&
             re2::RE2::PartialMatch(composeText(v->get<std::string>()), *n.regex);
    default:
      return false;
  }
}

}  // namespace

Result<Filter> Filter::compile(const nlohmann::json& when) {
  Filter f;
  if (when.is_null()) {
    f.root_ = std::make_shared<Node>();
    return f;
  }
  auto root = compileDoc(when, "");
  if (!root) return root.status();
  f.root_ = *root;
  return f;
}

bool Filter::matches(const nlohmann::json& event) const {
  if (!root_) return true;
  try {
    return eval(*root_, event);
  } catch (...) {
    return false;
  }
}

}  // namespace sanjog::routing
