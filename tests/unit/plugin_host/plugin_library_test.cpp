#include <gtest/gtest.h>

#include <filesystem>

#include "plugin_host/plugin_instance.h"
#include "plugin_host/plugin_library.h"

namespace sanjog::plugin_host {
namespace {

const std::filesystem::path kDir = SANJOG_TEST_PLUGIN_DIR;

TEST(PluginLibrary, LoadsAPluginWrittenInC) {
  auto lib = PluginLibrary::load(kDir / "libsanjog_c_minimal.so");
  ASSERT_TRUE(lib) << lib.status().toString();
  EXPECT_EQ((*lib)->name(), "c_minimal");
  EXPECT_EQ((*lib)->kind(), "example");
  EXPECT_EQ((*lib)->version(), "1.0.0");
  EXPECT_EQ((*lib)->defaultAction(), "count");
  EXPECT_EQ((*lib)->abiMinor(), SANJOG_ABI_MINOR);
  EXPECT_TRUE((*lib)->schema().is_object());
}

TEST(PluginLibrary, RefusesAnotherAbiMajorWithAClearMessage) {
  auto lib = PluginLibrary::load(kDir / "libsanjog_bad_abi.so");
  ASSERT_FALSE(lib);
  const std::string& msg = lib.status().message();
  EXPECT_NE(msg.find("ABI 2.0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("speaks ABI 1.1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rebuild"), std::string::npos) << msg;
}

TEST(PluginLibrary, RefusesALibraryWithoutEntryPoint) {
  auto lib = PluginLibrary::load(kDir / "libsanjog_no_entry.so");
  ASSERT_FALSE(lib);
  EXPECT_NE(lib.status().message().find("not a Sanjog plugin"), std::string::npos);
}

TEST(PluginLibrary, RefusesAMissingFile) {
  auto lib = PluginLibrary::load(kDir / "libsanjog_does_not_exist.so");
  ASSERT_FALSE(lib);
  EXPECT_EQ(lib.status().code(), Code::kInvalidArgument);
}

TEST(PluginRegistry, LoadsWhatItCanAndReportsTheRest) {
  auto reg = PluginRegistry::loadDirectory(kDir);
  ASSERT_EQ(reg.libraries().size(), 1u);
  EXPECT_EQ(reg.libraries()[0]->name(), "c_minimal");
  EXPECT_EQ(reg.errors().size(), 2u);
  EXPECT_NE(reg.failureFor("bad_abi").find("ABI"), std::string::npos);
  EXPECT_TRUE(reg.failureFor("c_minimal").empty());
  EXPECT_EQ(reg.find("nope"), nullptr);
}

TEST(PluginRegistry, MissingDirectoryIsAnError) {
  auto reg = PluginRegistry::loadDirectory(kDir / "missing");
  EXPECT_TRUE(reg.libraries().empty());
  ASSERT_EQ(reg.errors().size(), 1u);
}

TEST(PluginInstance, WebhookEventsAndDeliveryCrossTheBoundary) {
  auto lib = PluginLibrary::load(kDir / "libsanjog_c_minimal.so");
  ASSERT_TRUE(lib);
  auto services = std::make_shared<HostServices>();
  auto inst = PluginInstance::create(*lib, "c1", nlohmann::json::object(), services);
  ASSERT_TRUE(inst) << inst.status().toString();
  EXPECT_TRUE((*inst)->acceptsWebhooks());
  EXPECT_TRUE((*inst)->delivers());

  WebhookCall call;
  call.method = "POST";
  call.body = "hello world";
  auto out = (*inst)->handleWebhook(call);
  EXPECT_EQ(out.hook_status, Code::kOk);
  EXPECT_EQ(out.http_status, 202);
  EXPECT_EQ(out.content_type, "text/plain");
  EXPECT_EQ(out.body, "ok");
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(out.events[0])["data"]["size"], 11);

  bus::Delivery d;
  d.action = "count";
  d.event_json = out.events[0];
  d.idempotency_key = "evt_1.0";
  auto result = (*inst)->deliver(d);
  EXPECT_EQ(result.outcome, bus::Outcome::kSuccess);
  EXPECT_EQ(result.reason, Code::kOk);
  EXPECT_EQ((*inst)->health().state, SANJOG_HEALTH_OK);
}

}  // namespace
}  // namespace sanjog::plugin_host
