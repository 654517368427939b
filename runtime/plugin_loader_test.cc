#include "runtime/plugin_loader.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "common/conf.h"

namespace ember {
namespace internal {
namespace {

std::string Runfile(const std::string& path) { return "./" + path; }

TEST(PluginLoaderTest, LoadsAJobAndItsOperators) {
  auto plugin = LoadPlugin(Runfile("examples/libnetwork_word_count.so"));
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  EXPECT_EQ((*plugin)->version(), EMBER_VERSION_STRING);
  // The plugin's own operators (the shuffle's writer and reader, print's take) registered into
  // its registry while it loaded; the socket source's are the runtime's, in the process's.
  EXPECT_EQ((*plugin)->registry()->size(), 3u);
  EXPECT_TRUE((*plugin)->registry()->Collisions().empty());
}

TEST(PluginLoaderTest, MissingFile) {
  auto plugin = LoadPlugin("/nonexistent/libjob.so");
  ASSERT_FALSE(plugin.ok());
  EXPECT_NE(plugin.status().message().find("does not exist"), std::string::npos);
}

TEST(PluginLoaderTest, CorruptFileIsAClearError) {
  std::string path = ::testing::TempDir() + "/libcorrupt.so";
  std::ofstream(path) << "this is not an ELF file";
  auto plugin = LoadPlugin(path);
  ASSERT_FALSE(plugin.ok());
  EXPECT_NE(plugin.status().message().find("cannot load job plugin"), std::string::npos)
      << plugin.status();
}

TEST(PluginLoaderTest, ATruncatedCopyNeverReachesTheLoader) {
  // dlopen of a copy cut inside its last loaded segment maps pages past the end of the file:
  // the first touch is a SIGBUS that takes the process down. The check refuses it first.
  std::ifstream in("examples/libnetwork_word_count.so", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t keep : {bytes.size() / 3, bytes.size() / 2, bytes.size() - 1}) {
    std::string path = ::testing::TempDir() + "/libtruncated" + std::to_string(keep) + ".so";
    std::ofstream(path, std::ios::binary) << bytes.substr(0, keep);
    auto plugin = LoadPlugin(path);
    ASSERT_FALSE(plugin.ok()) << "cut at " << keep;
    EXPECT_NE(plugin.status().message().find("past the end of the file"), std::string::npos)
        << plugin.status();
  }
}

TEST(PluginLoaderTest, LibraryWithoutEntryPoint) {
  auto plugin = LoadPlugin(Runfile("runtime/testdata/libnot_a_job.so"));
  ASSERT_FALSE(plugin.ok());
  EXPECT_NE(plugin.status().message().find("not an Ember job"), std::string::npos)
      << plugin.status();
}

TEST(PluginLoaderTest, AbiMismatchNamesBothVersions) {
  auto plugin = LoadPlugin(Runfile("runtime/testdata/libwrong_abi.so"));
  ASSERT_FALSE(plugin.ok());
  std::string message(plugin.status().message());
  EXPECT_NE(message.find("9.9.9 (ABI 999)"), std::string::npos) << message;
  EXPECT_NE(message.find(std::string(EMBER_VERSION_STRING) + " (ABI " +
                         std::to_string(EMBER_ABI_VERSION) + ")"),
            std::string::npos)
      << message;
}

TEST(PluginLoaderTest, CollidingClosureKeysAreRefused) {
  auto plugin = LoadPlugin(Runfile("runtime/testdata/libcollide.so"));
  ASSERT_FALSE(plugin.ok());
  EXPECT_NE(plugin.status().message().find("two operators under the registry key"),
            std::string::npos)
      << plugin.status();
}

TEST(PluginLoaderTest, ThrowingEntryPointBecomesAStatus) {
  auto plugin = LoadPlugin(Runfile("runtime/testdata/libthrowing_job.so"));
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  JobContext job(Conf(), {});
  absl::Status s = (*plugin)->RunJob(job);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "the job needs an argument");
  JobContext with_arg(Conf(), {"x"});
  EXPECT_TRUE((*plugin)->RunJob(with_arg).ok());
}

}  // namespace
}  // namespace internal
}  // namespace ember
