#include <Poco/Net/SSLManager.h>

#include <iostream>
#include <string>
#include <vector>

#include "ctl/ctl.h"

int main(int argc, char** argv) {
  Poco::Net::initializeSSL();
  const std::vector<std::string> args(argv + 1, argv + argc);
  const int rc = sanjog::ctl::run(args, std::cout, std::cerr);
  Poco::Net::uninitializeSSL();
  return rc;
}
