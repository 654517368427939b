#pragma once
// Compile-time fusion of narrow functions (DESIGN.md, decision 4).
//
// `lines.flatMap(f).map(g).filter(h)` builds no node per call: each call wraps the previous
// stack in a new stage type, and the operator that finally runs the stack is instantiated with
// the whole chain, so the compiler inlines f, g and h into one loop over the partition.
// A stack is shipped like any closure: each stage saves its function in order.

#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/closure.h"

namespace ember {
namespace internal {

// What flatMap stores: views become owning strings, so a materialized partition never points
// into the partition it came from.
template <typename T>
struct Owned {
  using type = std::decay_t<T>;
};
template <>
struct Owned<std::string_view> {
  using type = std::string;
};
template <>
struct Owned<const char*> {
  using type = std::string;
};
template <typename T>
using OwnedT = typename Owned<std::decay_t<T>>::type;

// A stage ships as its predecessors, then its own function.
template <typename Stage>
void SaveStage(const Stage& stage, Writer& w) {
  stage.prev.Save(w);
  SaveClosure(stage.f, w);
}
template <typename Stage>
std::optional<Stage> LoadStage(Reader& r) {
  auto prev = decltype(Stage::prev)::Load(r);
  if (!prev) return std::nullopt;
  auto f = LoadClosure<decltype(Stage::f)>(r);
  if (!f) return std::nullopt;
  return Stage{std::move(*prev), std::move(*f)};
}

template <typename In>
struct EmptyStack {
  using Input = In;
  static constexpr bool kEmpty = true;
  template <typename X, typename Emit>
  void Apply(X&& x, Emit& emit) const {
    emit(std::forward<X>(x));
  }
  void Save(Writer&) const {}
  static std::optional<EmptyStack> Load(Reader&) { return EmptyStack{}; }
};

template <typename Prev, typename F>
struct MapStage {
  using Input = typename Prev::Input;
  static constexpr bool kEmpty = false;
  Prev prev;
  F f;
  template <typename X, typename Emit>
  void Apply(X&& x, Emit& emit) const {
    auto next = [this, &emit](auto&& y) { emit(f(std::forward<decltype(y)>(y))); };
    prev.Apply(std::forward<X>(x), next);
  }
  void Save(Writer& w) const { SaveStage(*this, w); }
  static std::optional<MapStage> Load(Reader& r) { return LoadStage<MapStage>(r); }
};

template <typename Prev, typename F>
struct FilterStage {
  using Input = typename Prev::Input;
  static constexpr bool kEmpty = false;
  Prev prev;
  F f;
  template <typename X, typename Emit>
  void Apply(X&& x, Emit& emit) const {
    auto next = [this, &emit](auto&& y) {
      if (f(static_cast<const std::decay_t<decltype(y)>&>(y))) emit(std::forward<decltype(y)>(y));
    };
    prev.Apply(std::forward<X>(x), next);
  }
  void Save(Writer& w) const { SaveStage(*this, w); }
  static std::optional<FilterStage> Load(Reader& r) { return LoadStage<FilterStage>(r); }
};

// True when flatMap's function returns, by value, a std::vector of the records it produces:
// the only kind of range whose elements flatMap may move from. A reference to a container, or
// a view (absl::Span, a range over someone else's storage), is copied from.
template <typename Range, typename Out>
inline constexpr bool kOwnsElements = false;
template <typename Out, typename Alloc>
inline constexpr bool kOwnsElements<std::vector<Out, Alloc>, Out> = true;

// Out is the element type flatMap produces (OwnedT of the range's elements).
template <typename Prev, typename F, typename Out>
struct FlatMapStage {
  using Input = typename Prev::Input;
  static constexpr bool kEmpty = false;
  Prev prev;
  F f;
  template <typename X, typename Emit>
  void Apply(X&& x, Emit& emit) const {
    auto next = [this, &emit](auto&& y) {
      using Range = decltype(f(std::forward<decltype(y)>(y)));
      auto&& range = f(std::forward<decltype(y)>(y));
      for (auto&& z : range) {
        if constexpr (kOwnsElements<Range, Out>) {
          // A std::vector returned by value is ours: its elements are moved, not copied.
          emit(std::move(z));
        } else if constexpr (std::is_same_v<std::decay_t<decltype(z)>, Out>) {
          emit(static_cast<const Out&>(z));  // a reference or a view: copy
        } else {
          emit(Out(z));
        }
      }
    };
    prev.Apply(std::forward<X>(x), next);
  }
  void Save(Writer& w) const { SaveStage(*this, w); }
  static std::optional<FlatMapStage> Load(Reader& r) { return LoadStage<FlatMapStage>(r); }
};

template <typename Stack>
void SaveStack(const Stack& s, Writer& w) {
  s.Save(w);
}

// Runs `stack` over every element of `in`, appending what it emits to `out`.
template <typename T, typename Stack>
void RunStack(const Stack& stack, const std::vector<typename Stack::Input>& in,
              std::vector<T>* out) {
  auto emit = [out](auto&& y) { out->emplace_back(std::forward<decltype(y)>(y)); };
  for (const auto& x : in) stack.Apply(x, emit);
}

}  // namespace internal
}  // namespace ember
