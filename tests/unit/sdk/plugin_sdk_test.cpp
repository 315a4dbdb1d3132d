// The SDK's trampolines and classifier, through the FakeHost and a real
// descriptor built by SANJOG_PLUGIN-equivalent code.
#include <gtest/gtest.h>

#include <stdexcept>

#include "sanjog/sdk/plugin.hpp"
#include "sanjog/sdk/testing/fake_host.hpp"

namespace sanjog::sdk {
namespace {

// A plugin that does what its config tells it, to exercise every path.
class Probe {
 public:
  static Result<std::unique_ptr<Probe>> create(Host& host, const std::string& id,
                                               const nlohmann::json& config) {
    if (config.value("fail", false)) return Status(Code::kInvalidArgument, "told to fail");
    if (config.value("throw", false)) throw std::runtime_error("boom in create");
    auto calls = host.counter("sanjog_probe_calls_total", "calls", {"result"});
    if (!calls) return calls.status();
    host.info("created " + id);
    return std::make_unique<Probe>(host, *calls);
  }
  Probe(Host& host, Metric calls) : host_(host), calls_(calls) {}

  WebhookResponse handleWebhook(const WebhookRequest& r) {
    if (r.body == "throw") throw std::runtime_error("boom in webhook");
    calls_.inc({"webhook"});
    WebhookResponse res =
        WebhookResponse::json(202, {{"header", r.header("X-Probe").value_or("")}});
    res.events.push_back(R"({"type":"probe.seen","data":{"body":")" + std::string(r.body) + "\"}}");
    return res;
  }
  DeliveryResult deliver(const Delivery& d) {
    if (d.action == "throw") throw std::logic_error("boom in deliver");
    auto res = host_.http({"POST", "https://receiver.test/x", {{"k", "v"}}, std::string(d.event)});
    if (!res) return DeliveryResult::retry(res.status().code(), res.status().message());
    EXPECT_TRUE(host_.kvPut("last", d.idempotency_key));
    return DeliveryResult::fromHttpStatus(res->status);
  }

 private:
  Host& host_;
  Metric calls_;
};

class OnlyDeliver {
 public:
  static Result<std::unique_ptr<OnlyDeliver>> create(Host&, const std::string&,
                                                     const nlohmann::json&) {
    return std::make_unique<OnlyDeliver>();
  }
  DeliveryResult deliver(const Delivery&) { return DeliveryResult::success("pm_1"); }
};

const sanjog_plugin_descriptor* probe() {
  return describe<Probe>("probe", "example", "1.0.0", "probe", "{}", R"(["deliver"])");
}

TEST(PluginSdk, DescriptorHasOnlyTheHooksTheClassImplements) {
  const auto* d = describe<OnlyDeliver>("only", "example", "1", "s", "{}", "[]");
  EXPECT_EQ(d->abi_major, SANJOG_ABI_MAJOR);
  EXPECT_EQ(d->struct_size, sizeof(sanjog_plugin_descriptor));
  EXPECT_NE(d->hooks->deliver, nullptr);
  EXPECT_EQ(d->hooks->handle_webhook, nullptr);
  EXPECT_EQ(d->hooks->health, nullptr);
  EXPECT_NE(probe()->hooks->handle_webhook, nullptr);
}

TEST(PluginSdk, CreateErrorsAndExceptionsBecomeStatuses) {
  testing::FakeHost host(probe());
  Status s = host.create("p", {{"fail", true}});
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "told to fail");
  s = host.create("p", {{"throw", true}});
  EXPECT_EQ(s.code(), Code::kInternal);
  EXPECT_NE(s.message().find("boom in create"), std::string::npos);
  EXPECT_TRUE(host.create("p", nlohmann::json::object()));
  ASSERT_EQ(host.logs().size(), 1u);
  EXPECT_EQ(host.logs()[0].message, "created p");
}

TEST(PluginSdk, WebhookResponseEventsAndHeadersCrossTheAbi) {
  testing::FakeHost host(probe());
  ASSERT_TRUE(host.create("p", nlohmann::json::object()));
  auto r = host.webhook("POST", "hello", {{"x-probe", "yes"}});
  EXPECT_EQ(r.rc, SANJOG_OK);
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.json()["header"], "yes");  // case-insensitive lookup
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0]["data"]["body"], "hello");
  EXPECT_EQ(host.metric("sanjog_probe_calls_total", {"webhook"}), 1.0);
}

TEST(PluginSdk, ExceptionsInHooksAreContained) {
  testing::FakeHost host(probe());
  ASSERT_TRUE(host.create("p", nlohmann::json::object()));
  auto r = host.webhook("POST", "throw");
  EXPECT_EQ(r.rc, SANJOG_INTERNAL);
  EXPECT_EQ(r.status, 500);
  auto d = host.deliver("throw", "{}", "k");
  EXPECT_EQ(d.outcome, Outcome::kRetry);
  EXPECT_EQ(d.status, Code::kInternal);
  EXPECT_NE(d.message.find("boom in deliver"), std::string::npos);
}

TEST(PluginSdk, HttpKvAndClassification) {
  testing::FakeHost host(probe());
  ASSERT_TRUE(host.create("p", nlohmann::json::object()));
  int status = 200;
  host.respond([&](const HttpRequest& req) -> Result<HttpResponse> {
    EXPECT_EQ(req.url, "https://receiver.test/x");
    if (status == 0) return Status(Code::kTimeout, "timed out");
    return HttpResponse{status, {}, ""};
  });
  EXPECT_EQ(host.deliver("deliver", R"({"a":1})", "evt_1.0").outcome, Outcome::kSuccess);
  EXPECT_EQ(host.kv("last"), "evt_1.0");
  ASSERT_EQ(host.requests().size(), 1u);
  EXPECT_EQ(host.requests()[0].body, R"({"a":1})");
  status = 0;
  auto r = host.deliver("deliver", "{}", "evt_2.0");
  EXPECT_EQ(r.outcome, Outcome::kRetry);
  EXPECT_EQ(r.status, Code::kTimeout);
  EXPECT_EQ(r.message, "timed out");
}

TEST(PluginSdk, FromHttpStatus) {
  EXPECT_EQ(DeliveryResult::fromHttpStatus(204).outcome, Outcome::kSuccess);
  EXPECT_EQ(DeliveryResult::fromHttpStatus(410).outcome, Outcome::kDisable);
  auto limited = DeliveryResult::fromHttpStatus(429, 7000);
  EXPECT_EQ(limited.outcome, Outcome::kRetry);
  EXPECT_EQ(limited.status, Code::kRateLimited);
  EXPECT_EQ(limited.retry_after_ms, 7000);
  EXPECT_EQ(DeliveryResult::fromHttpStatus(503).outcome, Outcome::kRetry);
  EXPECT_EQ(DeliveryResult::fromHttpStatus(408).status, Code::kTimeout);
  EXPECT_EQ(DeliveryResult::fromHttpStatus(400).outcome, Outcome::kPermanent);
  EXPECT_EQ(DeliveryResult::fromHttpStatus(401).status, Code::kUnauthenticated);
  EXPECT_EQ(DeliveryResult::fromHttpStatus(404).status, Code::kNotFound);
  EXPECT_EQ(DeliveryResult::fromHttpStatus(400).http_status, 400);
}

TEST(PluginSdk, ParseRetryAfter) {
  EXPECT_EQ(parseRetryAfter("120", 0), 120000);
  EXPECT_EQ(parseRetryAfter(" 0 ", 0), 0);
  // Sun, 06 Nov 1994 08:49:37 GMT = 784111777 s.
  EXPECT_EQ(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", 784111777000 - 5000), 5000);
  EXPECT_EQ(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", 784111777000 + 5000), 0);
  EXPECT_FALSE(parseRetryAfter("soon", 0));
  EXPECT_FALSE(parseRetryAfter("", 0));
}

}  // namespace
}  // namespace sanjog::sdk
