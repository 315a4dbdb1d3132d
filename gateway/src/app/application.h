// The sanjogd process: command line, start-up, signals, reload and drain.
#pragma once

namespace sanjog::app {

// Blocks SIGHUP in every thread (a dedicated thread waits for it), then runs
// the POCO ServerApplication. Returns the process exit code.
int runMain(int argc, char** argv);

}  // namespace sanjog::app
