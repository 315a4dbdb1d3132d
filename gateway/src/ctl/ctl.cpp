#include "ctl/ctl.h"

#include <sys/stat.h>
#include <unistd.h>

#include <Poco/Exception.h>
#include <Poco/Pipe.h>
#include <Poco/PipeStream.h>
#include <Poco/Process.h>
#include <Poco/StreamCopier.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "ctl/admin_client.h"
#include "ctl/format.h"

namespace sanjog::ctl {

namespace {

using nlohmann::json;

// Flags that take no value; every other --name takes one.
const std::set<std::string> kSwitches = {"json", "dry-run", "yes",    "all",
                                         "help", "quiet",   "version"};

struct Args {
  std::vector<std::string> words;  // command, subcommand, operands
  std::map<std::string, std::string> options;
  std::set<std::string> switches;
  [[nodiscard]] bool has(const std::string& s) const { return switches.count(s) > 0; }
  [[nodiscard]] std::string opt(const std::string& k, const std::string& fallback = "") const {
    auto it = options.find(k);
    return it == options.end() ? fallback : it->second;
  }
};

std::optional<Args> parse(const std::vector<std::string>& raw, std::ostream& err) {
  Args a;
  for (size_t i = 0; i < raw.size(); ++i) {
    const std::string& w = raw[i];
    if (w == "--") {
      a.words.insert(a.words.end(), raw.begin() + static_cast<long>(i) + 1, raw.end());
      break;
    }
    if (w.rfind("--", 0) != 0 || w.size() == 2) {
      a.words.push_back(w);
      continue;
    }
    std::string name = w.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (kSwitches.count(name) > 0) {
      if (value) {
        err << "sanjogctl: --" << name << " takes no value\n";
        return std::nullopt;
      }
      a.switches.insert(name);
      continue;
    }
    if (!value) {
      if (i + 1 >= raw.size()) {
        err << "sanjogctl: --" << name << " needs a value\n";
        return std::nullopt;
      }
      value = raw[++i];
    }
    a.options[name] = *value;
  }
  return a;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])) != 0) ++i;
  return s.substr(i);
}

std::string envOr(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

std::string str(const json& j, const char* key, const std::string& fallback = "") {
  if (!j.is_object() || !j.contains(key)) return fallback;
  const auto& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return fallback;
  return v.dump();
}

int64_t num(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return 0;
  return j[key].get<int64_t>();
}

class Command {
 public:
  Command(Args args, std::ostream& out, std::ostream& err)
      : a_(std::move(args)), out_(out), err_(err), json_(a_.has("json")) {}

  int dispatch() {
    const auto& w = a_.words;
    if (a_.has("version")) {
      out_ << "sanjogctl " << SANJOG_VERSION << '\n';
      return kOk;
    }
    if (w.empty() || a_.has("help") || w[0] == "help") {
      (w.empty() && !a_.has("help") ? err_ : out_) << usage();
      return w.empty() && !a_.has("help") ? kUsage : kOk;
    }
    const std::string& cmd = w[0];
    const std::string sub = w.size() > 1 ? w[1] : "";
    if (cmd == "check-config") return checkConfig();
    if (!connect()) return kUsage;
    if (cmd == "status" && w.size() == 1) return status();
    if (cmd == "reload" && w.size() == 1) return reload();
    if (cmd == "events" && sub == "show" && w.size() == 3) return eventShow(w[2]);
    if (cmd == "events" && sub == "find" && w.size() == 2) return eventFind();
    if (cmd == "dead-letters" && sub == "list" && w.size() == 2) return deadList();
    if (cmd == "dead-letters" && (sub == "replay" || sub == "delete"))
      return deadAct(sub == "replay");
    if (cmd == "contacts" && sub == "export" && w.size() == 3) return contactExport(w[2]);
    if (cmd == "contacts" && sub == "erase" && w.size() == 3) return contactErase(w[2]);
    err_ << "sanjogctl: unknown command: ";
    for (const auto& x : w) err_ << x << ' ';
    err_ << "\n\n" << usage();
    return kUsage;
  }

 private:
  // ------------------------------------------------------------- plumbing --

  bool connect() {
    auto readToken = [this](const std::string& file, std::string& token) {
      std::ifstream in(file);
      if (!in) {
        err_ << "sanjogctl: cannot read the token file " << file << '\n';
        return false;
      }
      std::stringstream ss;
      ss << in.rdbuf();
      token = trim(ss.str());
      return true;
    };
    std::string token = a_.opt("token");
    if (token.empty() && !a_.opt("token-file").empty()) {
      if (!readToken(a_.opt("token-file"), token)) return false;
    }
    if (token.empty()) token = envOr("SANJOG_ADMIN_TOKEN");
    if (token.empty() && !envOr("SANJOG_ADMIN_TOKEN_FILE").empty()) {
      if (!readToken(envOr("SANJOG_ADMIN_TOKEN_FILE"), token)) return false;
    }
    const std::string url = a_.opt("url", envOr("SANJOG_ADMIN_URL", "http://127.0.0.1:9464"));
    const long timeout_s = std::strtol(a_.opt("timeout", "30").c_str(), nullptr, 10);
    if (timeout_s <= 0) {
      err_ << "sanjogctl: --timeout takes whole seconds (> 0)\n";
      return false;
    }
    client_.emplace(url, token, std::chrono::seconds(timeout_s));
    if (token.empty()) {
      err_ << "sanjogctl: no admin token: set SANJOG_ADMIN_TOKEN, SANJOG_ADMIN_TOKEN_FILE, "
              "--token or --token-file\n";
    }
    return true;
  }

  // The exit code for an answer that is not 2xx, with its message on err.
  int failure(const Response& r, const std::string& what) {
    err_ << "sanjogctl: " << what << ": " << r.message();
    if (r.status != 0) err_ << " (HTTP " << r.status << ")";
    err_ << '\n';
    if (r.status == 0) return kUnreachable;
    if (r.status == 401 || r.status == 403 || r.status == 429) return kAuth;
    if (r.status == 404) return kNotFound;
    if (r.status == 400 || r.status == 405 || r.status == 413) return kUsage;
    return kFailed;
  }

  Response call(const std::string& method, const std::string& path, const json* body = nullptr) {
    return client_->call(method, "/admin/v1" + path, body);
  }

  void printJson(const json& j) {
    out_ << j.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
  }

  std::vector<std::pair<std::string, std::string>> filterParams() const {
    return {{"target", a_.opt("target")}, {"reason", a_.opt("reason")}};
  }

  // --------------------------------------------------------------- status --

  int status() {
    auto r = call("GET", "/status");
    if (!r.ok()) return failure(r, "status");
    const json& s = r.body;
    bool healthy = s.value("ready", false);
    for (const auto& i : s["instances"]) healthy = healthy && str(i, "health") == "ok";
    if (json_) {
      printJson(s);
      return healthy ? kOk : kNotReady;
    }
    const json& node = s["node"];
    out_ << "sanjogd " << str(node, "version") << " on " << str(node, "hostname") << " (pid "
         << num(node, "pid") << "), up " << humanDuration(double(num(node, "uptime_seconds")))
         << ", bus " << str(node, "bus") << '\n';
    if (node.contains("bus_details") && node["bus_details"].contains("member")) {
      const json& b = node["bus_details"];
      const auto owned = b.value("partitions_owned", json::array());
      const auto members = b.value("members", json::array());
      out_ << "cluster:      member " << str(b, "member") << ", " << members.size()
           << (members.size() == 1 ? " member" : " members") << ", owns " << owned.size() << " of "
           << num(b, "partitions") << " partitions"
           << (b.value("timer_leader", false) ? ", fires the timers" : "") << '\n';
    }
    out_ << "ready:        " << (s.value("ready", false) ? "yes" : "NO") << '\n';
    if (!s.value("ready", false)) {
      out_ << "              storage " << str(s["checks"], "storage") << '\n';
    }
    const json& q = s["queue"];
    out_ << "queue:        " << num(q, "pending") << " pending, oldest "
         << (num(q, "pending") > 0 ? humanDuration(q.value("oldest_age_seconds", 0.0)) : "-")
         << '\n';
    out_ << "dead letters: " << num(s, "dead_letters") << '\n';
    out_ << "timers:       " << num(s, "timers_pending") << " pending\n\n";
    Table t({"INSTANCE", "PLUGIN", "KIND", "HEALTH", "PENDING", "OLDEST", "DEAD", "CIRCUIT"});
    std::set<std::string> listed;
    std::vector<std::string> notes;
    for (const auto& i : s["instances"]) {
      const std::string id = str(i, "id");
      listed.insert(id);
      const json tq = q["targets"].value(id, json::object());
      std::string circuit = str(tq, "circuit", "-");
      if (tq.value("disabled", false)) circuit = "disabled (410)";
      t.add({id, str(i, "plugin"), str(i, "kind"), str(i, "health"),
             std::to_string(num(tq, "pending")),
             num(tq, "pending") > 0 ? humanDuration(tq.value("oldest_age_seconds", 0.0)) : "-",
             std::to_string(num(tq, "dead_letters")), circuit});
      if (str(i, "health") != "ok" && !str(i, "message").empty()) {
        notes.push_back(id + ": " + str(i, "message"));
      }
    }
    // Targets that are no longer configured but still hold rows.
    for (const auto& [id, tq] : q["targets"].items()) {
      if (listed.count(id) > 0) continue;
      t.add({id, "(not configured)", "", "", std::to_string(num(tq, "pending")),
             num(tq, "pending") > 0 ? humanDuration(tq.value("oldest_age_seconds", 0.0)) : "-",
             std::to_string(num(tq, "dead_letters")), "-"});
    }
    t.print(out_);
    for (const auto& n : notes) out_ << "\n" << n;
    if (!notes.empty()) out_ << '\n';
    return healthy ? kOk : kNotReady;
  }

  int reload() {
    auto r = call("POST", "/reload");
    if (r.status == 400 && r.body.is_object() && r.body.contains("errors")) {
      if (json_) {
        printJson(r.body);
      } else {
        err_ << "sanjogctl: the new config was rejected; the running config stays:\n";
        for (const auto& e : r.body["errors"])
          err_ << "  " << (e.is_string() ? e.get<std::string>() : e.dump()) << '\n';
      }
      return kNotReady;
    }
    if (!r.ok()) return failure(r, "reload");
    if (json_) {
      printJson(r.body);
    } else {
      out_ << "config reloaded\n";
    }
    return kOk;
  }

  // --------------------------------------------------------------- events --

  static std::string deliverySummary(const json& counts) {
    std::string out;
    for (const auto& [state, n] : counts.items()) {
      out += (out.empty() ? "" : ", ") + std::to_string(n.get<int64_t>()) + " " + state;
    }
    return out.empty() ? "-" : out;
  }

  int eventShow(const std::string& id) {
    auto r = call("GET", "/events/" + pathSegment(id));
    if (!r.ok()) return failure(r, "event " + id);
    if (json_) {
      printJson(r.body);
      return kOk;
    }
    const json& e = r.body["event"];
    out_ << "event " << str(e, "id") << '\n';
    const std::vector<std::pair<const char*, const char*>> fields = {{"type", "type"},
                                                                     {"source", "source"},
                                                                     {"time", "time"},
                                                                     {"subject", "conversation"},
                                                                     {"providerid", "provider id"}};
    for (const auto& [key, label] : fields) {
      const std::string v = str(e, key);
      if (!v.empty())
        out_ << "  " << label << std::string(14 - std::string(label).size(), ' ') << v << '\n';
    }
    if (e.contains("data")) {
      std::istringstream data(e["data"].dump(2, ' ', false, json::error_handler_t::replace));
      out_ << "  data:\n";
      std::string line;
      int lines = 0;
      const int max_lines = a_.has("all") ? 1 << 30 : 40;
      while (std::getline(data, line)) {
        if (++lines > max_lines) continue;
        out_ << "    " << line << '\n';
      }
      if (lines > max_lines) {
        out_ << "    … " << (lines - max_lines) << " more lines (--all or --json shows them)\n";
      }
    }
    const json& ds = r.body["deliveries"];
    out_ << "\ndeliveries: " << ds.size() << '\n';
    for (const auto& d : ds) {
      out_ << "  #" << num(d, "id") << " -> " << str(d, "target") << " (" << str(d, "action")
           << ") route " << str(d, "route") << ": " << str(d, "state");
      if (!str(d, "dead_reason").empty()) out_ << " (" << str(d, "dead_reason") << ")";
      // attempt_count restarts with a replay; the history keeps every attempt.
      const int64_t attempts = std::max<int64_t>(
          num(d, "attempt_count"), d["attempts"].is_array() ? int64_t(d["attempts"].size()) : 0);
      out_ << ", " << attempts << " attempt" << (attempts == 1 ? "" : "s");
      if (str(d, "state") == "pending" && !str(d, "next_attempt_at").empty()) {
        out_ << ", next " << str(d, "next_attempt_at");
      }
      out_ << "\n     idempotency key " << str(d, "idempotency_key");
      if (!str(d, "provider_message_id").empty()) {
        out_ << ", provider message " << str(d, "provider_message_id");
      }
      out_ << '\n';
      for (const auto& at : d["attempts"]) {
        out_ << "     " << num(at, "attempt") << ". " << str(at, "started_at") << "  "
             << static_cast<int64_t>(at.value("duration_seconds", 0.0) * 1000) << " ms  "
             << str(at, "result");
        if (str(at, "result") != "success") out_ << " " << str(at, "reason");
        if (num(at, "http_status") > 0) out_ << "  HTTP " << num(at, "http_status");
        if (!str(at, "message").empty()) out_ << "  " << truncateDisplay(str(at, "message"), 120);
        out_ << '\n';
      }
    }
    return kOk;
  }

  int eventFind() {
    const long limit = std::strtol(a_.opt("limit", "50").c_str(), nullptr, 10);
    if (limit <= 0) {
      err_ << "sanjogctl: --limit takes a number > 0\n";
      return kUsage;
    }
    if (a_.opt("contact").empty() && a_.opt("conversation").empty() && a_.opt("instance").empty() &&
        a_.opt("type").empty() && a_.opt("since").empty() && a_.opt("until").empty()) {
      err_ << "note: no filter given; listing the newest events\n";
    }
    json found = json::array();
    std::string before;
    while (static_cast<long>(found.size()) < limit) {
      const long want = std::min<long>(1000, limit - static_cast<long>(found.size()));
      auto r = call("GET", "/events" + queryString({{"contact", a_.opt("contact")},
                                                    {"conversation", a_.opt("conversation")},
                                                    {"instance", a_.opt("instance")},
                                                    {"type", a_.opt("type")},
                                                    {"since", a_.opt("since")},
                                                    {"until", a_.opt("until")},
                                                    {"limit", std::to_string(want)},
                                                    {"before", before}}));
      if (!r.ok()) return failure(r, "events find");
      for (const auto& e : r.body["events"]) found.push_back(e);
      if (!r.body["next_before"].is_number()) break;
      before = std::to_string(r.body["next_before"].get<int64_t>());
    }
    if (json_) {
      printJson({{"events", found}});
    } else if (!found.empty()) {
      Table t({"TIME", "EVENT", "INSTANCE", "TYPE", "CONVERSATION", "DELIVERIES"});
      for (const auto& e : found) {
        t.add({str(e, "time"), str(e, "id"), str(e, "instance"), str(e, "type"),
               str(e, "conversation_id", "-"), deliverySummary(e["deliveries"])});
      }
      t.print(out_);
    }
    if (found.empty()) {
      err_ << "no events match\n";
      return kNotFound;
    }
    return kOk;
  }

  // --------------------------------------------------------- dead letters --

  int deadList() {
    const bool all = a_.has("all");
    const long limit = all ? -1 : std::strtol(a_.opt("limit", "100").c_str(), nullptr, 10);
    if (!all && limit <= 0) {
      err_ << "sanjogctl: --limit takes a number > 0 (or --all)\n";
      return kUsage;
    }
    json items = json::array();
    std::string after;
    int64_t total = -1;
    while (limit < 0 || static_cast<long>(items.size()) < limit) {
      const long want =
          limit < 0 ? 1000 : std::min<long>(1000, limit - static_cast<long>(items.size()));
      auto params = filterParams();
      params.emplace_back("limit", std::to_string(want));
      params.emplace_back("after", after);
      auto r = call("GET", "/dead-letters" + queryString(params));
      if (!r.ok()) return failure(r, "dead-letters list");
      if (total < 0) total = num(r.body, "total");
      for (const auto& d : r.body["dead_letters"]) items.push_back(d);
      if (!r.body["next_after"].is_number()) break;
      after = std::to_string(r.body["next_after"].get<int64_t>());
    }
    if (json_) {
      printJson({{"dead_letters", items}, {"total", std::max<int64_t>(total, 0)}});
      return kOk;
    }
    if (items.empty()) {
      out_ << "no dead letters"
           << (a_.opt("target").empty() && a_.opt("reason").empty() ? "" : " match") << '\n';
      return kOk;
    }
    Table t({"ID", "EVENT", "TARGET", "ROUTE", "REASON", "ATTEMPTS", "DEAD AT", "LAST ERROR"});
    for (const auto& d : items) {
      t.add({std::to_string(num(d, "id")), str(d, "event_id"), str(d, "target"), str(d, "route"),
             str(d, "reason"), std::to_string(num(d, "attempts")), str(d, "dead_at"),
             str(d, "message")});
    }
    t.print(out_);
    out_ << '\n' << items.size() << " of " << std::max<int64_t>(total, 0) << " dead letters\n";
    return kOk;
  }

  // Whether dead letter `id` exists (the list from id-1, one row).
  std::optional<json> deadLetter(int64_t id, int& rc) {
    auto r = call(
        "GET", "/dead-letters" + queryString({{"after", std::to_string(id - 1)}, {"limit", "1"}}));
    if (!r.ok()) {
      rc = failure(r, "dead letter " + std::to_string(id));
      return std::nullopt;
    }
    const json& list = r.body["dead_letters"];
    if (list.empty() || num(list[0], "id") != id) {
      rc = kNotFound;
      return std::nullopt;
    }
    return list[0];
  }

  int deadAct(bool replay) {
    const char* verb = replay ? "replay" : "delete";
    const char* done = replay ? "replayed" : "deleted";
    const bool dry = a_.has("dry-run");
    std::vector<int64_t> ids;
    for (size_t i = 2; i < a_.words.size(); ++i) {
      char* end = nullptr;
      const long long id = std::strtoll(a_.words[i].c_str(), &end, 10);
      if (end == nullptr || *end != '\0' || id <= 0) {
        err_ << "sanjogctl: not a dead letter id: " << a_.words[i] << '\n';
        return kUsage;
      }
      ids.push_back(id);
    }
    const bool by_filter = !a_.opt("target").empty() || !a_.opt("reason").empty() || a_.has("all");
    if (ids.empty() == !by_filter) {
      err_ << "sanjogctl: dead-letters " << verb
           << " takes ids, or a filter (--target T, --reason R, or --all), not both\n";
      return kUsage;
    }
    if (!ids.empty()) return deadActIds(ids, replay, dry);

    // By filter: count first, then act in batches with progress.
    auto params = filterParams();
    if (a_.has("all")) params.emplace_back("all", "true");
    auto dry_params = params;
    dry_params.emplace_back("dry_run", "true");
    auto counted = replay ? call("POST", "/dead-letters/replay" + queryString(dry_params))
                          : call("DELETE", "/dead-letters" + queryString(dry_params));
    if (!counted.ok()) return failure(counted, std::string("dead-letters ") + verb);
    const int64_t matched = num(counted.body, "matched");
    if (dry) {
      if (json_) {
        printJson({{"dry_run", true}, {"matched", matched}});
      } else {
        out_ << "would " << verb << " " << matched << " dead letter" << (matched == 1 ? "" : "s")
             << " (dry run; nothing changed)\n";
      }
      return kOk;
    }
    if (!replay && !a_.has("yes")) {
      err_ << "sanjogctl: this deletes " << matched
           << " dead letters for good; run again with --yes (or --dry-run to look first)\n";
      return kUsage;
    }
    const long batch = std::strtol(a_.opt("batch", "500").c_str(), nullptr, 10);
    if (batch <= 0) {
      err_ << "sanjogctl: --batch takes a number > 0\n";
      return kUsage;
    }
    int64_t total = 0;
    std::string after;
    while (true) {
      auto p = params;
      p.emplace_back("limit", std::to_string(batch));
      p.emplace_back("after", after);
      auto r = replay ? call("POST", "/dead-letters/replay" + queryString(p))
                      : call("DELETE", "/dead-letters" + queryString(p));
      if (!r.ok()) {
        err_ << "sanjogctl: stopped after " << total << " " << done << '\n';
        return failure(r, std::string("dead-letters ") + verb);
      }
      const int64_t n = num(r.body, done);
      total += n;
      if (n > 0 && !a_.has("quiet")) {
        err_ << done << " " << total << " of " << std::max(matched, total) << '\n';
      }
      if (n == 0 || !r.body["last_id"].is_number()) break;
      after = std::to_string(r.body["last_id"].get<int64_t>());
    }
    if (json_) {
      printJson({{done, total}, {"matched", matched}});
    } else {
      out_ << done << " " << total << " dead letter" << (total == 1 ? "" : "s") << '\n';
    }
    return kOk;
  }

  int deadActIds(const std::vector<int64_t>& ids, bool replay, bool dry) {
    const char* done = replay ? "replayed" : "deleted";
    int rc = kOk;
    json results = json::array();
    int64_t total = 0;
    for (int64_t id : ids) {
      int found_rc = kOk;
      if (dry) {
        auto d = deadLetter(id, found_rc);
        if (!d) {
          if (found_rc == kNotFound) err_ << "no dead letter " << id << '\n';
          rc = std::max(rc, found_rc);
          continue;
        }
        results.push_back(*d);
        if (!json_) {
          out_ << "would " << (replay ? "replay" : "delete") << " #" << id << " (event "
               << str(*d, "event_id") << " -> " << str(*d, "target") << ", " << str(*d, "reason")
               << ")\n";
        }
        continue;
      }
      auto r = replay ? call("POST", "/dead-letters/" + std::to_string(id) + "/replay")
                      : call("DELETE", "/dead-letters/" + std::to_string(id));
      if (!r.ok()) {
        rc = std::max(rc, failure(r, std::string(done) + " #" + std::to_string(id)));
        continue;
      }
      ++total;
      results.push_back(id);
      if (!json_) out_ << done << " #" << id << '\n';
    }
    if (json_) {
      printJson(dry ? json{{"dry_run", true}, {"matched", results}} : json{{done, results}});
    }
    return rc;
  }

  // ------------------------------------------------------------- contacts --

  static json counts(const json& data) {
    json c = json::object();
    for (const char* k : {"conversations", "events", "deliveries", "state", "timers"}) {
      c[k] = data.contains(k) && data[k].is_array() ? data[k].size() : 0;
    }
    return c;
  }

  static std::string countsText(const json& c) {
    std::string out;
    for (const auto& [k, v] : c.items()) {
      out += (out.empty() ? "" : ", ") + std::to_string(v.get<int64_t>()) + " " + k;
    }
    return out;
  }

  static bool nothing(const json& c) {
    return std::all_of(c.begin(), c.end(), [](const json& v) { return v.get<int64_t>() == 0; });
  }

  int contactExport(const std::string& id) {
    auto r = call("GET", "/contacts/" + pathSegment(id) + "/export");
    if (!r.ok()) return failure(r, "contacts export");
    const json c = counts(r.body);
    const std::string text = r.body.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
    const std::string file = a_.opt("output");
    if (file.empty()) {
      out_ << text;
    } else {
      // Personal data: readable by the owner only.
      const mode_t old = ::umask(077);
      std::ofstream f(file, std::ios::trunc);
      ::umask(old);
      if (!(f << text)) {
        err_ << "sanjogctl: cannot write " << file << '\n';
        return kFailed;
      }
    }
    err_ << "exported " << countsText(c) << '\n';
    return nothing(c) ? kNotFound : kOk;
  }

  int contactErase(const std::string& id) {
    if (!a_.has("yes")) {
      auto r = call("GET", "/contacts/" + pathSegment(id) + "/export");
      if (!r.ok()) return failure(r, "contacts erase");
      const json c = counts(r.body);
      if (json_) {
        printJson({{"dry_run", true}, {"would_erase", c}});
      } else {
        out_ << "would erase " << countsText(c) << '\n';
      }
      if (a_.has("dry-run")) return nothing(c) ? kNotFound : kOk;
      err_ << "sanjogctl: erasure cannot be undone; run again with --yes\n";
      return kUsage;
    }
    auto r = call("DELETE", "/contacts/" + pathSegment(id));
    if (!r.ok()) return failure(r, "contacts erase");
    const json& c = r.body["erased"];
    if (json_) {
      printJson(r.body);
    } else {
      out_ << "erased " << countsText(c) << '\n';
    }
    return nothing(c) ? kNotFound : kOk;
  }

  // --------------------------------------------------------- check-config --

  // sanjogd next to this program, else from PATH.
  static std::string findSanjogd() {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
      const auto sibling = self.parent_path() / "sanjogd";
      if (std::filesystem::exists(sibling, ec)) return sibling.string();
    }
    return "sanjogd";
  }

  int checkConfig() {
    if (a_.words.size() != 2) {
      err_ << "sanjogctl: check-config takes one config file\n";
      return kUsage;
    }
    const std::string binary = a_.opt("sanjogd", findSanjogd());
    std::vector<std::string> args = {"--check-config", "--config", a_.words[1]};
    if (!a_.opt("plugin-dir").empty()) {
      args.emplace_back("--plugin-dir");
      args.push_back(a_.opt("plugin-dir"));
    }
    std::string output;
    int code = 0;
    try {
      Poco::Pipe pipe;
      Poco::ProcessHandle ph = Poco::Process::launch(binary, args, nullptr, &pipe, &pipe);
      Poco::PipeInputStream in(pipe);
      std::ostringstream text;
      Poco::StreamCopier::copyStream(in, text);
      output = text.str();
      code = ph.wait();
    } catch (const Poco::Exception& e) {
      err_ << "sanjogctl: cannot run " << binary << ": " << e.displayText() << '\n';
      return kFailed;
    }
    std::vector<std::string> lines;
    std::istringstream ls(output);
    for (std::string line; std::getline(ls, line);) {
      if (!line.empty()) lines.push_back(line);
    }
    if (json_) {
      json problems = json::array();
      for (const auto& l : lines) {
        if (l.rfind("instance=", 0) == 0) problems.push_back(l);
      }
      printJson({{"valid", code == 0}, {"problems", problems}, {"output", lines}});
    } else {
      (code == 0 ? out_ : err_) << output;
    }
    if (code == 0) return kOk;
    return code == 78 ? kNotReady : (code == 64 ? kUsage : kFailed);
  }

  Args a_;
  std::ostream& out_;
  std::ostream& err_;
  bool json_;
  std::optional<AdminClient> client_;
};

}  // namespace

std::string usage() {
  return R"(usage: sanjogctl [--url URL] [--token T | --token-file F] [--json] COMMAND

Talks to the admin listener of sanjogd (default http://127.0.0.1:9464;
SANJOG_ADMIN_URL). The admin token comes from --token, --token-file,
SANJOG_ADMIN_TOKEN or SANJOG_ADMIN_TOKEN_FILE.

commands:
  status                            readiness, instances, queue, dead letters
  events show ID [--all]            an event, its deliveries and every attempt
  events find [--contact C] [--conversation ID] [--instance I] [--type T]
              [--since S] [--until U] [--limit N]
                                    newest first; S/U: 2026-12-03T10:00:00Z or 2h, 7d
  dead-letters list [--target T] [--reason R] [--limit N | --all]
  dead-letters replay ID... | --target T | --reason R | --all  [--dry-run] [--batch N]
  dead-letters delete ID... | --target T | --reason R | --all  [--dry-run] [--yes]
  reload                            re-read and apply the config file (SIGHUP)
  contacts export ID [--output FILE]
  contacts erase ID [--dry-run | --yes]
  check-config FILE [--plugin-dir DIR] [--sanjogd PATH]

options: --json (machine-readable output), --timeout SECONDS (30), --quiet
(no progress lines), --help, --version

exit codes: 0 ok; 1 the daemon answered an error; 2 usage, or the request
was refused as invalid; 3 not ready / an instance degraded (status), config
rejected (reload, check-config); 4 not found (events find: no match);
5 admin API unreachable; 6 token refused or locked out.
)";
}

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto parsed = parse(args, err);
  if (!parsed) {
    err << '\n' << usage();
    return kUsage;
  }
  try {
    return Command(std::move(*parsed), out, err).dispatch();
  } catch (const std::exception& e) {
    err << "sanjogctl: " << e.what() << '\n';
    return kFailed;
  }
}

}  // namespace sanjog::ctl
