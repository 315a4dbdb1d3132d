// The descriptor and the one exported entry point of libsanjog_ecom_shopify.so.
#include "shopify.hpp"

SANJOG_PLUGIN(sanjog::plugins::ecom_shopify::Shopify, "ecom_shopify", "ecom",
              sanjog::plugins::ecom_shopify::kVersion,
              "Shopify: signed order and checkout webhooks in as order.* and checkout.updated",
              sanjog::plugins::ecom_shopify::kConfigSchema, sanjog::plugins::ecom_shopify::kActions)
