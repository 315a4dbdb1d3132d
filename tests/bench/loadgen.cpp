// sanjog_loadgen: the load generator, fake provider and baseline server of
// the benchmark suite (scripts/bench/run.sh). Not a test and not part of the
// product; built with the project so that the benchmark needs nothing else.
//
//   presign  --secret S --count N [--conversations C] --out FILE
//       Signed WhatsApp Cloud API webhooks, one "signature<TAB>body" per line,
//       for wrk's Lua script (the ingest scenario).
//   hello    --port-file F [--threads 64]
//       A bare POCO HTTP server answering 200 "ok": the baseline for what
//       the HTTP layer alone costs on this machine.
//   run      --url URL --secret S --sink-port P [options]
//       Posts signed webhooks (open loop at --rate, or as fast as answered
//       when --rate is 0) and serves as the provider the relay delivers to:
//       the sink reads "seq=N conv=C" from each delivered body and measures
//       the time from webhook sent to provider request, per-conversation
//       order, and what was lost. Prints one JSON line.
//
// Order check: a message whose 2xx came back before another message of the
// same conversation was sent must reach the provider first. That holds for
// any number of connections, so a conversation may be spread over several.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/NullStream.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Args {
  std::map<std::string, std::string> values;
  [[nodiscard]] std::string str(const std::string& k, const std::string& def = "") const {
    auto it = values.find(k);
    return it == values.end() ? def : it->second;
  }
  [[nodiscard]] double num(const std::string& k, double def) const {
    auto it = values.find(k);
    return it == values.end() ? def : std::stod(it->second);
  }
  [[nodiscard]] bool flag(const std::string& k) const { return values.count(k) > 0; }
};

Args parse(int argc, char** argv, int from) {
  Args a;
  for (int i = from; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) throw std::runtime_error("unexpected argument " + k);
    k = k.substr(2);
    if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      a.values[k] = argv[++i];
    } else {
      a.values[k] = "1";
    }
  }
  return a;
}

std::string hmacHex(const std::string& key, const std::string& body) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), out, &len);
  static const char* hex = "0123456789abcdef";
  std::string s;
  s.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    s.push_back(hex[out[i] >> 4]);
    s.push_back(hex[out[i] & 15]);
  }
  return s;
}

// \u-escapes non-ASCII UTF-8 the way Meta sends it (BMP only, enough here).
std::string escapeJson(const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size();) {
    const auto c = static_cast<unsigned char>(in[i]);
    uint32_t cp = c;
    size_t n = 1;
    if (c >= 0xE0) {
      cp = ((c & 0x0F) << 12) | ((in[i + 1] & 0x3F) << 6) | (in[i + 2] & 0x3F);
      n = 3;
    } else if (c >= 0xC0) {
      cp = ((c & 0x1F) << 6) | (in[i + 1] & 0x3F);
      n = 2;
    }
    if (cp < 0x80) {
      if (cp == '"' || cp == '\\') out.push_back('\\');
      out.push_back(static_cast<char>(cp));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      out += buf;
    }
    i += n;
  }
  return out;
}

// A WhatsApp Cloud API "messages" webhook of about 1.4 KB: a customer
// writing in Bengali, as Meta posts it (minified, \u-escaped).
std::string webhookBody(int64_t seq, int64_t conv, int64_t ts) {
  static const std::string text = escapeJson(
      "আসসালামু আলাইকুম, আমি গতকাল একটি লাল জামদানি শাড়ি অর্ডার করেছিলাম। "
      "ডেলিভারি কবে হবে জানাবেন? ঠিকানা মিরপুর ১০, ঢাকা। ধন্যবাদ।");
  static const std::string name = escapeJson("রহিমা খাতুন");
  char phone[32];
  std::snprintf(phone, sizeof phone, "88017%08lld", static_cast<long long>(conv));
  std::string b;
  b.reserve(1600);
  b +=
      R"({"object":"whatsapp_business_account","entry":[{"id":"1234567890987654321","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"8801711000100","phone_number_id":"1122334455667"},"contacts":[{"profile":{"name":")";
  b += name;
  b += R"("},"wa_id":")";
  b += phone;
  b += R"("}],"messages":[{"from":")";
  b += phone;
  b += R"(","id":"wamid.HBgNODgwMTcxMTIzNDU2NxUCABIYFjNFQjBCNkE5RjQ1)";
  b += std::to_string(seq);
  b += R"(","timestamp":")";
  b += std::to_string(ts);
  b += R"(","type":"text","text":{"body":")";
  b += text;
  b += " seq=" + std::to_string(seq) + " conv=" + std::to_string(conv);
  b += R"("}}]},"field":"messages"}]}]})";
  return b;
}

int64_t wallSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int presign(const Args& a) {
  const auto n = static_cast<int64_t>(a.num("count", 100000));
  const auto convs = static_cast<int64_t>(a.num("conversations", 10000));
  const auto secret = a.str("secret");
  std::ofstream out(a.str("out"));
  const int64_t ts = wallSeconds();
  for (int64_t i = 0; i < n; ++i) {
    const auto body = webhookBody(i, i % convs, ts);
    out << hmacHex(secret, body) << '\t' << body << '\n';
  }
  return out.good() ? 0 : 1;
}

// ------------------------------------------------------------- servers --

class HelloHandler : public Poco::Net::HTTPRequestHandler {
 public:
  void handleRequest(Poco::Net::HTTPServerRequest& req,
                     Poco::Net::HTTPServerResponse& res) override {
    Poco::NullOutputStream null;
    Poco::StreamCopier::copyStream(req.stream(), null);
    res.setContentLength(3);
    res.setContentType("text/plain");
    res.send() << "ok\n";
  }
};

template <class Handler>
class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(std::function<Handler*()> make) : make_(std::move(make)) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return make_();
  }

 private:
  std::function<Handler*()> make_;
};

Poco::Net::HTTPServerParams::Ptr serverParams(int threads) {
  auto* p = new Poco::Net::HTTPServerParams;
  p->setMaxThreads(threads);
  p->setMaxQueued(4096);
  p->setKeepAlive(true);
  p->setMaxKeepAliveRequests(0);
  p->setKeepAliveTimeout(Poco::Timespan(30, 0));
  return p;
}

void waitForSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
}

void blockSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int hello(const Args& a) {
  blockSignals();
  Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0), 1024);
  const int threads = static_cast<int>(a.num("threads", 64));
  Poco::Net::HTTPServer server(new Factory<HelloHandler>([] { return new HelloHandler; }), socket,
                               serverParams(threads));
  server.start();
  {
    std::ofstream f(a.str("port-file") + ".tmp");
    f << socket.address().port() << '\n';
  }
  std::filesystem::rename(a.str("port-file") + ".tmp", a.str("port-file"));
  waitForSignal();
  server.stop();
  return 0;
}

// ----------------------------------------------------------- the relay --

struct Message {
  int64_t conv = 0;
  int64_t sent_ns = 0;     // when it was due (open loop) or sent
  int64_t actual_ns = 0;   // when it was really sent (the order check)
  int64_t acked_ns = 0;    // 2xx received
  int64_t arrived_ns = 0;  // first delivery at the sink
  std::atomic<int> deliveries{0};
  int status = 0;
};

struct State {
  std::vector<Message> msgs;
  std::atomic<int64_t> sent{0}, acked{0}, rejected{0}, errors{0};
  std::atomic<int64_t> delivered{0}, duplicates{0}, unknown{0};
  std::atomic<int64_t> last_arrival_ns{0};
};

class SinkHandler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit SinkHandler(State& s) : s_(s) {}
  void handleRequest(Poco::Net::HTTPServerRequest& req,
                     Poco::Net::HTTPServerResponse& res) override {
    std::string body;
    Poco::StreamCopier::copyToString(req.stream(), body);
    const int64_t t = nowNs();
    const auto p = body.find("seq=");
    int64_t seq = -1;
    if (p != std::string::npos) seq = std::strtoll(body.c_str() + p + 4, nullptr, 10);
    if (seq >= 0 && seq < static_cast<int64_t>(s_.msgs.size())) {
      auto& m = s_.msgs[static_cast<size_t>(seq)];
      if (m.deliveries.fetch_add(1) == 0) {
        m.arrived_ns = t;
        s_.delivered.fetch_add(1);
        int64_t last = s_.last_arrival_ns.load();
        while (t > last && !s_.last_arrival_ns.compare_exchange_weak(last, t)) {
        }
      } else {
        s_.duplicates.fetch_add(1);
      }
    } else {
      s_.unknown.fetch_add(1);
    }
    res.setContentType("application/json");
    res.setContentLength(2);
    res.send() << "{}";
  }

 private:
  State& s_;
};

int64_t rssKb(int pid, const char* field) {
  if (pid <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field, 0) == 0)
      return std::strtoll(line.c_str() + std::strlen(field), nullptr, 10);
  }
  return 0;
}

int64_t fileBytes(const std::string& path) {
  int64_t total = 0;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(path + suffix, ec);
    if (!ec) total += static_cast<int64_t>(n);
  }
  return total;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<size_t>(p * double(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

int run(const Args& a) {
  blockSignals();
  const Poco::URI uri(a.str("url"));
  const auto secret = a.str("secret");
  const double rate = a.num("rate", 0);
  const double duration = a.num("duration", 10);
  const auto count_limit = static_cast<int64_t>(a.num("count", 0));
  const auto convs = std::max<int64_t>(1, static_cast<int64_t>(a.num("conversations", 10000)));
  const int conns = static_cast<int>(a.num("connections", 16));
  const int pid = static_cast<int>(a.num("pid", 0));
  const int peer_pid = static_cast<int>(a.num("peer-pid", 0));
  const auto db = a.str("db");
  const bool sink_down = a.flag("sink-down");
  const double drain_timeout = a.num("drain-timeout", 30);
  const auto sink_port = static_cast<Poco::UInt16>(a.num("sink-port", 0));

  State s;
  const int64_t capacity =
      count_limit > 0 ? count_limit
                      : static_cast<int64_t>((rate > 0 ? rate : 60000) * duration * 1.2) + 1000;
  s.msgs = std::vector<Message>(static_cast<size_t>(capacity));

  std::unique_ptr<Poco::Net::HTTPServer> sink;
  auto startSink = [&] {
    Poco::Net::ServerSocket socket;
    socket.bind(Poco::Net::SocketAddress("127.0.0.1", sink_port), true);
    socket.listen(1024);
    sink = std::make_unique<Poco::Net::HTTPServer>(
        new Factory<SinkHandler>([&s] { return new SinkHandler(s); }), socket,
        serverParams(static_cast<int>(a.num("sink-threads", 32))));
    sink->start();
  };
  if (!sink_down) startSink();

  // RSS of the system under test, sampled while the run goes.
  std::atomic<bool> sampling{true};
  std::vector<std::pair<int64_t, int64_t>> rss_samples;  // (events acked, KB)
  std::thread sampler([&] {
    while (sampling.load()) {
      if (pid > 0) rss_samples.emplace_back(s.acked.load(), rssKb(pid, "VmRSS:"));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });

  const int64_t start_ns = nowNs();
  const auto end_ns = start_ns + static_cast<int64_t>(duration * 1e9);
  std::atomic<int64_t> next_seq{0};
  const int64_t ts = wallSeconds();
  std::vector<std::thread> senders;
  for (int c = 0; c < conns; ++c) {
    senders.emplace_back([&, c] {
      Poco::Net::HTTPClientSession session(uri.getHost(), uri.getPort());
      session.setKeepAlive(true);
      session.setTimeout(Poco::Timespan(30, 0));
      int64_t i = 0;  // this connection's i-th request
      while (true) {
        int64_t due = 0;
        if (rate > 0) {
          due = start_ns + static_cast<int64_t>(double(i * conns + c) * 1e9 / rate);
          if (due >= end_ns) break;
          const auto wait = due - nowNs();
          if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
        } else if (count_limit == 0 && nowNs() >= end_ns) {
          break;
        }
        ++i;
        const int64_t seq = next_seq.fetch_add(1);
        if (seq >= capacity) break;
        auto& m = s.msgs[static_cast<size_t>(seq)];
        m.conv = seq % convs;
        const auto body = webhookBody(seq, m.conv, ts);
        Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_POST, uri.getPathEtc(),
                                   Poco::Net::HTTPMessage::HTTP_1_1);
        req.setContentType("application/json");
        req.setContentLength(static_cast<std::streamsize>(body.size()));
        req.set("X-Hub-Signature-256", "sha256=" + hmacHex(secret, body));
        m.actual_ns = nowNs();
        m.sent_ns = rate > 0 ? due : m.actual_ns;
        s.sent.fetch_add(1);
        try {
          session.sendRequest(req) << body;
          Poco::Net::HTTPResponse res;
          auto& in = session.receiveResponse(res);
          Poco::NullOutputStream null;
          Poco::StreamCopier::copyStream(in, null);
          m.status = static_cast<int>(res.getStatus());
          if (m.status >= 200 && m.status < 300) {
            m.acked_ns = nowNs();
            s.acked.fetch_add(1);
          } else {
            s.rejected.fetch_add(1);
          }
        } catch (const std::exception& e) {
          s.errors.fetch_add(1);
          session.reset();
        }
      }
    });
  }
  for (auto& t : senders) t.join();
  const int64_t send_end_ns = nowNs();
  const int64_t total = std::min<int64_t>(next_seq.load(), capacity);
  const int64_t db_bytes = db.empty() ? 0 : fileBytes(db);
  const int64_t rss_after_fill = rssKb(pid, "VmRSS:");

  int64_t drain_start_ns = send_end_ns;
  if (sink_down) {
    drain_start_ns = nowNs();
    startSink();
  }
  // Wait (with a deadline) for every acknowledged message to arrive.
  const auto deadline = nowNs() + static_cast<int64_t>(drain_timeout * 1e9);
  int64_t last_seen = -1;
  int64_t last_progress_ns = nowNs();
  while (s.delivered.load() < s.acked.load() && nowNs() < deadline) {
    const auto d = s.delivered.load();
    if (d != last_seen) {
      last_seen = d;
      last_progress_ns = nowNs();
    } else if (nowNs() - last_progress_ns > static_cast<int64_t>(10e9)) {
      break;  // no progress for 10 s: report what arrived
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const int64_t drained_ns = s.last_arrival_ns.load();
  sampling = false;
  sampler.join();
  if (sink) sink->stopAll(true);  // idle keep-alive connections would hold stop() for 30 s

  // Latencies, loss and order.
  std::vector<double> ingest_ms, e2e_ms;
  ingest_ms.reserve(static_cast<size_t>(total));
  e2e_ms.reserve(static_cast<size_t>(total));
  int64_t lost = 0;
  std::vector<std::vector<int64_t>> by_conv(static_cast<size_t>(std::min(convs, total)));
  for (int64_t i = 0; i < total; ++i) {
    const auto& m = s.msgs[static_cast<size_t>(i)];
    if (m.acked_ns == 0) continue;
    ingest_ms.push_back(double(m.acked_ns - m.sent_ns) / 1e6);
    if (m.arrived_ns == 0) {
      ++lost;
      continue;
    }
    e2e_ms.push_back(double(m.arrived_ns - m.sent_ns) / 1e6);
    by_conv[static_cast<size_t>(m.conv)].push_back(i);
  }
  int64_t order_violations = 0;
  for (auto& list : by_conv) {
    std::sort(list.begin(), list.end(), [&](int64_t x, int64_t y) {
      return s.msgs[static_cast<size_t>(x)].arrived_ns < s.msgs[static_cast<size_t>(y)].arrived_ns;
    });
    int64_t max_sent = 0;
    for (auto i : list) {
      const auto& m = s.msgs[static_cast<size_t>(i)];
      // Something that arrived earlier was sent after this one was acked.
      if (max_sent > m.acked_ns) ++order_violations;
      max_sent = std::max(max_sent, m.actual_ns);
    }
  }
  int64_t peak_rss = 0;
  for (const auto& [_, kb] : rss_samples) peak_rss = std::max(peak_rss, kb);
  const double send_s = double(send_end_ns - start_ns) / 1e9;
  const double relay_s = double(std::max(drained_ns, start_ns) - start_ns) / 1e9;
  const double drain_s = double(std::max(drained_ns, drain_start_ns) - drain_start_ns) / 1e9;

  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(3);
  o << "{\"label\":\"" << a.str("label") << "\",\"rate\":" << rate << ",\"connections\":" << conns
    << ",\"conversations\":" << convs << ",\"sent\":" << s.sent.load()
    << ",\"acked\":" << s.acked.load() << ",\"rejected\":" << s.rejected.load()
    << ",\"errors\":" << s.errors.load() << ",\"delivered\":" << s.delivered.load()
    << ",\"lost\":" << lost << ",\"duplicates\":" << s.duplicates.load()
    << ",\"unknown\":" << s.unknown.load() << ",\"order_violations\":" << order_violations
    << ",\"send_seconds\":" << send_s
    << ",\"ingest_per_s\":" << (send_s > 0 ? double(s.acked.load()) / send_s : 0)
    << ",\"relay_per_s\":" << (relay_s > 0 ? double(s.delivered.load()) / relay_s : 0)
    << ",\"ingest_p50_ms\":" << percentile(ingest_ms, 0.5)
    << ",\"ingest_p99_ms\":" << percentile(ingest_ms, 0.99)
    << ",\"e2e_p50_ms\":" << percentile(e2e_ms, 0.5)
    << ",\"e2e_p99_ms\":" << percentile(e2e_ms, 0.99) << ",\"peak_rss_kb\":" << peak_rss
    << ",\"hwm_rss_kb\":" << rssKb(pid, "VmHWM:") << ",\"rss_after_fill_kb\":" << rss_after_fill
    << ",\"rss_end_kb\":" << rssKb(pid, "VmRSS:")
    << ",\"peer_hwm_rss_kb\":" << rssKb(peer_pid, "VmHWM:") << ",\"db_bytes\":" << db_bytes
    << ",\"drain_seconds\":" << drain_s
    << ",\"drain_per_s\":" << (drain_s > 0 ? double(s.delivered.load()) / drain_s : 0)
    << ",\"rss_curve_kb\":[";
  // Ten points of the RSS curve against events acknowledged.
  const size_t step = std::max<size_t>(1, rss_samples.size() / 10);
  for (size_t i = 0; i < rss_samples.size(); i += step) {
    o << (i ? "," : "") << "[" << rss_samples[i].first << "," << rss_samples[i].second << "]";
  }
  o << "]}";
  std::cout << o.str() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: sanjog_loadgen presign|hello|run [--option value]...\n";
    return 2;
  }
  try {
    const std::string mode = argv[1];
    const auto args = parse(argc, argv, 2);
    if (mode == "presign") return presign(args);
    if (mode == "hello") return hello(args);
    if (mode == "run") return run(args);
    std::cerr << "unknown mode " << mode << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "sanjog_loadgen: " << e.what() << "\n";
    return 1;
  }
}
