#pragma once
// Splitting text without allocating: Split(line, ' ') is a range of string_views over `line`,
// keeping empty fields the way Python's str.split(sep) does ("a  b" -> "a", "", "b").
// flatMap stores each piece as a std::string.

#include <cstddef>
#include <iterator>
#include <string_view>

namespace ember {

class SplitRange {
 public:
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using pointer = const std::string_view*;
    using reference = std::string_view;

    iterator() = default;
    iterator(std::string_view text, char sep, bool end) : text_(text), sep_(sep), end_(end) {
      if (!end_) Advance(0);
    }
    std::string_view operator*() const { return piece_; }
    iterator& operator++() {
      if (next_ > text_.size()) {
        end_ = true;
      } else {
        Advance(next_);
      }
      return *this;
    }
    bool operator==(const iterator& o) const {
      return end_ == o.end_ && (end_ || next_ == o.next_);
    }
    bool operator!=(const iterator& o) const { return !(*this == o); }

   private:
    void Advance(size_t from) {
      size_t at = text_.find(sep_, from);
      if (at == std::string_view::npos) at = text_.size();
      piece_ = text_.substr(from, at - from);
      next_ = at + 1;  // past the end after the last piece
    }
    std::string_view text_;
    char sep_ = ' ';
    bool end_ = true;
    std::string_view piece_;
    size_t next_ = 0;
  };

  SplitRange(std::string_view text, char sep) : text_(text), sep_(sep) {}
  iterator begin() const { return iterator(text_, sep_, false); }
  iterator end() const { return iterator(text_, sep_, true); }

 private:
  std::string_view text_;
  char sep_;
};

inline SplitRange Split(std::string_view text, char sep) { return SplitRange(text, sep); }

}  // namespace ember
