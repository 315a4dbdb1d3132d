#include <gtest/gtest.h>

#include "plugin_host/plugin_instance.h"

namespace sanjog::plugin_host {
namespace {

TEST(PluginMetrics, RegistersOnceAndEnforcesNamingAndLabels) {
  metrics::Metrics m;
  PluginMetrics pm(&m);
  auto a = pm.registerFamily(SANJOG_METRIC_COUNTER, "sanjog_test_things_total", "Things.",
                             {"result"}, {});
  ASSERT_TRUE(a) << a.status().toString();
  auto again = pm.registerFamily(SANJOG_METRIC_COUNTER, "sanjog_test_things_total", "Things.",
                                 {"result"}, {});
  ASSERT_TRUE(again);
  EXPECT_EQ(*a, *again);
  EXPECT_FALSE(
      pm.registerFamily(SANJOG_METRIC_GAUGE, "sanjog_test_things_total", "x", {"result"}, {}));
  EXPECT_FALSE(pm.registerFamily(SANJOG_METRIC_COUNTER, "other_total", "x", {}, {}));
  EXPECT_FALSE(pm.registerFamily(SANJOG_METRIC_COUNTER, "sanjog_no_suffix", "x", {}, {}));
  EXPECT_FALSE(pm.registerFamily(SANJOG_METRIC_COUNTER, "sanjog_x_total", "x", {"phone"}, {}));

  pm.record(*a, "inst1", {"ok"}, 2);
  pm.record(*a, "inst1", {"ok", "extra"}, 5);  // wrong arity: ignored
  const std::string text = m.serialize();
  EXPECT_NE(text.find("sanjog_test_things_total{instance=\"inst1\",result=\"ok\"} 2"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace sanjog::plugin_host
