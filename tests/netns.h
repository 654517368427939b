#pragma once
// Hosts for partition tests, made of Linux network namespaces: each host is a namespace with
// one address, wired by a veth pair to a router namespace that forwards between them; the
// test's own (root) namespace is wired to the router too, so the test reaches every host.
// A partition between two hosts is a pair of blackhole rules in the router: their packets are
// dropped silently, both ways, as a failed switch would, while every other pair still talks.
//
//   NetLab lab;  // needs root and iproute2
//   ASSERT_TRUE(lab.Create({"driver", "exec1", "exec2"})) << lab.error();
//   Subprocess driver(lab.In("driver", {"driver/ember-driver", "--bind", lab.Ip("driver")}), ...);
//   lab.Partition("driver", "exec1");  ...  lab.Heal("driver", "exec1");
//
// The destructor removes every namespace, veth, rule and route it made; Create first removes
// what a lab of a process that is gone left behind (a test killed mid-run).

#include <map>
#include <string>
#include <vector>

namespace ember {
namespace testing {

class NetLab {
 public:
  NetLab();
  ~NetLab();
  NetLab(const NetLab&) = delete;
  NetLab& operator=(const NetLab&) = delete;

  // False, with error() saying why, when a namespace or link cannot be made.
  bool Create(const std::vector<std::string>& hosts);
  const std::string& error() const { return error_; }

  // The host's address ("10.231.K.2").
  std::string Ip(const std::string& host) const;
  // `argv` run inside the host's namespace (for Subprocess).
  std::vector<std::string> In(const std::string& host, const std::vector<std::string>& argv) const;
  // Drops every packet between the two hosts, both ways; Heal undoes it.
  bool Partition(const std::string& a, const std::string& b);
  bool Heal(const std::string& a, const std::string& b);

 private:
  bool Run(const std::string& command);
  std::string Namespace(const std::string& host) const;

  std::string ip_;                    // iproute2's ip
  std::string prefix_;                // of this lab's namespaces and links: ember-PID
  std::map<std::string, int> hosts_;  // name -> K
  bool root_linked_ = false;
  std::string error_;
};

}  // namespace testing
}  // namespace ember
