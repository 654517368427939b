#include "runtime/plugin_file.h"

#include <elf.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/job.h"

namespace ember {
namespace internal {

namespace {

#if defined(__x86_64__)
constexpr uint16_t kMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr uint16_t kMachine = EM_AARCH64;
#else
#error "the plugin check knows no ELF machine for this architecture"
#endif

// Reads fixed-layout structures out of the file's bytes; every read is bounds-checked.
class ElfReader {
 public:
  explicit ElfReader(std::string_view bytes) : bytes_(bytes) {}
  uint64_t size() const { return bytes_.size(); }

  // True when [offset, offset + length) lies inside the file (no overflow).
  bool Contains(uint64_t offset, uint64_t length) const {
    return offset <= size() && length <= size() - offset;
  }
  template <typename T>
  bool Read(uint64_t offset, T* out) const {
    if (!Contains(offset, sizeof(T))) return false;
    std::memcpy(out, bytes_.data() + offset, sizeof(T));
    return true;
  }
  std::string_view View(uint64_t offset, uint64_t length) const {
    return bytes_.substr(offset, length);
  }

 private:
  std::string_view bytes_;
};

// A loaded segment's address range, for checking the dynamic table's pointers.
struct LoadRange {
  uint64_t vaddr;
  uint64_t memsz;
};

bool InLoadedRange(const std::vector<LoadRange>& loads, uint64_t addr, uint64_t length) {
  for (const auto& l : loads) {
    if (addr >= l.vaddr && addr - l.vaddr <= l.memsz && length <= l.memsz - (addr - l.vaddr)) {
      return true;
    }
  }
  return false;
}

uint64_t AlignUp(uint64_t v, uint64_t align) { return (v + align - 1) / align * align; }

constexpr char kNoteOwner[] = "Ember";
constexpr uint32_t kNoteType = 1;

// Looks for the Ember note in one note area; sets *found and *info.
bool ParseNotes(std::string_view area, uint64_t align, bool* found, PluginFileInfo* info) {
  align = align == 8 ? 8 : 4;
  uint64_t pos = 0;
  while (pos + 12 <= area.size()) {
    uint32_t namesz, descsz, type;
    std::memcpy(&namesz, area.data() + pos, 4);
    std::memcpy(&descsz, area.data() + pos + 4, 4);
    std::memcpy(&type, area.data() + pos + 8, 4);
    uint64_t name_at = pos + 12;
    uint64_t desc_at = name_at + AlignUp(namesz, align);
    uint64_t next = desc_at + AlignUp(descsz, align);
    if (desc_at > area.size() || descsz > area.size() - desc_at) {
      return false;  // a note running past its area
    }
    std::string_view name = area.substr(name_at, namesz);
    if (type == kNoteType && name == std::string_view(kNoteOwner, sizeof(kNoteOwner))) {
      if (descsz < 5) return false;
      std::string_view desc = area.substr(desc_at, descsz);
      uint32_t abi;
      std::memcpy(&abi, desc.data(), 4);
      std::string_view version = desc.substr(4);
      size_t nul = version.find('\0');
      if (nul == std::string_view::npos) return false;
      info->abi_version = static_cast<int>(abi);
      info->ember_version = std::string(version.substr(0, nul));
      *found = true;
      return true;
    }
    pos = next;
  }
  return true;
}

}  // namespace

absl::StatusOr<PluginFileInfo> CheckPluginBytes(std::string_view bytes, const std::string& name) {
  const std::string prefix = "cannot load job plugin " + name + ": ";
  auto damaged = [&](const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, what, " (the file is ", bytes.size(),
                     " bytes: truncated or damaged? copy the plugin again from its build)"));
  };
  ElfReader elf(bytes);
  Elf64_Ehdr eh;
  if (!elf.Read(0, &eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "not an ELF shared object (", bytes.size(),
                     " bytes; a job plugin is the lib*.so its build makes)"));
  }
  if (bytes.size() > kMaxPluginBytes) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, "it is ", bytes.size(),
                                                   " bytes, over the limit of ", kMaxPluginBytes,
                                                   " for a plugin"));
  }
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
      eh.e_machine != kMachine) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "built for another machine (ELF class ", eh.e_ident[EI_CLASS],
                     ", data ", eh.e_ident[EI_DATA], ", machine ", eh.e_machine,
                     "; this machine needs class 2, data 1, machine ", kMachine, ")"));
  }
  if (eh.e_type != ET_DYN) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "an ELF file of type ", eh.e_type,
                     ", not a shared object (build it with -shared)"));
  }
  if (eh.e_ident[EI_VERSION] != EV_CURRENT || eh.e_ehsize != sizeof(Elf64_Ehdr) ||
      eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum == PN_XNUM) {
    return damaged("its ELF header is inconsistent");
  }
  if (!elf.Contains(eh.e_phoff, uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr))) {
    return damaged(absl::StrCat("its program headers (", eh.e_phnum, " at offset ", eh.e_phoff,
                                ") reach past the end of the file"));
  }

  std::vector<LoadRange> loads;
  const Elf64_Phdr* dynamic = nullptr;
  std::vector<Elf64_Phdr> phdrs(eh.e_phnum);
  for (int i = 0; i < eh.e_phnum; ++i) {
    elf.Read(eh.e_phoff + uint64_t(i) * sizeof(Elf64_Phdr), &phdrs[i]);
    const Elf64_Phdr& ph = phdrs[i];
    if (!elf.Contains(ph.p_offset, ph.p_filesz)) {
      return damaged(absl::StrCat("segment ", i, " (", ph.p_filesz, " bytes at offset ",
                                  ph.p_offset, ") reaches past the end of the file"));
    }
    if (ph.p_type == PT_LOAD) {
      if (ph.p_filesz > ph.p_memsz) return damaged(absl::StrCat("segment ", i, " is inconsistent"));
      loads.push_back({ph.p_vaddr, ph.p_memsz});
    }
    if (ph.p_type == PT_DYNAMIC) dynamic = &ph;
  }
  if (loads.empty() || dynamic == nullptr) {
    return damaged("it has no loadable segment or no dynamic section");
  }

  // The dynamic table: the loader follows its pointers before any of the plugin's code runs.
  uint64_t strtab = 0, strsz = 0;
  std::vector<uint64_t> needed;
  struct Span {
    int64_t addr_tag, size_tag;
    uint64_t addr = 0, size = 0;
  };
  Span spans[] = {{DT_RELA, DT_RELASZ},
                  {DT_JMPREL, DT_PLTRELSZ},
                  {DT_INIT_ARRAY, DT_INIT_ARRAYSZ},
                  {DT_FINI_ARRAY, DT_FINI_ARRAYSZ}};
  uint64_t entries = dynamic->p_filesz / sizeof(Elf64_Dyn);
  bool terminated = false;
  for (uint64_t i = 0; i < entries && !terminated; ++i) {
    Elf64_Dyn d;
    elf.Read(dynamic->p_offset + i * sizeof(Elf64_Dyn), &d);
    switch (d.d_tag) {
      case DT_NULL:
        terminated = true;
        break;
      case DT_NEEDED:
      case DT_SONAME:
        needed.push_back(d.d_un.d_val);
        break;
      case DT_STRTAB:
        strtab = d.d_un.d_ptr;
        break;
      case DT_STRSZ:
        strsz = d.d_un.d_val;
        break;
      case DT_SYMTAB:
      case DT_HASH:
      case DT_GNU_HASH:
      case DT_VERSYM:
      case DT_VERNEED:
      case DT_VERDEF:
      case DT_INIT:
      case DT_FINI:
        if (!InLoadedRange(loads, d.d_un.d_ptr, 1)) {
          return damaged(absl::StrCat("its dynamic table points outside the loaded segments (tag ",
                                      d.d_tag, ", address ", d.d_un.d_ptr, ")"));
        }
        break;
      default:
        for (auto& s : spans) {
          if (d.d_tag == s.addr_tag) s.addr = d.d_un.d_ptr;
          if (d.d_tag == s.size_tag) s.size = d.d_un.d_val;
        }
    }
  }
  if (!terminated) return damaged("its dynamic table has no end");
  if (strtab == 0 || !InLoadedRange(loads, strtab, strsz)) {
    return damaged("its dynamic string table lies outside the loaded segments");
  }
  for (uint64_t offset : needed) {
    if (offset >= strsz) return damaged("a library name in its dynamic table is out of range");
  }
  for (const auto& s : spans) {
    if (s.size != 0 && !InLoadedRange(loads, s.addr, s.size)) {
      return damaged(absl::StrCat("its dynamic table's tag ", s.addr_tag,
                                  " spans addresses outside the loaded segments"));
    }
  }

  // Sections: not mapped by the loader, but a file cut inside them is still a damaged copy,
  // and the Ember note is found through them (or, stripped of them, through PT_NOTE).
  PluginFileInfo info;
  bool found = false;
  if (eh.e_shnum != 0 || eh.e_shoff != 0) {
    if (eh.e_shentsize != sizeof(Elf64_Shdr) ||
        !elf.Contains(eh.e_shoff, uint64_t{eh.e_shnum} * sizeof(Elf64_Shdr))) {
      return damaged(absl::StrCat("its section headers (", eh.e_shnum, " at offset ", eh.e_shoff,
                                  ") reach past the end of the file"));
    }
    for (int i = 0; i < eh.e_shnum; ++i) {
      Elf64_Shdr sh;
      elf.Read(eh.e_shoff + uint64_t(i) * sizeof(Elf64_Shdr), &sh);
      if (sh.sh_type != SHT_NOBITS && sh.sh_type != SHT_NULL &&
          !elf.Contains(sh.sh_offset, sh.sh_size)) {
        return damaged(absl::StrCat("section ", i, " (", sh.sh_size, " bytes at offset ",
                                    sh.sh_offset, ") reaches past the end of the file"));
      }
      if (sh.sh_type == SHT_NOTE && !found &&
          !ParseNotes(elf.View(sh.sh_offset, sh.sh_size), sh.sh_addralign, &found, &info)) {
        return damaged(absl::StrCat("note section ", i, " is malformed"));
      }
    }
  }
  for (const auto& ph : phdrs) {
    if (ph.p_type == PT_NOTE && !found &&
        !ParseNotes(elf.View(ph.p_offset, ph.p_filesz), ph.p_align, &found, &info)) {
      return damaged("a note segment is malformed");
    }
  }
  if (!found) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix,
        "not an Ember job: it has no Ember note (a plugin defines its entry point with "
        "EMBER_JOB, which writes it; plugins built before Ember 0.2 need a rebuild)"));
  }
  if (info.abi_version != EMBER_ABI_VERSION) {
    return absl::FailedPreconditionError(
        absl::StrCat(prefix, "it was built against Ember ", info.ember_version, " (ABI ",
                     info.abi_version, "), but this is Ember ", EMBER_VERSION_STRING, " (ABI ",
                     EMBER_ABI_VERSION, "): rebuild the plugin against this version"));
  }
  return info;
}

absl::StatusOr<std::string> ReadCheckedPlugin(const std::string& path, PluginFileInfo* info) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::NotFoundError("job plugin " + path + " does not exist or is not a file");
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxPluginBytes) {
    return absl::InvalidArgumentError(absl::StrCat("cannot load job plugin ", path, ": it is ",
                                                   st.st_size, " bytes, over the limit of ",
                                                   kMaxPluginBytes, " for a plugin"));
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return absl::InvalidArgumentError("cannot load job plugin " + path + ": cannot read it");
  }
  std::string bytes = buffer.str();
  auto checked = CheckPluginBytes(bytes, path);
  if (!checked.ok()) return checked.status();
  if (info != nullptr) *info = std::move(*checked);
  return bytes;
}

absl::StatusOr<PluginFileInfo> CheckPluginFile(const std::string& path) {
  PluginFileInfo info;
  auto bytes = ReadCheckedPlugin(path, &info);
  if (!bytes.ok()) return bytes.status();
  return info;
}

}  // namespace internal
}  // namespace ember
