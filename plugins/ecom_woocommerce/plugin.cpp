// The descriptor and the one exported entry point of libsanjog_ecom_woocommerce.so.
#include "woocommerce.hpp"

SANJOG_PLUGIN(sanjog::plugins::ecom_woocommerce::WooCommerce, "ecom_woocommerce", "ecom",
              sanjog::plugins::ecom_woocommerce::kVersion,
              "WooCommerce: signed order webhooks in as order.* events, one per status",
              sanjog::plugins::ecom_woocommerce::kConfigSchema,
              sanjog::plugins::ecom_woocommerce::kActions)
