#include "ctl/admin_client.h"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/StreamCopier.h>
#include <Poco/Timespan.h>
#include <Poco/URI.h>

#include <memory>
#include <sstream>

namespace sanjog::ctl {

std::string Response::message() const {
  if (!transport_error.empty()) return transport_error;
  if (body.is_object() && body.contains("message") && body["message"].is_string()) {
    return body["message"].get<std::string>();
  }
  return raw.substr(0, 200);
}

AdminClient::AdminClient(std::string base_url, std::string token, std::chrono::milliseconds timeout)
    : base_url_(std::move(base_url)), token_(std::move(token)), timeout_(timeout) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

Response AdminClient::call(const std::string& method, const std::string& path_and_query,
                           const nlohmann::json* body) const {
  Response r;
  try {
    const Poco::URI uri(base_url_);
    std::unique_ptr<Poco::Net::HTTPClientSession> session;
    if (uri.getScheme() == "https") {
      // Verifies the server against the system's CA store.
      Poco::Net::Context::Ptr context =
          new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", "",
                                 Poco::Net::Context::VERIFY_RELAXED, 9, true);
      session =
          std::make_unique<Poco::Net::HTTPSClientSession>(uri.getHost(), uri.getPort(), context);
    } else if (uri.getScheme() == "http") {
      session = std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
    } else {
      r.transport_error =
          "the admin URL must start with http:// or https:// (got " + base_url_ + ")";
      return r;
    }
    session->setTimeout(
        Poco::Timespan(std::chrono::duration_cast<std::chrono::microseconds>(timeout_).count()));
    Poco::Net::HTTPRequest req(
        method, uri.getPathEtc() == "/" ? path_and_query : uri.getPath() + path_and_query,
        Poco::Net::HTTPMessage::HTTP_1_1);
    if (!token_.empty()) req.set("Authorization", "Bearer " + token_);
    req.set("Accept", "application/json");
    std::string payload;
    if (body != nullptr) {
      payload = body->dump();
      req.setContentType("application/json");
    }
    req.setContentLength(static_cast<std::streamsize>(payload.size()));
    session->sendRequest(req) << payload;
    Poco::Net::HTTPResponse resp;
    std::istream& in = session->receiveResponse(resp);
    std::ostringstream text;
    Poco::StreamCopier::copyStream(in, text);
    r.status = static_cast<int>(resp.getStatus());
    r.raw = text.str();
    r.body = nlohmann::json::parse(r.raw, nullptr, false);
  } catch (const Poco::TimeoutException&) {
    r.transport_error =
        "no answer from " + base_url_ + " within " + std::to_string(timeout_.count() / 1000) + " s";
  } catch (const Poco::Exception& e) {
    r.transport_error = "cannot reach " + base_url_ + ": " + e.displayText();
  } catch (const std::exception& e) {
    r.transport_error = "cannot reach " + base_url_ + ": " + e.what();
  }
  return r;
}

std::string queryString(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    std::string encoded;
    Poco::URI::encode(v, "!#$&'()*+,/:;=?@[]% ", encoded);
    out += (out.empty() ? "?" : "&") + k + "=" + encoded;
  }
  return out;
}

std::string pathSegment(const std::string& text) {
  std::string encoded;
  Poco::URI::encode(text, "!#$&'()*+,/:;=?@[]% ", encoded);
  return encoded;
}

}  // namespace sanjog::ctl
