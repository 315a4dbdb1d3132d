#include "plugin_host/http_client.h"

#include <Poco/Exception.h>
#include <Poco/Net/DNS.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/StreamCopier.h>
#include <Poco/String.h>
#include <Poco/URI.h>

#include <istream>
#include <ostream>

#include "common/log.h"

namespace sanjog::plugin_host {

HttpClient::HttpClient(Options options, metrics::Metrics* metrics)
    : options_(std::move(options)), metrics_(metrics) {
  // VERIFY_RELAXED on a client verifies the server certificate chain; the
  // system store is loaded (loadDefaultCAs), plus ca_file when given.
  tls_ = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", options_.ca_file,
                                Poco::Net::Context::VERIFY_RELAXED, 9, true,
                                "ALL:!ADH:!LOW:!EXP:!MD5:@STRENGTH");
  tls_->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
}

HttpClient::~HttpClient() = default;

std::optional<std::string> originOf(const std::string& url) {
  if (url.find("://") == std::string::npos) return std::nullopt;
  try {
    const Poco::URI uri(url);
    const std::string scheme = Poco::toLower(uri.getScheme());
    if ((scheme != "http" && scheme != "https") || uri.getHost().empty()) return std::nullopt;
    return Poco::toLower(uri.getScheme()) + "://" + Poco::toLower(uri.getHost()) + ":" +
           std::to_string(uri.getPort());
  } catch (const Poco::Exception&) {
    return std::nullopt;
  }
}

void HttpClient::setPolicy(OutboundPolicy policy) {
  auto p = std::make_shared<const OutboundPolicy>(std::move(policy));
  std::lock_guard<std::mutex> lock(policy_mutex_);
  policy_ = std::move(p);
}

std::string HttpClient::refusal(const Poco::URI& uri, const std::string& origin) {
  std::shared_ptr<const OutboundPolicy> policy;
  {
    std::lock_guard<std::mutex> lock(policy_mutex_);
    policy = policy_;
  }
  if (policy->trusted_origins.count(origin) != 0) return "";
  std::vector<std::array<uint8_t, 16>> addresses;
  if (auto literal = net::parseAddress(uri.getHost())) {
    addresses.push_back(*literal);
  } else {
    // Every address the name resolves to must be public: a DNS answer that
    // mixes a public and an internal address is refused too.
    try {
      const Poco::Net::HostEntry entry = Poco::Net::DNS::resolve(uri.getHost());
      for (const auto& a : entry.addresses()) {
        if (auto parsed = net::parseAddress(a.toString())) addresses.push_back(*parsed);
      }
    } catch (const Poco::Exception&) {
      return "";  // unresolvable: the connection attempt reports it
    }
  }
  for (const auto& a : addresses) {
    if (!net::isInternal(a)) continue;
    bool allowed = false;
    for (const auto& range : policy->allow) allowed = allowed || range.contains(a);
    if (!allowed) {
      return uri.getHost() +
             " is an internal address; URLs from payloads may only reach it when "
             "outbound.allow_private names its range";
    }
  }
  return "";
}

HttpClient::SessionPtr HttpClient::acquire(const std::string& key, const std::string& scheme,
                                           const std::string& host, uint16_t port) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = idle_.find(key);
    if (it != idle_.end() && !it->second.empty()) {
      SessionPtr s = std::move(it->second.back());
      it->second.pop_back();
      return s;
    }
  }
  if (scheme == "https") return std::make_unique<Poco::Net::HTTPSClientSession>(host, port, tls_);
  return std::make_unique<Poco::Net::HTTPClientSession>(host, port);
}

void HttpClient::release(const std::string& key, SessionPtr session) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& pool = idle_[key];
  if (pool.size() < options_.max_idle_per_host) pool.push_back(std::move(session));
}

void HttpClient::count(const std::string& instance, const std::string& result, double seconds) {
  if (metrics_ == nullptr) return;
  metrics_->upstream_requests.Add({{"instance", instance}, {"result", result}}).Increment();
  metrics_->upstream_duration.Add({{"instance", instance}}, metrics::latencyBuckets())
      .Observe(seconds);
}

Result<HttpResponse> HttpClient::send(const std::string& instance, const HttpRequest& request) {
  Poco::URI uri;
  try {
    uri = Poco::URI(request.url);
  } catch (const Poco::Exception& e) {
    return Status(Code::kInvalidArgument, "bad URL: " + e.displayText());
  }
  const std::string scheme = uri.getScheme();
  if ((scheme != "http" && scheme != "https") || uri.getHost().empty()) {
    return Status(Code::kInvalidArgument, "URL must be absolute http:// or https://");
  }
  const std::string key = scheme + "://" + uri.getHost() + ":" + std::to_string(uri.getPort());
  if (auto why = refusal(uri, originOf(request.url).value_or("")); !why.empty()) {
    if (metrics_ != nullptr) metrics_->outbound_blocked.Add({{"instance", instance}}).Increment();
    log::warn("sanjog.http_client", "outbound request refused (SSRF guard)",
              {{"instance", instance}, {"host", uri.getHost()}});
    return Status(Code::kInvalidArgument, why);
  }
  const auto started = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  const Poco::Timespan timeout(static_cast<Poco::Timespan::TimeDiff>(request.timeout.count()) *
                               1000);
  // A pooled connection may have been closed by the server; retry once on a
  // fresh one when the failure happens before any response byte.
  for (int round = 0; round < 2; ++round) {
    SessionPtr session = acquire(key, scheme, uri.getHost(), uri.getPort());
    const bool reused = session->connected();
    try {
      session->setTimeout(timeout, timeout, timeout);
      session->setKeepAlive(true);
      std::string target = uri.getPathAndQuery();
      if (target.empty()) target = "/";
      Poco::Net::HTTPRequest req(request.method, target, Poco::Net::HTTPMessage::HTTP_1_1);
      req.setHost(uri.getHost(), uri.getPort());
      req.setKeepAlive(true);
      for (const auto& [name, value] : request.headers) req.set(name, value);
      if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
          request.method == "PATCH") {
        req.setContentLength(static_cast<std::streamsize>(request.body.size()));
      }
      std::ostream& out = session->sendRequest(req);
      out.write(request.body.data(), static_cast<std::streamsize>(request.body.size()));
      Poco::Net::HTTPResponse res;
      std::istream& in = session->receiveResponse(res);
      HttpResponse response;
      response.status = static_cast<int>(res.getStatus());
      for (const auto& [name, value] : res) response.headers.emplace_back(name, value);
      char buf[16384];
      while (in) {
        in.read(buf, sizeof buf);
        response.body.append(buf, static_cast<size_t>(in.gcount()));
        if (response.body.size() > options_.max_response_bytes) {
          count(instance, "error", elapsed());
          return Status(
              Code::kUpstreamError,
              "response body over " + std::to_string(options_.max_response_bytes) + " bytes");
        }
      }
      const std::string klass = std::to_string(response.status / 100) + "xx";
      count(instance, klass, elapsed());
      if (res.getKeepAlive()) release(key, std::move(session));
      return response;
    } catch (const Poco::TimeoutException& e) {
      count(instance, "timeout", elapsed());
      return Status(Code::kTimeout, "no answer within " + std::to_string(request.timeout.count()) +
                                        " ms from " + uri.getHost());
    } catch (const Poco::Exception& e) {
      if (reused && round == 0) continue;
      count(instance, "error", elapsed());
      return Status(Code::kUnavailable,
                    uri.getHost() + ":" + std::to_string(uri.getPort()) + ": " + e.displayText());
    } catch (const std::exception& e) {
      if (reused && round == 0) continue;
      count(instance, "error", elapsed());
      return Status(Code::kUnavailable, e.what());
    }
  }
  return Status(Code::kUnavailable, "connection failed");
}

}  // namespace sanjog::plugin_host
