// Files compiled into the binary (see cmake/embed_files.cmake).
#pragma once

namespace sanjog::config {
// config/sanjog.schema.json
extern const char* const kEmbeddedConfigSchema;
// config/sanjog.example.json: what sanjogd runs when started without --config.
extern const char* const kEmbeddedDefaultConfig;
}  // namespace sanjog::config
