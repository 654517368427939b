#include "rpc/chaos.h"

#include <glog/logging.h>

#include <cstdlib>
#include <mutex>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ember {
namespace rpc {
namespace {

const std::map<std::string, ChaosRates>* Rates() {
  static const std::map<std::string, ChaosRates>* rates = [] {
    const char* spec = std::getenv(kChaosVariable);
    if (spec == nullptr) return static_cast<std::map<std::string, ChaosRates>*>(nullptr);
    auto parsed = ParseChaos(spec);
    if (!parsed.ok()) LOG(FATAL) << kChaosVariable << ": " << parsed.status().message();
    LOG(WARNING) << kChaosVariable << " is set: calls fail at random (" << spec
                 << "); for tests only";
    return new std::map<std::string, ChaosRates>(std::move(*parsed));
  }();
  return rates;
}

bool Roll(double probability) {
  if (probability <= 0) return false;
  static std::mutex mu;
  static std::mt19937_64 random(std::random_device{}());
  std::lock_guard<std::mutex> lock(mu);
  return std::uniform_real_distribution<double>(0, 1)(random) < probability;
}

class ChaosInterceptor final : public grpc::experimental::Interceptor {
 public:
  ChaosInterceptor(std::string method, bool drop_request, bool drop_reply)
      : method_(std::move(method)), drop_request_(drop_request), drop_reply_(drop_reply) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (drop_request_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace(kChaosDropHeader, "1");
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_STATUS)) {
      grpc::Status* status = methods->GetRecvStatus();
      if (drop_reply_ && status->ok()) {
        *status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                               absl::StrCat("rpc chaos: the reply of ", method_, " was dropped"));
      }
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  const bool drop_request_, drop_reply_;
};

class ChaosFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit ChaosFactory(const std::map<std::string, ChaosRates>* rates) : rates_(rates) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    std::string method = info->method() == nullptr ? "" : info->method();
    method = method.substr(method.rfind('/') + 1);
    auto it = rates_->find(method);
    if (it == rates_->end()) it = rates_->find("*");
    if (it == rates_->end()) return nullptr;
    bool drop_request = Roll(it->second.request);
    bool drop_reply = !drop_request && Roll(it->second.reply);
    if (!drop_request && !drop_reply) return nullptr;
    return new ChaosInterceptor(method, drop_request, drop_reply);
  }

 private:
  const std::map<std::string, ChaosRates>* const rates_;
};

}  // namespace

absl::StatusOr<std::map<std::string, ChaosRates>> ParseChaos(const std::string& spec) {
  std::map<std::string, ChaosRates> out;
  for (absl::string_view entry : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    std::vector<std::string> parts = absl::StrSplit(entry, absl::MaxSplits('=', 1));
    std::vector<std::string> rates =
        parts.size() == 2 ? absl::StrSplit(parts[1], ':') : std::vector<std::string>();
    ChaosRates r;
    if (parts[0].empty() || rates.size() != 2 || !absl::SimpleAtod(rates[0], &r.request) ||
        !absl::SimpleAtod(rates[1], &r.reply) || !(r.request >= 0 && r.request <= 1) ||
        !(r.reply >= 0 && r.reply <= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", entry, "' is not METHOD=REQUEST:REPLY with probabilities in [0, 1]"));
    }
    out[parts[0]] = r;
  }
  if (out.empty()) return absl::InvalidArgumentError("no METHOD=REQUEST:REPLY entry");
  return out;
}

std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
ChaosInterceptors() {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> out;
  if (const auto* rates = Rates()) out.push_back(std::make_unique<ChaosFactory>(rates));
  return out;
}

bool ChaosEnabled() { return Rates() != nullptr; }

}  // namespace rpc
}  // namespace ember
