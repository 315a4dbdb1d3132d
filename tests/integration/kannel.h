// Runs a real Kannel (Debian's kannel and kannel-extras) for tests:
// bearerbox with a fake SMSC on loopback, fakesmsc as the SMS centre (it
// prints every MT message it receives and can send one MO message), and
// smsbox with sendsms and an sms-service calling Sanjog for MO messages.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace sanjog::testing {

uint16_t freeTcpPort();

class Kannel {
 public:
  Kannel();
  ~Kannel();
  Kannel(const Kannel&) = delete;
  Kannel& operator=(const Kannel&) = delete;

  static bool installed();
  // Starts bearerbox and fakesmsc. mo_url: the sms-service get-url (Kannel
  // escapes: %p sender, %P receiver, %a text, %I message id). mo_message:
  // fakesmsc's "from to type data", sent once after start ("" for none); it
  // waits in bearerbox until smsbox connects.
  ::testing::AssertionResult start(const std::string& mo_url, const std::string& mo_message);
  // Starts smsbox (sendsms, and the MO get-url, which smsbox fetches once:
  // whatever it calls must be listening by then).
  ::testing::AssertionResult startSmsbox();
  void stop();

  [[nodiscard]] uint16_t sendsmsPort() const { return sendsms_port_; }
  // What fakesmsc printed (the MT messages it got: "Got message N: <from to type data>").
  [[nodiscard]] std::string smscOutput() const;
  [[nodiscard]] std::string logs() const;

 private:
  pid_t spawn(const std::vector<std::string>& argv, const std::string& out_file);
  std::filesystem::path dir_;
  std::vector<pid_t> pids_;
  uint16_t admin_port_ = 0, box_port_ = 0, smsc_port_ = 0, sendsms_port_ = 0;
};

}  // namespace sanjog::testing
