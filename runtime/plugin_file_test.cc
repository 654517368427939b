#include "runtime/plugin_file.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "common/job.h"

namespace ember {
namespace internal {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Plugin() { return ReadAll("examples/libnetwork_word_count.so"); }

template <typename T>
T At(const std::string& bytes, uint64_t offset) {
  T v;
  std::memcpy(&v, bytes.data() + offset, sizeof(T));
  return v;
}

template <typename T>
void Put(std::string* bytes, uint64_t offset, const T& v) {
  std::memcpy(bytes->data() + offset, &v, sizeof(T));
}

Elf64_Phdr Segment(const std::string& bytes, uint32_t type) {
  auto eh = At<Elf64_Ehdr>(bytes, 0);
  for (int i = 0; i < eh.e_phnum; ++i) {
    auto ph = At<Elf64_Phdr>(bytes, eh.e_phoff + i * sizeof(Elf64_Phdr));
    if (ph.p_type == type) return ph;
  }
  ADD_FAILURE() << "no segment of type " << type;
  return {};
}

::testing::AssertionResult RefusedAsDamaged(const absl::StatusOr<PluginFileInfo>& r) {
  if (r.ok()) return ::testing::AssertionFailure() << "accepted";
  if (r.status().code() != absl::StatusCode::kInvalidArgument ||
      r.status().message().find("cannot load job plugin p.so: ") != 0) {
    return ::testing::AssertionFailure() << r.status();
  }
  return ::testing::AssertionSuccess();
}

TEST(PluginFileTest, ARealPluginPassesWithItsAbiAndVersion) {
  auto info = CheckPluginBytes(Plugin(), "p.so");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->abi_version, EMBER_ABI_VERSION);
  EXPECT_EQ(info->ember_version, EMBER_VERSION_STRING);
  EXPECT_TRUE(CheckPluginFile("examples/libnetwork_word_count.so").ok());
}

TEST(PluginFileTest, EveryTruncationIsRefused) {
  const std::string whole = Plugin();
  ASSERT_GT(whole.size(), 4096u);
  // Every cut, from the empty file to one byte short: inside the ELF header, the program
  // headers, each segment, and the section headers at the end.
  for (size_t cut = 0; cut < whole.size(); ++cut) {
    ASSERT_TRUE(RefusedAsDamaged(CheckPluginBytes(std::string_view(whole).substr(0, cut), "p.so")))
        << "cut at " << cut << " of " << whole.size();
  }
  auto inside_load = Segment(whole, PT_LOAD);
  auto r = CheckPluginBytes(
      std::string_view(whole).substr(0, inside_load.p_offset + inside_load.p_filesz / 2), "p.so");
  EXPECT_NE(r.status().message().find("reaches past the end of the file"), std::string::npos)
      << r.status();
  EXPECT_NE(r.status().message().find("truncated or damaged"), std::string::npos) << r.status();
}

TEST(PluginFileTest, ForeignAndNonElfFilesAreRefused) {
  auto text = CheckPluginBytes("this is not an ELF file", "p.so");
  ASSERT_TRUE(RefusedAsDamaged(text));
  EXPECT_NE(text.status().message().find("not an ELF shared object"), std::string::npos);

  std::string other_machine = Plugin();
  Put<uint16_t>(&other_machine, offsetof(Elf64_Ehdr, e_machine), EM_RISCV);
  auto foreign = CheckPluginBytes(other_machine, "p.so");
  ASSERT_TRUE(RefusedAsDamaged(foreign));
  EXPECT_NE(foreign.status().message().find("built for another machine"), std::string::npos);

  std::string executable = Plugin();
  Put<uint16_t>(&executable, offsetof(Elf64_Ehdr, e_type), ET_EXEC);
  auto exec = CheckPluginBytes(executable, "p.so");
  ASSERT_TRUE(RefusedAsDamaged(exec));
  EXPECT_NE(exec.status().message().find("not a shared object"), std::string::npos);
}

TEST(PluginFileTest, DamagedHeadersAndTablesAreRefused) {
  const std::string whole = Plugin();
  auto eh = At<Elf64_Ehdr>(whole, 0);

  // A segment claiming bytes beyond the file.
  std::string seg = whole;
  auto ph = At<Elf64_Phdr>(seg, eh.e_phoff);
  ph.p_offset = whole.size() - 8;
  ph.p_filesz = 4096;
  Put(&seg, eh.e_phoff, ph);
  EXPECT_TRUE(RefusedAsDamaged(CheckPluginBytes(seg, "p.so")));

  // Program headers said to lie past the end (an overflowing count, too).
  std::string phoff = whole;
  Put<uint64_t>(&phoff, offsetof(Elf64_Ehdr, e_phoff), ~uint64_t{0} - 10);
  EXPECT_TRUE(RefusedAsDamaged(CheckPluginBytes(phoff, "p.so")));

  // The dynamic table's string table moved outside every loaded segment.
  auto dyn = Segment(whole, PT_DYNAMIC);
  std::string strtab = whole;
  bool moved = false;
  for (uint64_t off = dyn.p_offset; off + sizeof(Elf64_Dyn) <= dyn.p_offset + dyn.p_filesz;
       off += sizeof(Elf64_Dyn)) {
    auto d = At<Elf64_Dyn>(strtab, off);
    if (d.d_tag == DT_STRTAB) {
      d.d_un.d_ptr = uint64_t{1} << 60;
      Put(&strtab, off, d);
      moved = true;
    }
  }
  ASSERT_TRUE(moved);
  auto r = CheckPluginBytes(strtab, "p.so");
  ASSERT_TRUE(RefusedAsDamaged(r));
  EXPECT_NE(r.status().message().find("string table"), std::string::npos) << r.status();

  // A dynamic table without its end marker.
  std::string unterminated = whole;
  for (uint64_t off = dyn.p_offset; off + sizeof(Elf64_Dyn) <= dyn.p_offset + dyn.p_filesz;
       off += sizeof(Elf64_Dyn)) {
    auto d = At<Elf64_Dyn>(unterminated, off);
    if (d.d_tag == DT_NULL) {
      d.d_tag = DT_DEBUG;
      Put(&unterminated, off, d);
    }
  }
  EXPECT_TRUE(RefusedAsDamaged(CheckPluginBytes(unterminated, "p.so")));
}

TEST(PluginFileTest, ALibraryWithoutTheNoteIsNotAJob) {
  auto r = CheckPluginFile("runtime/testdata/libnot_a_job.so");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not an Ember job"), std::string::npos) << r.status();
}

TEST(PluginFileTest, AnotherAbiIsRefusedNamingBothVersions) {
  auto r = CheckPluginFile("runtime/testdata/libwrong_abi.so");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  std::string message(r.status().message());
  EXPECT_NE(message.find("9.9.9 (ABI 999)"), std::string::npos) << message;
  EXPECT_NE(message.find(std::string(EMBER_VERSION_STRING) + " (ABI " +
                         std::to_string(EMBER_ABI_VERSION) + ")"),
            std::string::npos)
      << message;
}

TEST(PluginFileTest, MissingFileIsNotFound) {
  EXPECT_EQ(CheckPluginFile("/nonexistent/libjob.so").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(CheckPluginFile("/tmp").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace internal
}  // namespace ember
