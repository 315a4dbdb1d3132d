// sanjogctl against the real daemon: status, tracing an event, finding
// events, dead letters listed / replayed / deleted by id and by filter (with
// dry runs and progress), reload, contact export and erasure, check-config,
// and the exit codes scripts rely on.
#include <sys/wait.h>

#include <fstream>

#include "integration/flow_fixture.h"

namespace sanjog::testing {
namespace {

struct CtlRun {
  int code = -1;
  std::string out;
  std::string err;
  [[nodiscard]] nlohmann::json json() const { return nlohmann::json::parse(out, nullptr, false); }
};

class CtlTest : public FlowTest {
 protected:
  static std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
  }
  static std::string readFile(const std::filesystem::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  // Runs sanjogctl with the admin URL and token in the environment.
  CtlRun ctl(const std::vector<std::string>& args, const std::string& token = kAdminToken,
             const std::string& url = "") const {
    std::string cmd =
        "SANJOG_ADMIN_URL=" +
        quote(url.empty() ? "http://127.0.0.1:" + std::to_string(daemon_.adminPort()) : url) +
        " SANJOG_ADMIN_TOKEN=" + quote(token) + " " +
        quote(std::string(SANJOG_BINARY_DIR) + "/bin/sanjogctl");
    for (const auto& a : args) cmd += " " + quote(a);
    const auto out = daemon_.dir() / "ctl.out";
    const auto err = daemon_.dir() / "ctl.err";
    cmd += " >" + quote(out.string()) + " 2>" + quote(err.string());
    const int rc = std::system(cmd.c_str());
    CtlRun r;
    r.code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    r.out = readFile(out);
    r.err = readFile(err);
    return r;
  }

  std::string post(const std::string& id, const std::string& conversation,
                   const std::string& to = "") {
    nlohmann::json data = {{"conversation_id", conversation},
                           {"message", {{"text", "অর্ডার " + id}}}};
    if (!to.empty()) data["to"] = to;
    auto r = daemon_.postSigned(
        "a", kSecretA, "msg_" + id,
        nlohmann::json({{"type", "message.send"}, {"id", id}, {"data", data}}).dump());
    EXPECT_EQ(r.status, 202) << r.body;
    return r.headers["sanjog-event-ids"];
  }

  double dead() const {
    return daemon_.metric("sanjog_dead_letters_total",
                          {{"target", "b"}, {"reason", "invalid_argument"}});
  }
};

TEST_F(CtlTest, StatusEventsAndDeadLettersEndToEnd) {
  receiver_.setDefault(ScriptedResponse(400, R"({"error":"bad recipient"})"));
  startDaemon();
  const std::string e1 = post("ord-1", "conv_one");
  post("ord-2", "conv_two");
  post("ord-3", "conv_two");
  ASSERT_TRUE(daemon_.waitFor([&] { return dead() == 3; }, kWait)) << daemon_.metricsText();

  // status: a table for people, JSON for scripts; ready -> 0.
  auto status = ctl({"status"});
  EXPECT_EQ(status.code, 0) << status.err;
  EXPECT_NE(status.out.find("ready:        yes"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("dead letters: 3"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("INSTANCE"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("crm_webhook"), std::string::npos) << status.out;
  auto sj = ctl({"--json", "status"});
  ASSERT_EQ(sj.code, 0);
  EXPECT_EQ(sj.json()["dead_letters"], 3);
  EXPECT_EQ(sj.json()["queue"]["targets"]["b"]["dead_letters"], 3);
  EXPECT_EQ(sj.json()["queue"]["targets"]["b"]["circuit"], "closed");

  // events find by conversation, newest first; show one event readably.
  auto found = ctl({"--json", "events", "find", "--conversation", "conv_two"});
  ASSERT_EQ(found.code, 0) << found.err;
  ASSERT_EQ(found.json()["events"].size(), 2u) << found.out;
  EXPECT_EQ(found.json()["events"][0]["deliveries"]["dead"], 1);
  auto table = ctl({"events", "find", "--since", "1h", "--type", "message."});
  EXPECT_EQ(table.code, 0);
  EXPECT_NE(table.out.find(e1), std::string::npos) << table.out;
  EXPECT_EQ(ctl({"events", "find", "--conversation", "conv_nobody"}).code, 4);
  EXPECT_EQ(ctl({"events", "find", "--since", "yesterday-ish"}).code, 2);
  auto show = ctl({"events", "show", e1});
  EXPECT_EQ(show.code, 0) << show.err;
  EXPECT_NE(show.out.find("conversation  conv_one"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("dead (invalid_argument)"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("HTTP 400"), std::string::npos) << show.out;
  EXPECT_EQ(ctl({"events", "show", "evt_does_not_exist"}).code, 4);

  // dead-letters list.
  auto list = ctl({"dead-letters", "list", "--target", "b"});
  EXPECT_EQ(list.code, 0);
  EXPECT_NE(list.out.find("3 of 3 dead letters"), std::string::npos) << list.out;
  auto lj = ctl({"--json", "dead-letters", "list", "--limit", "2"});
  ASSERT_EQ(lj.json()["dead_letters"].size(), 2u);
  EXPECT_EQ(lj.json()["total"], 3);

  // A dry run changes nothing.
  const size_t before = receiver_.requests().size();
  auto dry = ctl({"dead-letters", "replay", "--target", "b", "--dry-run"});
  EXPECT_EQ(dry.code, 0);
  EXPECT_NE(dry.out.find("would replay 3 dead letters"), std::string::npos) << dry.out;
  EXPECT_FALSE(receiver_.waitForRequests(before + 1, std::chrono::milliseconds(300)));

  // Replay by filter in batches of 2, with progress; the target answers now.
  receiver_.setDefault(ScriptedResponse(200, "{}"));
  auto replay = ctl({"dead-letters", "replay", "--target", "b", "--batch", "2"});
  EXPECT_EQ(replay.code, 0) << replay.err;
  EXPECT_NE(replay.err.find("replayed 2 of 3"), std::string::npos) << replay.err;
  EXPECT_NE(replay.err.find("replayed 3 of 3"), std::string::npos) << replay.err;
  EXPECT_NE(replay.out.find("replayed 3 dead letters"), std::string::npos) << replay.out;
  ASSERT_TRUE(receiver_.waitForRequests(before + 3, kWait));
  EXPECT_TRUE(daemon_.waitFor([&] {
    return daemon_.metric("sanjog_deliveries_total", {{"target", "b"}, {"result", "success"}}) == 3;
  }));
  EXPECT_EQ(daemon_.metric("sanjog_dead_letter_replays_total", {{"target", "b"}}), 3);
  // The history of a replayed delivery keeps the attempt that failed.
  auto shown = ctl({"events", "show", e1});
  EXPECT_NE(shown.out.find("done, 2 attempts"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("1. "), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("HTTP 400"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("2. "), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("success  HTTP 200"), std::string::npos) << shown.out;

  // Replay and delete by id; unknown ids are exit 4.
  receiver_.setDefault(ScriptedResponse(400, "{}"));
  post("ord-4", "conv_three");
  post("ord-5", "conv_three");
  ASSERT_TRUE(daemon_.waitFor([&] { return dead() == 5; }, kWait));
  auto ids = ctl({"--json", "dead-letters", "list"}).json()["dead_letters"];
  ASSERT_EQ(ids.size(), 2u);
  const std::string id4 = std::to_string(ids[0]["id"].get<int64_t>());
  const std::string id5 = std::to_string(ids[1]["id"].get<int64_t>());
  auto dry_id = ctl({"dead-letters", "delete", id4, "--dry-run"});
  EXPECT_EQ(dry_id.code, 0);
  EXPECT_NE(dry_id.out.find("would delete #" + id4), std::string::npos) << dry_id.out;
  EXPECT_EQ(ctl({"dead-letters", "delete", id4}).code, 0);
  EXPECT_EQ(ctl({"dead-letters", "delete", id4}).code, 4);
  EXPECT_EQ(ctl({"dead-letters", "replay", "999999"}).code, 4);
  // A bulk delete asks for --yes.
  auto no_yes = ctl({"dead-letters", "delete", "--target", "b"});
  EXPECT_EQ(no_yes.code, 2);
  EXPECT_NE(no_yes.err.find("--yes"), std::string::npos);
  auto del = ctl({"--json", "dead-letters", "delete", "--target", "b", "--yes"});
  EXPECT_EQ(del.code, 0) << del.err;
  EXPECT_EQ(del.json()["deleted"], 1);
  EXPECT_EQ(ctl({"--json", "status"}).json()["dead_letters"], 0);
  EXPECT_EQ(ctl({"dead-letters", "replay", id5}).code, 4);
  // Ids and a filter together, or neither, is a usage error.
  EXPECT_EQ(ctl({"dead-letters", "replay"}).code, 2);
  EXPECT_EQ(ctl({"dead-letters", "replay", "1", "--all"}).code, 2);
}

TEST_F(CtlTest, AuthUnreachableReloadAndCheckConfig) {
  startDaemon();
  auto bad = ctl({"status"}, "wrong-token-0123456789");
  EXPECT_EQ(bad.code, 6);
  EXPECT_NE(bad.err.find("HTTP 401"), std::string::npos) << bad.err;
  // Port 1 on loopback: nothing listens.
  auto down = ctl({"status"}, kAdminToken, "http://127.0.0.1:1");
  EXPECT_EQ(down.code, 5);
  EXPECT_NE(down.err.find("cannot reach"), std::string::npos) << down.err;
  EXPECT_EQ(ctl({"frobnicate"}).code, 2);
  EXPECT_EQ(ctl({"--help"}).code, 0);

  // The token from a file, as in a systemd credential or a secret mount.
  const auto token_file = daemon_.dir() / "admin.token";
  std::ofstream(token_file) << kAdminToken << "\n";
  auto from_file = ctl({"--token-file", token_file.string(), "status"}, "");
  EXPECT_EQ(from_file.code, 0) << from_file.err;

  auto reload = ctl({"reload"});
  EXPECT_EQ(reload.code, 0) << reload.err;
  EXPECT_NE(reload.out.find("config reloaded"), std::string::npos);
  EXPECT_EQ(daemon_.metric("sanjog_config_reloads_total", {{"result", "applied"}}), 1);

  auto broken = config();
  broken["routes"][0]["to"][0]["instance"] = "ghost";
  daemon_.writeConfig(broken);
  auto rejected = ctl({"reload"});
  EXPECT_EQ(rejected.code, 3);
  EXPECT_NE(rejected.err.find("no instance named ghost"), std::string::npos) << rejected.err;
  auto check = ctl({"check-config", daemon_.configPath().string()});
  EXPECT_EQ(check.code, 3);
  EXPECT_NE(check.err.find("pointer=/routes/0/to/0/instance"), std::string::npos) << check.err;
  auto check_json = ctl({"--json", "check-config", daemon_.configPath().string()});
  EXPECT_EQ(check_json.code, 3);
  EXPECT_EQ(check_json.json()["valid"], false);
  EXPECT_EQ(check_json.json()["problems"].size(), 1u) << check_json.out;
  daemon_.writeConfig(config());
  auto good = ctl({"check-config", daemon_.configPath().string()});
  EXPECT_EQ(good.code, 0) << good.err;
  EXPECT_NE(good.out.find("is valid"), std::string::npos);
}

TEST_F(CtlTest, ContactExportAndErase) {
  receiver_.setDefault(ScriptedResponse(200, "{}"));
  startDaemon();
  post("ord-9", "conv_rahim", "+8801711000009");
  ASSERT_TRUE(receiver_.waitForRequests(1, kWait));
  const auto file = daemon_.dir() / "export.json";
  auto exported = ctl({"contacts", "export", "+8801711000009", "--output", file.string()});
  EXPECT_EQ(exported.code, 0) << exported.err;
  EXPECT_NE(exported.err.find("1 events"), std::string::npos) << exported.err;
  auto data = nlohmann::json::parse(readFile(file), nullptr, false);
  ASSERT_TRUE(data.is_object());
  EXPECT_EQ(data["events"].size(), 1u);
  EXPECT_EQ(std::filesystem::status(file).permissions() & std::filesystem::perms::group_read,
            std::filesystem::perms::none)
      << "an export holds personal data: owner only";

  auto ask = ctl({"contacts", "erase", "+8801711000009"});
  EXPECT_EQ(ask.code, 2);
  EXPECT_NE(ask.out.find("would erase"), std::string::npos) << ask.out;
  auto erased = ctl({"--json", "contacts", "erase", "+8801711000009", "--yes"});
  EXPECT_EQ(erased.code, 0) << erased.err;
  EXPECT_EQ(erased.json()["erased"]["events"], 1);
  EXPECT_EQ(ctl({"contacts", "export", "+8801711000009"}).code, 4);
}

}  // namespace
}  // namespace sanjog::testing
