// ember-textserver: serves lines of text over TCP like `nc -lk 9999`, for socketTextStream
// examples and tests. See --help, and tools/text_server_lib.h for the behaviour.
//
// Exit status: 0 after SIGINT/SIGTERM or a finished --exit-on-eof run, 1 on a runtime error
// (cannot listen, cannot read the source), 2 on bad flags.

#include <glog/logging.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "tools/text_server_lib.h"
#include "util/log_level.h"

ABSL_FLAG(std::string, bind, "127.0.0.1", "Address to listen on.");
ABSL_FLAG(int32_t, port, 9999, "TCP port; 0 lets the OS pick one (see the 'listening on' line).");
ABSL_FLAG(std::string, file, "", "Send this file's lines instead of reading stdin.");
ABSL_FLAG(bool, loop, false, "With --file: start again at the end of the file, forever.");
ABSL_FLAG(bool, generate, false,
          "Send random text instead of reading stdin: words w0 w1 ... from a fixed vocabulary.");
ABSL_FLAG(int32_t, words_per_line, 10, "With --generate: words per line.");
ABSL_FLAG(int32_t, vocabulary, 1000, "With --generate: number of distinct words.");
ABSL_FLAG(uint64_t, seed, 0, "With --generate: random seed; the same seed sends the same lines.");
ABSL_FLAG(double, rate, 0, "Lines per second; 0 = as fast as the clients read.");
ABSL_FLAG(int64_t, count, 0, "Stop after this many lines; 0 = unlimited.");
ABSL_FLAG(std::optional<int32_t>, wait_for_clients, std::nullopt,
          "Send nothing until this many clients are connected. Default: 1 with --file or "
          "--generate, 0 with stdin (lines sent while no client is connected are dropped).");
ABSL_FLAG(bool, exit_on_eof, false,
          "When the source ends (EOF, or --count reached), deliver what is queued and exit "
          "instead of serving the connected clients until SIGINT/SIGTERM.");
ABSL_FLAG(std::string, record, "",
          "Append '<monotonic ms>\\t<line>' to this file for every line sent to at least one "
          "client (CLOCK_MONOTONIC, comparable with other processes on this machine).");
ABSL_FLAG(int64_t, slow_client_timeout_ms, 10000,
          "Drop a client whose queued output makes no progress for this long (it holds back "
          "the others meanwhile); 0 = never.");

namespace ember {
namespace tools {
namespace {

constexpr char kProgram[] = "ember-textserver";
constexpr int kBadFlags = 2;

// The order --help lists them in.
const char* const kFlagOrder[] = {
    "bind",
    "port",
    "file",
    "loop",
    "generate",
    "words_per_line",
    "vocabulary",
    "seed",
    "rate",
    "count",
    "wait_for_clients",
    "exit_on_eof",
    "record",
    "slow_client_timeout_ms",
};

[[noreturn]] void FailFlags(const std::string& message) {
  std::cerr << kProgram << ": " << message << "\nTry '" << kProgram << " --help'.\n";
  std::exit(kBadFlags);
}

std::string Dashed(absl::string_view name) { return absl::StrReplaceAll(name, {{"_", "-"}}); }

void PrintHelp() {
  std::cout << absl::ProgramUsageMessage() << "\n\nFlags (write --a-b or --a_b, --x=v or --x v; "
            << "--noflag clears a boolean):\n";
  for (const char* name : kFlagOrder) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    CHECK(flag != nullptr) << name;
    std::string default_value = flag->DefaultValue();
    if (flag->IsOfType<std::string>()) default_value = absl::StrCat("\"", default_value, "\"");
    std::cout << "  --" << Dashed(name) << "\n      " << flag->Help();
    if (!default_value.empty()) std::cout << " (default: " << default_value << ")";
    std::cout << "\n";
  }
  std::cout << "  --help\n      Show this help and exit.\n"
            << "\nLogging (glog, to stderr): --log-level=LEVEL (ALL, TRACE, DEBUG, INFO, WARN, "
            << "ERROR, FATAL or OFF, as the other programs'), --v=N, "
            << "--vmodule=text_server_lib=N, --minloglevel=N.\n";
}

// Applies --v=N, --vmodule=pattern=N,... or --minloglevel=N; false on a malformed value.
bool SetGlogFlag(const std::string& name, const std::string& value) {
  if (name == "vmodule") {
    for (absl::string_view entry : absl::StrSplit(value, ',', absl::SkipEmpty())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(entry, absl::MaxSplits('=', 1));
      int level = 0;
      if (kv.first.empty() || !absl::SimpleAtoi(kv.second, &level)) return false;
      google::SetVLOGLevel(kv.first.c_str(), level);
    }
    return true;
  }
  int level = 0;
  if (!absl::SimpleAtoi(value, &level)) return false;
  (name == "v" ? FLAGS_v : FLAGS_minloglevel) = level;
  return true;
}

bool IsOurFlag(const absl::CommandLineFlag& flag) {
  return std::find(std::begin(kFlagOrder), std::end(kFlagOrder), flag.Name()) !=
         std::end(kFlagOrder);
}

// absl::ParseCommandLine exits with status 1 on a bad flag, and does not know glog's flags or
// dashed names. This pass settles all of that first: it fails with status 2 and a message on
// anything absl would reject, applies glog's --v, --vmodule and --minloglevel, and returns
// the remaining flags, normalized, for absl::ParseCommandLine to apply. `given` collects the
// names of our flags that were set.
std::vector<std::string> CheckFlags(int argc, char** argv, std::set<std::string>* given) {
  std::vector<std::string> for_absl = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-') FailFlags(absl::StrCat("unexpected argument '", arg, "'"));
    if (arg == "--") {
      if (i + 1 < argc) FailFlags(absl::StrCat("unexpected argument '", argv[i + 1], "'"));
      break;
    }
    const size_t dashes = arg[1] == '-' ? 2 : 1;
    const size_t eq = arg.find('=');
    const bool has_value = eq != std::string::npos;
    std::string name = absl::StrReplaceAll(arg.substr(dashes, eq - dashes), {{"-", "_"}});
    std::string value = has_value ? arg.substr(eq + 1) : "";
    if (name == "help" || name == "h" || name == "helpfull" || name == "helpshort") {
      PrintHelp();
      std::exit(0);
    }

    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag != nullptr && IsOurFlag(*flag)) {
      if (!has_value) {
        if (flag->IsOfType<bool>()) {
          value = "true";
        } else if (i + 1 < argc) {
          value = argv[++i];
        } else {
          FailFlags(absl::StrCat("flag --", Dashed(name), " needs a value"));
        }
      }
      std::string error;
      // Sets the flag as absl::ParseCommandLine will; only the exit status differs on failure.
      if (!flag->ParseFrom(value, &error)) {
        FailFlags(absl::StrCat("bad value '", value, "' for --", Dashed(name), ": ", error));
      }
      given->insert(name);
      for_absl.push_back(absl::StrCat("--", name, "=", value));
      continue;
    }
    if (absl::StartsWith(name, "no") && !has_value) {
      flag = absl::FindCommandLineFlag(name.substr(2));
      if (flag != nullptr && IsOurFlag(*flag) && flag->IsOfType<bool>()) {
        given->insert(name.substr(2));
        for_absl.push_back(absl::StrCat("--", name));
        continue;
      }
    }

    // The glog settings worth having on a command line. They are set directly rather than
    // through gflags' API, which would make libgflags a direct dependency.
    if (name == "log_level") {
      if (!has_value) {
        if (i + 1 >= argc) FailFlags("flag --log-level needs a value");
        value = argv[++i];
      }
      absl::Status s = ember::internal::SetLogLevel(value);
      if (!s.ok()) FailFlags(std::string(s.message()));
      continue;
    }
    if (name == "v" || name == "vmodule" || name == "minloglevel") {
      if (!has_value) {
        if (i + 1 >= argc) FailFlags(absl::StrCat("flag --", name, " needs a value"));
        value = argv[++i];
      }
      if (!SetGlogFlag(name, value))
        FailFlags(absl::StrCat("bad value '", value, "' for --", name));
      continue;
    }
    FailFlags(absl::StrCat("unknown flag '", arg, "'"));
  }
  return for_absl;
}

TextServer::Options ServerOptions(const std::set<std::string>& given) {
  const bool file = !absl::GetFlag(FLAGS_file).empty();
  const bool generate = absl::GetFlag(FLAGS_generate);
  if (file && generate) FailFlags("--file and --generate are exclusive: choose one source");
  if (absl::GetFlag(FLAGS_loop) && !file) FailFlags("--loop needs --file");
  for (const char* name : {"words_per_line", "vocabulary", "seed"}) {
    if (given.count(name) > 0 && !generate) {
      FailFlags(absl::StrCat("--", Dashed(name), " needs --generate"));
    }
  }
  TextServer::Options options;
  options.bind_host = absl::GetFlag(FLAGS_bind);
  options.port = absl::GetFlag(FLAGS_port);
  if (options.port < 0 || options.port > 65535) FailFlags("--port must be in 0..65535");
  if (absl::GetFlag(FLAGS_words_per_line) < 1) FailFlags("--words-per-line must be >= 1");
  if (absl::GetFlag(FLAGS_vocabulary) < 1) FailFlags("--vocabulary must be >= 1");
  options.lines_per_second = absl::GetFlag(FLAGS_rate);
  if (!(options.lines_per_second >= 0) || std::isinf(options.lines_per_second)) {
    FailFlags("--rate must be a finite number >= 0");
  }
  options.max_lines = absl::GetFlag(FLAGS_count);
  if (options.max_lines < 0) FailFlags("--count must be >= 0");
  options.wait_for_clients =
      absl::GetFlag(FLAGS_wait_for_clients).value_or((file || generate) ? 1 : 0);
  if (options.wait_for_clients < 0) FailFlags("--wait-for-clients must be >= 0");
  options.exit_when_source_ends = absl::GetFlag(FLAGS_exit_on_eof);
  options.record_path = absl::GetFlag(FLAGS_record);
  options.slow_client_timeout_ms = absl::GetFlag(FLAGS_slow_client_timeout_ms);
  if (options.slow_client_timeout_ms < 0) FailFlags("--slow-client-timeout-ms must be >= 0");
  return options;
}

absl::StatusOr<std::unique_ptr<LineSource>> MakeSource() {
  if (absl::GetFlag(FLAGS_generate)) {
    TextGenerator::Options generator;
    generator.seed = absl::GetFlag(FLAGS_seed);
    generator.words_per_line = absl::GetFlag(FLAGS_words_per_line);
    generator.vocabulary = absl::GetFlag(FLAGS_vocabulary);
    return std::make_unique<GeneratedLineSource>(generator);
  }
  if (!absl::GetFlag(FLAGS_file).empty()) {
    absl::StatusOr<std::unique_ptr<FileLineSource>> file =
        FileLineSource::Open(absl::GetFlag(FLAGS_file), absl::GetFlag(FLAGS_loop));
    if (!file.ok()) return file.status();
    return std::unique_ptr<LineSource>(std::move(*file));
  }
  return std::make_unique<FdLineSource>(STDIN_FILENO);
}

// Read by the signal handler: a lock-free atomic is async-signal-safe.
std::atomic<TextServer*> g_server{nullptr};
static_assert(std::atomic<TextServer*>::is_always_lock_free, "used in a signal handler");

void OnStopSignal(int) {
  TextServer* server = g_server.load();
  if (server != nullptr) server->Stop();
}

void SetStopHandler(void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int Main(int argc, char** argv) {
  FLAGS_logtostderr = true;  // before parsing, so --logtostderr=false can still override
  absl::SetProgramUsageMessage(
      absl::StrCat(kProgram,
                   " [flags]\n\nServes lines of text over TCP to every connected client, like "
                   "`nc -lk 9999`, for socketTextStream examples and tests. Lines come from stdin "
                   "(default), --file or --generate. Prints 'listening on HOST:PORT' once ready."));
  std::set<std::string> given;
  std::vector<std::string> for_absl = CheckFlags(argc, argv, &given);
  std::vector<char*> absl_argv;
  for (std::string& arg : for_absl) absl_argv.push_back(arg.data());
  absl::ParseCommandLine(static_cast<int>(absl_argv.size()), absl_argv.data());
  TextServer::Options options = ServerOptions(given);

  google::InitGoogleLogging(kProgram);
  // send() uses MSG_NOSIGNAL already; this covers any other write to a closed socket.
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<LineSource>> source = MakeSource();
  if (!source.ok()) {
    std::cerr << kProgram << ": " << source.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<std::unique_ptr<TextServer>> server =
      TextServer::Create(options, std::move(*source));
  if (!server.ok()) {
    std::cerr << kProgram << ": " << server.status().message() << "\n";
    return 1;
  }
  g_server.store(server->get());
  SetStopHandler(OnStopSignal);
  std::cout << "listening on " << (*server)->address() << std::endl;

  absl::Status status = (*server)->Run();
  // Past this point a late signal has nothing left to stop; it must not kill a clean exit.
  SetStopHandler(SIG_IGN);
  if (!status.ok()) {
    LOG(ERROR) << status;
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace tools
}  // namespace ember

int main(int argc, char** argv) { return ember::tools::Main(argc, argv); }
