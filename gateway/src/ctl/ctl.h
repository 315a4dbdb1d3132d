// sanjogctl: the admin CLI. Talks to the admin API of one sanjogd
// (GET /admin/v1/status, events, dead letters, reload, contacts) and runs
// `sanjogd --check-config` for check-config. Human-readable tables by
// default, --json for scripts; the exit code says what happened (ExitCode).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace sanjog::ctl {

enum ExitCode : int {
  kOk = 0,
  kFailed = 1,    // the daemon answered with an error (5xx), or an unexpected answer
  kUsage = 2,     // bad arguments, or a request the API refused as invalid (400)
  kNotReady = 3,  // status: not ready or an instance degraded; reload/check-config: invalid config
  kNotFound = 4,  // no such event / dead letter / contact data; events find found nothing
  kUnreachable = 5,  // no answer from the admin API (refused, timeout, TLS)
  kAuth = 6,         // the admin token was refused (401/403) or the address is locked out (429)
};

// Runs one command line (without the program name). `err` gets progress,
// warnings and errors; `out` only the result.
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

std::string usage();

}  // namespace sanjog::ctl
