// sms_http against a real Kannel: an MO typed into fakesmsc (UCS-2 Bengali)
// arrives as message.received, a message.send in Bengali reaches fakesmsc
// intact as UCS-2, and Kannel's delivery reports make the message delivered.
#include "fakes/fake_http_server.h"
#include "integration/daemon.h"
#include "integration/kannel.h"

namespace sanjog::testing {
namespace {

constexpr const char* kSecret = "kannel-callback-secret-0123456789";
constexpr auto kWait = std::chrono::seconds(15);

// fakesmsc writes UCS-2 as url-encoded UTF-16BE ("%09%86..."); back to UTF-8.
std::string ucs2UrlToUtf8(const std::string& in) {
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      bytes.push_back(static_cast<uint8_t>(std::stoi(in.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      bytes.push_back(static_cast<uint8_t>(in[i] == '+' ? ' ' : in[i]));
    }
  }
  std::string out;
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
    char32_t cp = (char32_t(bytes[i]) << 8) | bytes[i + 1];
    if (cp >= 0xD800 && cp < 0xDC00 && i + 3 < bytes.size()) {
      const char32_t lo = (char32_t(bytes[i + 2]) << 8) | bytes[i + 3];
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      i += 2;
    }
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

TEST(KannelFlow, BengaliSmsBothWaysThroughRealKannelWithDeliveryReports) {
  ASSERT_TRUE(Kannel::installed())
      << "install Debian's kannel and kannel-extras (scripts/setup.sh)";
  FakeHttpServer crm;
  Kannel kannel;
  Daemon daemon;
  const uint16_t public_port = freeTcpPort();
  const std::string public_url =
      "http://127.0.0.1:" + std::to_string(public_port) + "/webhooks/sms";
  // Kannel's ports are chosen in start(); the sendsms port is needed in the config first, so
  // bearerbox starts first with the MO URL pointing at the daemon's (fixed) public port, and
  // smsbox after the daemon listens.
  const std::string mo_url = public_url + "/mo?from=%p&to=%P&text=%a&id=%I&secret=" + kSecret;
  // "আমার অর্ডার?" as fakesmsc takes UCS-2: url-encoded UTF-16BE.
  const std::string mo_text = "আমার অর্ডার?";
  ASSERT_TRUE(
      kannel.start(mo_url,
                   "8801711000001 16555 ucs2 "
                   "%09%86%09%AE%09%BE%09%B0%00%20%09%85%09%B0%09%CD%09%A1%09%BE%09%B0%00%3F"));
  auto c = daemon.baseConfig();
  c["server"]["listen"] = "127.0.0.1:" + std::to_string(public_port);
  c["instances"] = {
      {{"id", "sms"},
       {"plugin", "sms_http"},
       {"config",
        {{"profile", "kannel"},
         {"api_base", "http://127.0.0.1:" + std::to_string(kannel.sendsmsPort())},
         {"username", "sanjog"},
         {"password", "kannel-test-pass"},
         {"from", "16555"},
         {"public_url", public_url},
         {"secret", kSecret}}}},
      {{"id", "crm"},
       {"plugin", "crm_webhook"},
       {"config", {{"secret", "whsec_dGVzdC1zZWNyZXQtb2YtaW5zdGFuY2UtYg=="}, {"url", crm.url()}}}}};
  c["routes"] = {{{"id", "sms-to-crm"},
                  {"from", {{"instance", "sms"}, {"types", {"message.received"}}}},
                  {"to", {{{"instance", "crm"}}}}}};
  daemon.writeConfig(c);
  ASSERT_TRUE(daemon.start());
  // smsbox only now: it fetches the MO URL once and gives up if nobody listens.
  ASSERT_TRUE(kannel.startSmsbox());

  // MO: fakesmsc -> bearerbox -> smsbox -> sanjogd (Kannel retries nothing; it was queued
  // in bearerbox until smsbox connected, and smsbox fetches the URL once).
  ASSERT_TRUE(crm.waitForRequests(1, kWait)) << kannel.logs() << daemon.log();
  const auto received = nlohmann::json::parse(crm.requests()[0].body);
  EXPECT_EQ(received["data"]["message"]["text"], mo_text) << kannel.logs();
  EXPECT_EQ(received["data"]["contact"]["phone"], "+8801711000001");

  // MT: sanjogd -> smsbox sendsms -> bearerbox -> fakesmsc, as UCS-2.
  const std::string reply = "আপনার অর্ডার কাল পৌঁছাবে। ধন্যবাদ!";
  auto sent =
      daemon.publicRequest("POST", "/api/v1/messages",
                           nlohmann::json({{"conversation_id", received["data"]["conversation_id"]},
                                           {"message", {{"text", reply}}}})
                               .dump(),
                           {{"Authorization", std::string("Bearer ") + kApiKey}});
  ASSERT_EQ(sent.status, 202) << sent.body;
  const std::string id = sent.json()["id"];
  std::string line;
  ASSERT_TRUE(daemon.waitFor(
      [&] {
        const std::string out = kannel.smscOutput();
        const auto at = out.find("<16555 +8801711000001 ucs-2 ");
        if (at == std::string::npos) return false;
        line = out.substr(at, out.find('>', at) - at);
        return true;
      },
      kWait))
      << kannel.logs();
  const std::string data = line.substr(line.rfind(' ') + 1);
  EXPECT_EQ(ucs2UrlToUtf8(data), reply) << line;

  // DLR: Kannel calls the dlr-url (8 = submitted to the SMSC, 1 = delivered).
  EXPECT_TRUE(daemon.waitFor(
      [&] {
        auto m = daemon.publicRequest("GET", "/api/v1/messages/" + id, "",
                                      {{"Authorization", std::string("Bearer ") + kApiKey}});
        return m.status == 200 && m.json()["status"] == "delivered";
      },
      kWait))
      << kannel.logs();
  EXPECT_EQ(daemon.metric("sanjog_sms_segments_total", {{"instance", "sms"}, {"encoding", "ucs2"}}),
            1);
  // A callback without the secret stores nothing.
  EXPECT_EQ(daemon.publicRequest("GET", "/webhooks/sms/dlr?id=x&status=1").status, 401);
  EXPECT_EQ(daemon.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace sanjog::testing
