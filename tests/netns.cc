#include "tests/netns.h"

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>

namespace ember {
namespace testing {
namespace {

constexpr int kRootK = 254;  // the test's own namespace's subnet

std::string Address(int k, int host) {
  return "10.231." + std::to_string(k) + "." + std::to_string(host);
}

// Runs a shell command; its output (stdout and stderr) in *out; true on exit 0.
bool Shell(const std::string& command, std::string* out) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) {
    *out = "cannot run a shell";
    return false;
  }
  char buf[512];
  size_t n;
  out->clear();
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out->append(buf, n);
  int status = pclose(p);
  return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

NetLab::NetLab() : prefix_("ember-" + std::to_string(getpid())) {
  for (const char* candidate : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (access(candidate, X_OK) == 0) {
      ip_ = candidate;
      break;
    }
  }
}

NetLab::~NetLab() {
  std::string ignored;
  // The router's end of every veth goes with its namespace, and the other end with it.
  for (const auto& [host, k] : hosts_) Shell(ip_ + " netns del " + Namespace(host), &ignored);
  Shell(ip_ + " netns del " + prefix_ + "-router", &ignored);
}

bool NetLab::Run(const std::string& command) {
  std::string out;
  if (Shell(command, &out)) return true;
  error_ = command + ": " + out;
  return false;
}

std::string NetLab::Namespace(const std::string& host) const { return prefix_ + "-" + host; }

bool NetLab::Create(const std::vector<std::string>& hosts) {
  if (ip_.empty()) {
    error_ = "iproute2's ip is not installed (setup.sh installs it)";
    return false;
  }
  if (geteuid() != 0) {
    error_ = "network namespaces need root";
    return false;
  }
  // What labs of processes that are gone left behind.
  std::string list;
  Shell(ip_ + " netns list", &list);
  std::istringstream lines(list);
  for (std::string line; std::getline(lines, line);) {
    std::string name = line.substr(0, line.find(' '));
    if (name.rfind("ember-", 0) != 0) continue;
    std::string pid = name.substr(6, name.find('-', 6) - 6);
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (kill(std::stoi(pid), 0) == 0 || errno != ESRCH) continue;
    std::string ignored;
    Shell(ip_ + " netns del " + name, &ignored);
  }

  const std::string router = prefix_ + "-router";
  const std::string short_prefix = "em" + std::to_string(getpid());
  if (!Run(ip_ + " netns add " + router) || !Run(ip_ + " -n " + router + " link set lo up") ||
      !Run(ip_ + " netns exec " + router + " sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'")) {
    return false;
  }
  auto wire = [&](int k, const std::string& ns) {
    std::string here = short_prefix + "h" + std::to_string(k);
    std::string there = short_prefix + "r" + std::to_string(k);
    std::string in_ns = ns.empty() ? ip_ : ip_ + " -n " + ns;
    if (!Run(ip_ + " link add " + here + " type veth peer name " + there) ||
        !Run(ip_ + " link set " + there + " netns " + router) ||
        (!ns.empty() && !Run(ip_ + " link set " + here + " netns " + ns)) ||
        !Run(in_ns + " addr add " + Address(k, 2) + "/24 dev " + here) ||
        !Run(in_ns + " link set " + here + " up") ||
        !Run(ip_ + " -n " + router + " addr add " + Address(k, 1) + "/24 dev " + there) ||
        !Run(ip_ + " -n " + router + " link set " + there + " up")) {
      return false;
    }
    if (ns.empty()) {
      return Run(ip_ + " route add 10.231.0.0/16 via " + Address(k, 1));
    }
    return Run(in_ns + " link set lo up") && Run(in_ns + " route add default via " + Address(k, 1));
  };
  int k = 0;
  for (const auto& host : hosts) {
    hosts_[host] = ++k;
    if (!Run(ip_ + " netns add " + Namespace(host)) || !wire(k, Namespace(host))) return false;
  }
  root_linked_ = wire(kRootK, "");
  return root_linked_;
}

std::string NetLab::Ip(const std::string& host) const {
  auto it = hosts_.find(host);
  return it == hosts_.end() ? "" : Address(it->second, 2);
}

std::vector<std::string> NetLab::In(const std::string& host,
                                    const std::vector<std::string>& argv) const {
  std::vector<std::string> out = {ip_, "netns", "exec", Namespace(host)};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

bool NetLab::Partition(const std::string& a, const std::string& b) {
  const std::string rule = ip_ + " -n " + prefix_ + "-router rule add priority 100 from ";
  return Run(rule + Ip(a) + " to " + Ip(b) + " blackhole") &&
         Run(rule + Ip(b) + " to " + Ip(a) + " blackhole");
}

bool NetLab::Heal(const std::string& a, const std::string& b) {
  const std::string rule = ip_ + " -n " + prefix_ + "-router rule del priority 100 from ";
  return Run(rule + Ip(a) + " to " + Ip(b) + " blackhole") &&
         Run(rule + Ip(b) + " to " + Ip(a) + " blackhole");
}

}  // namespace testing
}  // namespace ember
