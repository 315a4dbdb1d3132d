#include "automation/engine.h"

#include <algorithm>
#include <set>

#include "automation/text_match.h"
#include "common/log.h"
#include "config/config_loader.h"
#include "routing/text.h"

namespace sanjog::automation {

namespace {

using nlohmann::json;
constexpr const char* kLog = "sanjog.automation";
constexpr int64_t kHour = 3'600'000;
constexpr int64_t kDay = 24 * kHour;
constexpr int64_t kWhatsAppWindowMs = 24 * kHour;

std::string str(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

const json& member(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it != obj.end() ? *it : kNull;
}

int64_t toInt(const std::optional<std::string>& v) {
  if (!v || v->empty()) return 0;
  try {
    return std::stoll(*v);
  } catch (const std::exception&) {
    return 0;
  }
}

bus::StateWrite put(const std::string& key, const std::string& value, int64_t ttl_ms,
                    bool only_if_absent = false) {
  return bus::StateWrite{kStateInstance, key, value, ttl_ms, false, only_if_absent};
}
bus::StateWrite erase(const std::string& key) {
  return bus::StateWrite{kStateInstance, key, "", 0, true, false};
}

// The kind of channel behind a plugin, for what a message may contain.
enum class ChannelKind { kWhatsApp, kInteractive, kSms, kText };
ChannelKind channelKind(const std::string& plugin) {
  if (plugin == "channel_whatsapp") return ChannelKind::kWhatsApp;
  if (plugin == "channel_messenger" || plugin == "channel_instagram" ||
      plugin == "channel_telegram") {
    return ChannelKind::kInteractive;
  }
  if (plugin.rfind("sms_", 0) == 0) return ChannelKind::kSms;
  return ChannelKind::kText;
}

struct Base {
  std::string id;
  std::string type;
  std::set<std::string> instances;  // empty: every instance
  [[nodiscard]] bool applies(const std::string& instance) const {
    return instances.empty() || instances.count(instance) > 0;
  }
};

struct Greeting : Base {
  routing::JsonTemplate message;
  int64_t inactivity_ms = 7 * kDay;
  int64_t pause_after_human_ms = kHour;
};

struct Away : Base {
  std::string calendar;
  routing::JsonTemplate message;
  int64_t pause_after_human_ms = kHour;
};

struct OrderRule {
  routing::JsonTemplate message;  // what the channel gets
  routing::JsonTemplate sms;      // {"text": ...} for the fallback instances, may be empty
};

struct Orders : Base {
  std::string channel;
  std::vector<std::string> fallback;
  std::map<std::string, OrderRule> events;
};

struct Cart : Base {
  std::string channel;
  std::vector<std::string> fallback;
  std::vector<int64_t> delays_ms;
  std::optional<QuietHours> quiet;
  routing::JsonTemplate message;
  routing::JsonTemplate sms;
};

struct Csat : Base {
  int64_t delay_ms = 10 * 60'000;
  int64_t answer_within_ms = 3 * kDay;
  std::string question;
  std::vector<std::string> labels;
  json template_spec;  // {name, language} for a closed WhatsApp window, or null
};

struct BotRule {
  std::vector<std::string> keywords;  // folded
  std::optional<routing::Filter> pattern;
  routing::JsonTemplate reply;
};

struct Bot : Base {
  std::vector<BotRule> rules;
  std::vector<std::string> handoff_keywords;
  routing::JsonTemplate handoff_reply;
  int64_t handoff_for_ms = kDay;
  int64_t pause_after_human_ms = 12 * kHour;
};

struct Fallback : Base {
  int64_t deadline_ms = 10 * 60'000;
};

}  // namespace

struct Engine::Impl {
  metrics::Metrics* metrics = nullptr;
  config::Defaults defaults;
  std::map<std::string, std::string> plugin_of;  // instance -> plugin
  std::map<std::string, std::string> type_of;    // automation id -> type
  std::map<std::string, int64_t> skip_late_ms;
  std::map<std::string, Calendar> calendars;
  std::vector<Greeting> greetings;
  std::vector<Away> aways;
  std::vector<Orders> orders;
  std::vector<Cart> carts;
  std::vector<Csat> csats;
  std::vector<Bot> bots;
  std::optional<Fallback> fallback;
  std::vector<std::string> stop_words;  // extra opt-out words (folded)

  std::function<void()> count(const std::string& automation, const std::string& result) const {
    auto* m = metrics;
    return [m, automation, result] {
      if (m != nullptr) {
        m->automation_actions.Add({{"automation", automation}, {"result", result}}).Increment();
      }
    };
  }
  // After commit: the seconds since `at`, given to `observe` with the
  // channel (KPI histograms).
  using Observe = void (*)(metrics::Metrics&, const std::string& channel, double seconds);
  std::function<void()> since(int64_t at, const std::string& channel, int64_t now,
                              Observe observe) const {
    const double seconds = at > 0 && now > at ? double(now - at) / 1000.0 : 0.0;
    auto* m = metrics;
    return [m, channel, seconds, observe] {
      if (m != nullptr) observe(*m, channel, seconds);
    };
  }
  void countNow(const std::string& automation, const std::string& result) const {
    count(automation, result)();
  }

  [[nodiscard]] std::string pluginOf(const std::string& instance) const {
    auto it = plugin_of.find(instance);
    return it == plugin_of.end() ? std::string() : it->second;
  }
  // The channel label of an instance: whatsapp, messenger, ..., sms.
  [[nodiscard]] std::string channelOf(const std::string& instance) const {
    const std::string plugin = pluginOf(instance);
    if (plugin.rfind("channel_", 0) == 0) return plugin.substr(8);
    if (plugin.rfind("sms_", 0) == 0) return "sms";
    return plugin.empty() ? "unknown" : plugin;
  }

  [[nodiscard]] bool humanActive(bus::Bus& bus, const std::string& conv, int64_t now,
                                 int64_t pause_ms) const {
    const int64_t at = toInt(bus.kvGet(kStateInstance, "human:" + conv));
    return at > 0 && now - at < pause_ms;
  }

  // A message.send event from an automation.
  static Emitted makeSend(const std::string& automation, const std::string& providerid,
                          const std::string& instance, const std::string& to, json message,
                          const json& cause, const json& fallback = json()) {
    json data = {{"instance", instance}, {"to", to}, {"message", std::move(message)}};
    if (!cause.is_null()) data["cause"] = cause;
    if (fallback.is_array() && !fallback.empty()) data["fallback"] = fallback;
    return {automation, {{"type", "message.send"}, {"providerid", providerid}, {"data", data}}, {}};
  }

  void onMessage(const Trigger& t, bus::AppendItem& item, bus::Bus& bus, int64_t now,
                 std::vector<Emitted>& out) const;
  void onSend(const Trigger& t, bus::AppendItem& item, bus::Bus& bus, int64_t now) const;
  void onResolved(const Trigger& t, bus::AppendItem& item, bus::Bus& bus, int64_t now) const;
  void onOrder(const Trigger& t, bus::AppendItem& item, std::vector<Emitted>& out) const;
  void onCheckout(const Trigger& t, bus::AppendItem& item, bus::Bus& bus, int64_t now) const;
  void onStatus(const Trigger& t, bus::AppendItem& item, bus::Bus& bus,
                std::vector<Emitted>& out) const;

  // The next send of a failed message.send's fallback list (at most one per
  // send: the provider id is derived from the failed delivery).
  std::optional<Emitted> nextHop(const json& send, const std::string& delivery_key,
                                 const std::string& why, bus::Bus& bus) const;
  [[nodiscard]] std::string fallbackSource() const {
    return fallback ? fallback->id : std::string(kDefaultFallbackSource);
  }

  Decision fireCart(const bus::Timer& timer, const Cart& cart, bus::Bus& bus, int64_t now) const;
  Decision fireCsat(const bus::Timer& timer, const Csat& csat, bus::Bus& bus, int64_t now) const;
  Decision fireFallback(const bus::Timer& timer, bus::Bus& bus) const;
};

// ------------------------------------------------------------------ build --

std::variant<std::shared_ptr<const Engine>, std::vector<config::ConfigError>> Engine::build(
    const config::Config& config, metrics::Metrics* metrics) {
  auto impl = std::make_shared<Impl>();
  impl->metrics = metrics;
  impl->defaults = config.defaults;
  for (const auto& ic : config.instances) impl->plugin_of[ic.id] = ic.plugin;
  std::vector<config::ConfigError> errors;
  const json list = config.automations.is_array() ? config.automations : json::array();

  auto duration = [&](const json& a, const char* key, int64_t fallback, const std::string& ptr) {
    if (!a.contains(key)) return fallback;
    auto d = a[key].is_string() ? config::ConfigLoader::parseDuration(a[key].get<std::string>())
                                : std::nullopt;
    if (!d || d->count() <= 0) {
      errors.push_back({"", ptr + "/" + key, "not a positive duration such as 30s, 10m, 1h, 7d"});
      return fallback;
    }
    return static_cast<int64_t>(d->count());
  };
  auto instanceList = [&](const json& a, const char* key, const std::string& ptr) {
    std::vector<std::string> out;
    const json& v = member(a, key);
    if (!v.is_array()) return out;
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string id = v[i].is_string() ? v[i].get<std::string>() : "";
      if (!config.findInstance(id)) {
        errors.push_back(
            {"", ptr + "/" + key + "/" + std::to_string(i), "no instance named " + id});
      }
      out.push_back(id);
    }
    return out;
  };
  auto instance = [&](const json& a, const char* key, const std::string& ptr) {
    const std::string id = str(a, key);
    if (!config.findInstance(id)) {
      errors.push_back({"", ptr + "/" + key, "no instance named " + id});
    }
    return id;
  };
  auto templ = [&](const json& value, const std::string& ptr) {
    if (value.is_null()) return routing::JsonTemplate();
    auto compiled = routing::JsonTemplate::compile(value);
    if (auto* errs = std::get_if<std::vector<std::pair<std::string, std::string>>>(&compiled)) {
      for (const auto& [at, why] : *errs) errors.push_back({"", ptr + at, why});
      return routing::JsonTemplate();
    }
    return std::get<routing::JsonTemplate>(std::move(compiled));
  };
  auto folded = [](const json& v) {
    std::vector<std::string> out;
    if (!v.is_array()) return out;
    for (const auto& k : v) {
      if (k.is_string() && !k.get<std::string>().empty())
        out.push_back(routing::normalizeText(k.get<std::string>()));
    }
    return out;
  };
  auto base = [&](Base& b, const json& a, const std::string& ptr) {
    b.id = str(a, "id");
    b.type = str(a, "type");
    for (const auto& i : instanceList(a, "instances", ptr)) b.instances.insert(i);
    for (const auto& i : instanceList(a, "from", ptr)) b.instances.insert(i);
  };

  // Calendars first: other automations refer to them.
  for (size_t i = 0; i < list.size(); ++i) {
    const json& a = list[i];
    const std::string ptr = "/automations/" + std::to_string(i);
    const std::string id = str(a, "id");
    if (id.empty()) {
      errors.push_back({"", ptr + "/id", "every automation needs an id"});
      continue;
    }
    if (impl->type_of.count(id) > 0) {
      errors.push_back({"", ptr + "/id", "duplicate automation id " + id});
    }
    if (config.findInstance(id) || id == "api") {
      errors.push_back({"", ptr + "/id", "automation id " + id + " is also an instance id"});
    }
    impl->type_of[id] = str(a, "type");
    if (str(a, "type") == "business_hours") {
      if (auto c = Calendar::parse(a, ptr, config.defaults.timezone, errors)) {
        impl->calendars.emplace(id, std::move(*c));
      }
    }
  }

  for (size_t i = 0; i < list.size(); ++i) {
    const json& a = list[i];
    const std::string ptr = "/automations/" + std::to_string(i);
    if (a.value("enabled", true) == false) {
      impl->type_of.erase(str(a, "id"));
      continue;
    }
    const std::string type = str(a, "type");
    if (type == "business_hours") continue;
    if (type == "greeting") {
      Greeting g;
      base(g, a, ptr);
      g.message = templ(member(a, "message"), ptr + "/message");
      g.inactivity_ms = duration(a, "inactivity", g.inactivity_ms, ptr);
      g.pause_after_human_ms = duration(a, "pause_after_human", g.pause_after_human_ms, ptr);
      impl->greetings.push_back(std::move(g));
    } else if (type == "away_message") {
      Away w;
      base(w, a, ptr);
      w.calendar = str(a, "calendar");
      if (impl->calendars.count(w.calendar) == 0) {
        errors.push_back(
            {"", ptr + "/calendar", "no business_hours automation named " + w.calendar});
      }
      w.message = templ(member(a, "message"), ptr + "/message");
      w.pause_after_human_ms = duration(a, "pause_after_human", w.pause_after_human_ms, ptr);
      impl->aways.push_back(std::move(w));
    } else if (type == "order_notifications") {
      Orders o;
      base(o, a, ptr);
      o.channel = instance(a, "channel", ptr);
      o.fallback = instanceList(a, "fallback", ptr);
      for (const auto& [ev, spec] : member(a, "events").items()) {
        const std::string ep = ptr + "/events/" + ev;
        OrderRule rule;
        json message = json::object();
        if (spec.contains("template")) message["template"] = spec["template"];
        if (spec.contains("text")) message["text"] = spec["text"];
        if (message.empty()) {
          errors.push_back({"", ep, "give a template (WhatsApp) or a text"});
        } else if (impl->pluginOf(o.channel) == "channel_whatsapp" && !spec.contains("template")) {
          errors.push_back({"", ep,
                            "WhatsApp delivers only approved templates to customers who have not "
                            "written in 24 hours; give a template"});
        }
        rule.message = templ(message, ep);
        if (spec.contains("sms")) rule.sms = templ(json{{"text", spec["sms"]}}, ep + "/sms");
        o.events.emplace(ev, std::move(rule));
      }
      impl->orders.push_back(std::move(o));
    } else if (type == "cart_recovery") {
      Cart c;
      base(c, a, ptr);
      c.channel = instance(a, "channel", ptr);
      c.fallback = instanceList(a, "fallback", ptr);
      const json delays = a.value("delays", json::array({"1h", "24h"}));
      for (size_t d = 0; d < delays.size(); ++d) {
        auto v = delays[d].is_string()
                     ? config::ConfigLoader::parseDuration(delays[d].get<std::string>())
                     : std::nullopt;
        if (!v || v->count() <= 0) {
          errors.push_back({"", ptr + "/delays/" + std::to_string(d), "not a positive duration"});
          continue;
        }
        c.delays_ms.push_back(static_cast<int64_t>(v->count()));
      }
      if (a.contains("quiet_hours")) {
        c.quiet = QuietHours::parse(a["quiet_hours"], ptr + "/quiet_hours",
                                    a.value("timezone", config.defaults.timezone), errors);
      }
      c.message = templ(member(a, "message"), ptr + "/message");
      if (impl->pluginOf(c.channel) == "channel_whatsapp" &&
          !member(a, "message").contains("template")) {
        errors.push_back({"", ptr + "/message",
                          "WhatsApp delivers only approved templates to customers who have not "
                          "written in 24 hours; give message.template"});
      }
      if (a.contains("sms")) c.sms = templ(json{{"text", a["sms"]}}, ptr + "/sms");
      for (const auto& w : folded(member(a, "stop_keywords"))) impl->stop_words.push_back(w);
      impl->carts.push_back(std::move(c));
    } else if (type == "csat_survey") {
      Csat c;
      base(c, a, ptr);
      c.delay_ms = duration(a, "delay", c.delay_ms, ptr);
      c.answer_within_ms = duration(a, "answer_within", c.answer_within_ms, ptr);
      c.question = a.value("question",
                           "আমাদের সেবা কেমন লেগেছে? ১ (খারাপ) থেকে ৫ (চমৎকার) দিন। "
                           "How did we do? Reply 1 (bad) to 5 (great).");
      c.labels = a.value("labels", std::vector<std::string>{"1 খুব খারাপ", "2 খারাপ", "3 মোটামুটি",
                                                            "4 ভালো", "5 চমৎকার"});
      if (c.labels.size() != 5) {
        errors.push_back({"", ptr + "/labels", "give exactly 5 labels, for 1 to 5"});
      }
      c.template_spec = member(a, "template");
      impl->csats.push_back(std::move(c));
    } else if (type == "keyword_bot") {
      Bot b;
      base(b, a, ptr);
      const json& rules = member(a, "rules");
      for (size_t r = 0; r < rules.size(); ++r) {
        const std::string rp = ptr + "/rules/" + std::to_string(r);
        BotRule rule;
        rule.keywords = folded(member(rules[r], "keywords"));
        if (auto p = str(rules[r], "pattern"); !p.empty()) {
          auto f = routing::Filter::compile(json{{"data.message.text", {{"$regex", p}}}});
          if (!f) {
            errors.push_back({"", rp + "/pattern", f.status().message()});
          } else {
            rule.pattern = std::move(f).value();
          }
        }
        if (rule.keywords.empty() && !rule.pattern) {
          errors.push_back({"", rp, "a rule needs keywords or a pattern"});
        }
        rule.reply = templ(member(rules[r], "reply"), rp + "/reply");
        b.rules.push_back(std::move(rule));
      }
      const json& handoff = member(a, "handoff");
      b.handoff_keywords = folded(member(handoff, "keywords"));
      b.handoff_reply = templ(member(handoff, "reply"), ptr + "/handoff/reply");
      b.handoff_for_ms = duration(handoff, "pause", b.handoff_for_ms, ptr + "/handoff");
      b.pause_after_human_ms = duration(a, "pause_after_human", b.pause_after_human_ms, ptr);
      impl->bots.push_back(std::move(b));
    } else if (type == "fallback") {
      if (impl->fallback) {
        errors.push_back({"", ptr + "/type", "only one fallback automation may be configured"});
      }
      Fallback f;
      base(f, a, ptr);
      f.deadline_ms = duration(a, "deadline", f.deadline_ms, ptr);
      impl->fallback = std::move(f);
    } else {
      errors.push_back({"", ptr + "/type", "unknown automation type " + type});
    }
    impl->skip_late_ms[str(a, "id")] = duration(a, "skip_if_late", 12 * kHour, ptr);
  }
  if (!errors.empty()) return errors;
  auto engine = std::make_shared<Engine>();
  engine->impl_ = std::move(impl);
  return std::shared_ptr<const Engine>(std::move(engine));
}

bool Engine::isAutomation(const std::string& id) const {
  return impl_->type_of.count(id) > 0 || id == kDefaultFallbackSource;
}

// ----------------------------------------------------------------- events --

std::vector<Emitted> Engine::onEvent(const Trigger& t, bus::AppendItem& item, bus::Bus& bus,
                                     int64_t now_ms) const {
  std::vector<Emitted> out;
  const std::string type = str(*t.event, "type");
  const auto& I = *impl_;
  if (type == "message.received" && !t.conversation_id.empty() && !t.from_automation) {
    I.onMessage(t, item, bus, now_ms, out);
  } else if (type == "message.send" && !t.conversation_id.empty()) {
    I.onSend(t, item, bus, now_ms);
  } else if (type == "conversation.resolved") {
    I.onResolved(t, item, bus, now_ms);
  } else if (type == "order.created" || type == "order.paid" || type == "order.fulfilled" ||
             type == "order.cancelled") {
    I.onOrder(t, item, out);
  } else if (type == "checkout.updated") {
    I.onCheckout(t, item, bus, now_ms);
  } else if (type == "message.status") {
    I.onStatus(t, item, bus, out);
  }
  return out;
}

void Engine::Impl::onMessage(const Trigger& t, bus::AppendItem& item, bus::Bus& bus, int64_t now,
                             std::vector<Emitted>& out) const {
  const json& ev = *t.event;
  const json& data = member(ev, "data");
  const std::string& conv = t.conversation_id;
  std::string channel = str(data, "channel");
  if (channel.empty()) channel = "unknown";
  const int64_t inbound = item.conversation ? item.conversation->inbound_ms : now;
  // KPIs live on the conversation row the message writes anyway: it starts
  // waiting for a reply (unless it already waits) and opens. An automated
  // reply made here answers at once, from the oldest unanswered message.
  bool replied = false;
  struct AwaitMark {
    const Impl* self;
    bus::AppendItem& item;
    bus::Bus& bus;
    const std::string& conv;
    const std::string& channel;
    int64_t inbound;
    int64_t now;
    bool& replied;
    bool skip = false;
    ~AwaitMark() {
      if (!replied && !skip) return;
      if (item.conversation) item.conversation->start_waiting = false;
      if (skip) return;
      const auto c = bus.conversation(conv);
      const bool waiting = c && c->awaiting_ms > 0;
      if (waiting) item.conversation_clears.push_back({conv, true, false});
      item.on_commit.push_back(self->since(
          waiting ? c->awaiting_ms : inbound, channel, now,
          [](metrics::Metrics& m, const std::string& ch, double s) {
            m.first_response
                .Add({{"channel", ch}, {"kind", "automated"}}, metrics::conversationBuckets())
                .Observe(s);
          }));
    }
  } await_mark{this, item, bus, conv, channel, inbound, now, replied};

  const json& message = member(data, "message");
  // Folding is only needed by the rules that read the text.
  const bool reads_text = !carts.empty() || !bots.empty() || !csats.empty();
  const std::string text = reads_text ? routing::normalizeText(str(message, "text")) : "";
  const std::string phone = str(member(data, "contact"), "phone");
  const std::string who = phone.empty() ? t.address : phone;
  const std::string trigger_key =
      t.source + ":" + (str(ev, "providerid").empty() ? str(ev, "id") : str(ev, "providerid"));

  // Marketing opt-out (cart reminders), in English and Bengali.
  if (!text.empty() && isOptOut(text, stop_words)) {
    item.state.push_back(put("optout:" + who, "1", 0));
    for (const auto& c : carts) {
      bus::TimerOp op;
      op.kind = bus::TimerOp::Kind::kCancelGroup;
      op.timer.automation = c.id;
      op.timer.group = who;
      item.timers.push_back(op);
      item.on_commit.push_back(count(c.id, "opted_out"));
    }
    log::info(kLog, "contact opted out of reminders", {{"conversation_id", conv}});
    await_mark.skip = true;
    return;
  }
  if (!text.empty() && isOptIn(text)) item.state.push_back(erase("optout:" + who));

  // An answer to a CSAT survey.
  if (auto pending = csats.empty() ? std::nullopt : bus.kvGet(kStateInstance, "csat:" + conv)) {
    const std::string interactive_id = str(member(message, "interactive"), "id");
    if (auto score = parseRating(text, interactive_id)) {
      const std::string survey = pending->substr(0, pending->find('|'));
      json response = {{"type", "csat.response"},
                       {"providerid", "csat-response:" + conv + ":" + *pending},
                       {"subject", conv},
                       {"data",
                        {{"conversation_id", conv},
                         {"score", *score},
                         {"channel", channel},
                         {"instance", t.instance}}}};
      if (!str(message, "text").empty()) response["data"]["comment"] = str(message, "text");
      if (data.contains("contact")) response["data"]["contact"] = data["contact"];
      auto* m = metrics;
      Emitted e{survey, std::move(response), {count(survey, "answered")}};
      const std::string score_label = std::to_string(*score);
      e.on_commit.push_back([m, channel, score_label] {
        if (m != nullptr) {
          m->csat_responses.Add({{"channel", channel}, {"score", score_label}}).Increment();
        }
      });
      out.push_back(std::move(e));
      item.state.push_back(erase("csat:" + conv));
      await_mark.skip = true;
      return;
    }
  }

  auto reply = [&](const std::string& automation, const std::string& providerid,
                   const routing::JsonTemplate& tmpl, const std::string& result) {
    if (tmpl.empty() || t.instance.empty() || t.address.empty()) return;
    Emitted e = makeSend(automation, providerid, t.instance, t.address, tmpl.render(ev),
                         json{{"event_id", str(ev, "id")}, {"type", "message.received"}});
    e.on_commit.push_back(count(automation, result));
    out.push_back(std::move(e));
    replied = true;
  };

  bool answered = false;
  for (const auto& bot : bots) {
    if (answered || !bot.applies(t.source)) continue;
    if (bus.kvGet(kStateInstance, "handoff:" + conv)) {
      item.on_commit.push_back(count(bot.id, "silent_handoff"));
      continue;
    }
    if (humanActive(bus, conv, now, bot.pause_after_human_ms)) {
      item.on_commit.push_back(count(bot.id, "silent_human"));
      continue;
    }
    const bool handoff =
        std::any_of(bot.handoff_keywords.begin(), bot.handoff_keywords.end(),
                    [&](const std::string& k) { return containsKeyword(text, k); });
    if (handoff) {
      json ho = {{"type", "conversation.handoff"},
                 {"providerid", "handoff:" + bot.id + ":" + trigger_key},
                 {"subject", conv},
                 {"data",
                  {{"conversation_id", conv},
                   {"reason", "keyword"},
                   {"text", str(message, "text")},
                   {"channel", channel},
                   {"instance", t.instance}}}};
      if (data.contains("contact")) ho["data"]["contact"] = data["contact"];
      out.push_back({bot.id, std::move(ho), {count(bot.id, "handoff")}});
      item.state.push_back(put("handoff:" + conv, std::to_string(now), bot.handoff_for_ms));
      reply(bot.id, "bot:" + bot.id + ":" + trigger_key, bot.handoff_reply, "handoff_reply");
      answered = true;
      continue;
    }
    for (const auto& rule : bot.rules) {
      bool hit = std::any_of(rule.keywords.begin(), rule.keywords.end(),
                             [&](const std::string& k) { return containsKeyword(text, k); });
      if (!hit && rule.pattern) hit = rule.pattern->matches(ev);
      if (!hit) continue;
      reply(bot.id, "bot:" + bot.id + ":" + trigger_key, rule.reply, "answered");
      answered = true;
      break;
    }
    if (!answered) item.on_commit.push_back(count(bot.id, "no_match"));
  }
  if (answered) return;

  for (const auto& away : aways) {
    if (!away.applies(t.source)) continue;
    const auto& cal = calendars.at(away.calendar);
    if (cal.isOpen(now)) continue;
    if (humanActive(bus, conv, now, away.pause_after_human_ms)) {
      item.on_commit.push_back(count(away.id, "skipped_human"));
      continue;
    }
    // Once per closed period: the period is named by the time it ends.
    const int64_t opens = cal.nextOpen(now);
    reply(away.id, "away:" + away.id + ":" + conv + ":" + std::to_string(opens), away.message,
          "sent");
    return;
  }

  if (greetings.empty()) return;
  const auto previous = bus.conversation(conv);
  for (const auto& g : greetings) {
    if (!g.applies(t.source)) continue;
    const int64_t last = previous ? previous->last_inbound_ms : 0;
    if (previous && now - last < g.inactivity_ms) continue;
    if (humanActive(bus, conv, now, g.pause_after_human_ms)) {
      item.on_commit.push_back(count(g.id, "skipped_human"));
      continue;
    }
    reply(g.id, "greeting:" + g.id + ":" + conv + ":" + std::to_string(last), g.message, "sent");
    return;
  }
}

void Engine::Impl::onSend(const Trigger& t, bus::AppendItem& item, bus::Bus& bus,
                          int64_t now) const {
  const std::string& conv = t.conversation_id;
  // Automated replies are counted where they are made (onMessage); sends an
  // automation starts on its own (reminders, surveys) answer nobody.
  if (t.from_automation) return;
  if (const auto c = bus.conversation(conv); c && c->awaiting_ms > 0) {
    item.conversation_clears.push_back({conv, true, false});
    item.on_commit.push_back(since(
        c->awaiting_ms, channelOf(c->instance), now,
        [](metrics::Metrics& m, const std::string& ch, double s) {
          m.first_response.Add({{"channel", ch}, {"kind", "human"}}, metrics::conversationBuckets())
              .Observe(s);
        }));
  }
  item.state.push_back(put("human:" + conv, std::to_string(now), 7 * kDay));
}

void Engine::Impl::onResolved(const Trigger& t, bus::AppendItem& item, bus::Bus& bus,
                              int64_t now) const {
  const std::string conv = t.conversation_id.empty()
                               ? str(member(*t.event, "data"), "conversation_id")
                               : t.conversation_id;
  if (conv.empty()) return;
  const auto c = bus.conversation(conv);
  if (c && c->opened_ms > 0) {
    item.conversation_clears.push_back({conv, true, true});
    item.on_commit.push_back(
        since(c->opened_ms, channelOf(c->instance), now,
              [](metrics::Metrics& m, const std::string& ch, double s) {
                m.resolution.Add({{"channel", ch}}, metrics::conversationBuckets()).Observe(s);
              }));
  }
  if (!bots.empty()) item.state.push_back(erase("handoff:" + conv));  // the bot may answer again
  if (csats.empty()) return;
  for (const auto& csat : csats) {
    if (!c) {
      item.on_commit.push_back(count(csat.id, "no_conversation"));
      continue;
    }
    if (!csat.applies(c->instance)) continue;
    bus::TimerOp op;
    op.kind = bus::TimerOp::Kind::kSchedule;  // once per conversation
    op.timer = {"csat:" + csat.id + ":" + conv,        csat.id, conv, "", now + csat.delay_ms,
                json{{"conversation_id", conv}}.dump()};
    item.timers.push_back(op);
    item.on_commit.push_back(count(csat.id, "scheduled"));
  }
}

void Engine::Impl::onOrder(const Trigger& t, bus::AppendItem& item,
                           std::vector<Emitted>& out) const {
  const json& ev = *t.event;
  const json& data = member(ev, "data");
  const std::string type = str(ev, "type");
  const std::string phone = str(member(data, "customer"), "phone");
  const std::string checkout = str(data, "checkout_id");
  // An order ends cart recovery for its checkout and its customer.
  for (const auto& c : carts) {
    if (!c.applies(t.source)) continue;
    for (auto kind : {bus::TimerOp::Kind::kCancelGroup, bus::TimerOp::Kind::kCancelRef}) {
      bus::TimerOp op;
      op.kind = kind;
      op.timer.automation = c.id;
      op.timer.group = phone;
      op.timer.ref = checkout.empty() ? std::string() : t.source + ":" + checkout;
      item.timers.push_back(op);
    }
  }
  const std::string order_id = str(data, "order_id");
  for (const auto& o : orders) {
    auto rule = o.events.find(type);
    if (!o.applies(t.source) || rule == o.events.end()) continue;
    if (phone.empty()) {
      item.on_commit.push_back(count(o.id, "no_phone"));
      log::warn(kLog, "order without a customer phone; no notification",
                {{"event_id", str(ev, "id")}, {"automation", o.id}});
      continue;
    }
    json fallback = json::array();
    for (const auto& f : o.fallback) {
      json hop = {{"instance", f}};
      if (!rule->second.sms.empty()) hop["message"] = rule->second.sms.render(ev);
      fallback.push_back(hop);
    }
    const std::string key = order_id.empty() ? str(ev, "id") : order_id;
    Emitted e = makeSend(o.id, "order:" + o.id + ":" + t.source + ":" + key + ":" + type, o.channel,
                         phone, rule->second.message.render(ev),
                         json{{"event_id", str(ev, "id")}, {"type", type}}, fallback);
    e.on_commit.push_back(count(o.id, "sent"));
    out.push_back(std::move(e));
  }
}

void Engine::Impl::onCheckout(const Trigger& t, bus::AppendItem& item, bus::Bus& bus,
                              int64_t now) const {
  const json& ev = *t.event;
  const json& data = member(ev, "data");
  const std::string phone = str(member(data, "customer"), "phone");
  const std::string checkout = str(data, "checkout_id");
  for (const auto& c : carts) {
    if (!c.applies(t.source) || checkout.empty()) continue;
    if (phone.empty()) {
      item.on_commit.push_back(count(c.id, "no_phone"));
      continue;
    }
    if (bus.kvGet(kStateInstance, "optout:" + phone)) {
      item.on_commit.push_back(count(c.id, "opted_out"));
      continue;
    }
    // Each update moves the pending reminders: the delay counts from the
    // customer's last activity. Reminders already sent are not sent again.
    for (size_t i = 0; i < c.delays_ms.size(); ++i) {
      bus::TimerOp op;
      op.kind = bus::TimerOp::Kind::kReschedule;
      op.timer = {"cart:" + c.id + ":" + t.source + ":" + checkout + ":" + std::to_string(i + 1),
                  c.id,
                  phone,
                  t.source + ":" + checkout,
                  now + c.delays_ms[i],
                  json{{"event", ev}, {"reminder", i + 1}, {"source", t.source}}.dump()};
      item.timers.push_back(op);
    }
    item.on_commit.push_back(count(c.id, "scheduled"));
  }
}

void Engine::Impl::onStatus(const Trigger& t, bus::AppendItem& item, bus::Bus& bus,
                            std::vector<Emitted>& out) const {
  const json& data = member(*t.event, "data");
  if (str(data, "status") != "failed") return;
  const std::string pmid = str(data, "provider_message_id");
  if (pmid.empty()) return;
  const auto sent = bus.sentMessage(t.source, pmid);
  if (!sent || sent->event_json.find("\"fallback\"") == std::string::npos) return;
  const json send = json::parse(sent->event_json, nullptr, false);
  std::string why = "failed";
  if (const auto code = member(member(data, "error"), "code"); !code.is_null()) {
    why = "failed:" + (code.is_string() ? code.get<std::string>() : code.dump());
  }
  if (auto next = nextHop(send, sent->delivery_key, why, bus)) {
    out.push_back(std::move(*next));
    bus::TimerOp op;
    op.kind = bus::TimerOp::Kind::kCancelKey;
    op.timer.automation = fallbackSource();
    op.timer.key = "fallback:" + sent->delivery_key;
    item.timers.push_back(op);
  }
}

std::optional<Emitted> Engine::Impl::nextHop(const json& send, const std::string& delivery_key,
                                             const std::string& why, bus::Bus& bus) const {
  const json& data = member(send, "data");
  const json& list = member(data, "fallback");
  if (!list.is_array() || list.empty()) return std::nullopt;
  const json& first = list[0];
  const std::string instance =
      first.is_string() ? first.get<std::string>() : str(first, "instance");
  std::string to = str(first, "to");
  const std::string original_to = str(data, "to");
  if (to.empty() && !original_to.empty() && original_to[0] == '+') to = original_to;
  if (to.empty()) {
    std::string conv = str(data, "conversation_id");
    if (conv.empty()) conv = str(send, "subject");
    if (auto c = bus.conversation(conv)) {
      const json contact = json::parse(c->contact_json, nullptr, false);
      to = str(contact, "phone");
    }
  }
  const std::string source = fallbackSource();
  if (instance.empty() || to.empty()) {
    countNow(source, "no_address");
    log::warn(kLog, "fallback has no address for the next instance",
              {{"event_id", str(send, "id")}, {"instance", instance}});
    return std::nullopt;
  }
  json message =
      first.is_object() && first.contains("message") ? first["message"] : member(data, "message");
  json rest = json::array();
  for (size_t i = 1; i < list.size(); ++i) rest.push_back(list[i]);
  Emitted e = makeSend(source, "fallback:" + delivery_key, instance, to, std::move(message),
                       json{{"event_id", str(send, "id")},
                            {"type", "message.send"},
                            {"reason", why},
                            {"failed_instance", str(data, "instance")}},
                       rest);
  e.on_commit.push_back(count(source, "sent"));
  log::info(kLog, "message moves to the next instance of its fallback list",
            {{"event_id", str(send, "id")}, {"instance", instance}, {"reason", why}});
  return e;
}

// ----------------------------------------------------------------- timers --

Decision Engine::fire(const bus::Timer& timer, bus::Bus& bus, int64_t now_ms) const {
  const auto& I = *impl_;
  Decision d;
  const std::string& id = timer.spec.automation;
  auto type = I.type_of.find(id);
  if (type == I.type_of.end() && !(id == kDefaultFallbackSource && !I.fallback)) {
    d.reason = "automation_removed";
    return d;
  }
  auto late = I.skip_late_ms.find(id);
  const int64_t limit = late == I.skip_late_ms.end() ? 12 * kHour : late->second;
  if (now_ms - timer.spec.due_ms > limit) {
    d.reason = "too_late";
    log::warn(kLog, "timer is too late and is skipped",
              {{"automation", id}, {"late_seconds", (now_ms - timer.spec.due_ms) / 1000}});
    return d;
  }
  const std::string kind = type == I.type_of.end() ? "fallback" : type->second;
  if (kind == "cart_recovery") {
    for (const auto& c : I.carts) {
      if (c.id == id) return I.fireCart(timer, c, bus, now_ms);
    }
  } else if (kind == "csat_survey") {
    for (const auto& c : I.csats) {
      if (c.id == id) return I.fireCsat(timer, c, bus, now_ms);
    }
  } else if (kind == "fallback") {
    return I.fireFallback(timer, bus);
  }
  d.reason = "automation_removed";
  return d;
}

Decision Engine::Impl::fireCart(const bus::Timer& timer, const Cart& cart, bus::Bus& bus,
                                int64_t now) const {
  Decision d;
  const json payload = json::parse(timer.spec.payload, nullptr, false);
  const json& ev = member(payload, "event");
  const json& data = member(ev, "data");
  const std::string phone = str(member(data, "customer"), "phone");
  if (phone.empty() || bus.kvGet(kStateInstance, "optout:" + phone)) {
    d.reason = "opted_out";
    return d;
  }
  if (cart.quiet && cart.quiet->isQuiet(now)) {
    d.kind = Decision::Kind::kPostpone;
    d.postpone_to = cart.quiet->quietEnd(now);
    return d;
  }
  const int reminder = payload.value("reminder", 1);
  json context = ev;
  context["reminder"] = reminder;
  json fallback = json::array();
  for (const auto& f : cart.fallback) {
    json hop = {{"instance", f}};
    if (!cart.sms.empty()) hop["message"] = cart.sms.render(context);
    fallback.push_back(hop);
  }
  d.kind = Decision::Kind::kFire;
  Emitted e = makeSend(
      cart.id, "cart:" + timer.spec.key, cart.channel, phone, cart.message.render(context),
      json{{"event_id", str(ev, "id")}, {"type", "checkout.updated"}, {"reminder", reminder}},
      fallback);
  e.on_commit.push_back(count(cart.id, "reminded"));
  if (reminder == 1) {
    json abandoned = {{"checkout_id", str(data, "checkout_id")}, {"reminder", reminder}};
    if (data.contains("customer")) abandoned["customer"] = data["customer"];
    if (data.contains("recovery_url")) abandoned["recovery_url"] = data["recovery_url"];
    for (const char* k : {"total", "currency", "line_items", "store"}) {
      if (data.contains(k)) abandoned[k] = data[k];
    }
    d.events.push_back({cart.id,
                        {{"type", "checkout.abandoned"},
                         {"providerid", "abandoned:" + cart.id + ":" + payload.value("source", "") +
                                            ":" + str(data, "checkout_id")},
                         {"data", abandoned}},
                        {}});
  }
  d.events.push_back(std::move(e));
  return d;
}

Decision Engine::Impl::fireCsat(const bus::Timer& timer, const Csat& csat, bus::Bus& bus,
                                int64_t now) const {
  Decision d;
  const json payload = json::parse(timer.spec.payload, nullptr, false);
  const std::string conv = str(payload, "conversation_id");
  const auto c = bus.conversation(conv);
  if (!c) {
    d.reason = "no_conversation";
    return d;
  }
  json message;
  const ChannelKind kind = channelKind(pluginOf(c->instance));
  const bool window_open = now - c->last_inbound_ms < kWhatsAppWindowMs;
  json rows = json::array();
  for (int i = 5; i >= 1; --i) {
    rows.push_back({{"id", "csat:" + std::to_string(i)}, {"title", csat.labels[size_t(i - 1)]}});
  }
  if (kind == ChannelKind::kWhatsApp && !window_open) {
    if (!csat.template_spec.is_object()) {
      d.reason = "outside_window";
      return d;
    }
    message = {{"template", csat.template_spec}};
  } else if (kind == ChannelKind::kWhatsApp || kind == ChannelKind::kInteractive) {
    message = {{"interactive",
                {{"kind", "list"},
                 {"body", csat.question},
                 {"button", "Rate"},
                 {"sections", json::array({{{"title", "1-5"}, {"rows", rows}}})}}}};
  } else {
    std::string text = csat.question;
    for (int i = 5; i >= 1; --i) text += "\n" + csat.labels[size_t(i - 1)];
    message = {{"text", text}};
  }
  d.kind = Decision::Kind::kFire;
  Emitted e = makeSend(csat.id, "csat:" + csat.id + ":" + conv, c->instance, c->address, message,
                       json{{"type", "conversation.resolved"}, {"conversation_id", conv}});
  e.on_commit.push_back(count(csat.id, "asked"));
  d.events.push_back(std::move(e));
  d.state.push_back(
      put("csat:" + conv, csat.id + "|" + std::to_string(now), csat.answer_within_ms));
  return d;
}

Decision Engine::Impl::fireFallback(const bus::Timer& timer, bus::Bus& bus) const {
  Decision d;
  const json payload = json::parse(timer.spec.payload, nullptr, false);
  const std::string target = str(payload, "target");
  const std::string pmid = str(payload, "provider_message_id");
  if (auto st = bus.messageState(target, pmid); st && (st->rank == 2 || st->rank == 3)) {
    d.reason = "delivered";
    return d;
  }
  const json send = json::parse(str(payload, "event_json"), nullptr, false);
  auto next = nextHop(send, str(payload, "delivery_key"), "deadline", bus);
  if (!next) {
    d.reason = "no_address";
    return d;
  }
  d.kind = Decision::Kind::kFire;
  d.events.push_back(std::move(*next));
  return d;
}

Decision Engine::onDeliveryResult(const bus::Delivery& delivery, const bus::DeliveryResult& result,
                                  bus::Bus& bus, int64_t now_ms) const {
  const auto& I = *impl_;
  Decision d;
  if (delivery.event_json.find("\"fallback\"") == std::string::npos) return d;
  const json send = json::parse(delivery.event_json, nullptr, false);
  if (str(send, "type") != "message.send") return d;
  const json& list = member(member(send, "data"), "fallback");
  if (!list.is_array() || list.empty()) return d;
  if (result.outcome == bus::Outcome::kPermanent || result.reason == Code::kOutsideWindow) {
    const std::string why = result.reason == Code::kOutsideWindow ? "outside_window"
                            : result.message == "expired"         ? "expired"
                                                                  : "permanent_failure";
    if (auto next = I.nextHop(send, delivery.idempotency_key, why, bus)) {
      d.kind = Decision::Kind::kFire;
      d.events.push_back(std::move(*next));
    }
    return d;
  }
  if (result.outcome == bus::Outcome::kSuccess && I.fallback &&
      !result.provider_message_id.empty()) {
    bus::TimerOp op;
    op.kind = bus::TimerOp::Kind::kSchedule;
    op.timer = {"fallback:" + delivery.idempotency_key,
                I.fallback->id,
                "",
                "",
                now_ms + I.fallback->deadline_ms,
                json{{"target", delivery.target},
                     {"provider_message_id", result.provider_message_id},
                     {"delivery_key", delivery.idempotency_key},
                     {"event_json", delivery.event_json}}
                    .dump()};
    d.kind = Decision::Kind::kFire;
    d.timers.push_back(op);
  }
  return d;
}

}  // namespace sanjog::automation
