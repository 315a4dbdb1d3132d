// Cheap checks on untrusted bodies before anything parses them.
#pragma once

#include <string_view>

namespace sanjog {

// Whether a JSON text nests objects/arrays deeper than `max_depth`. A byte
// scan (brackets outside strings, escapes honoured), no parse: it guards the
// parsers of the host and of every plugin against stack exhaustion. Bodies
// that are not JSON are scanned the same way and almost never nest.
bool jsonNestingExceeds(std::string_view body, int max_depth);

}  // namespace sanjog
