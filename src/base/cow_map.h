#pragma once
// CowMap: an ordered map whose copies share storage, for state that is copied on every change
// (tailnet snapshots). Entries live in chunks (small std::maps) grouped by ChunkOf(key); a copy
// copies only the chunk pointers, and a write copies just the one chunk it touches if another
// copy still shares it. Copying a 10,000-entry map is then ~160 pointer copies instead of
// 10,000 node allocations, which keeps a change's cost from growing with the tailnet.
//
// ChunkOf must be monotone with the key order (k1 < k2 implies ChunkOf(k1) <= ChunkOf(k2)), so
// iteration visits keys in order as std::map does. Thread safety is a std::map's: a const
// CowMap may be read from any thread; a copy is written from one. Chunks are shared only
// between copies, and a chunk referenced by one map alone is written in place.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <utility>

namespace keel {

template <class K, class V, class ChunkOf>
class CowMap {
  using Chunk = std::map<K, V>;
  using Chunks = std::map<uint64_t, std::shared_ptr<Chunk>>;

 public:
  using key_type = K;
  using mapped_type = V;
  using value_type = typename Chunk::value_type;

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = typename Chunk::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = const value_type&;

    const_iterator() = default;
    reference operator*() const { return *in_; }
    pointer operator->() const { return &*in_; }
    const_iterator& operator++() {
      ++in_;
      Settle();
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.out_ == b.out_ && (a.out_ == a.end_ || a.in_ == b.in_);
    }

   private:
    friend class CowMap;
    using Outer = typename Chunks::const_iterator;
    using Inner = typename Chunk::const_iterator;
    const_iterator(Outer out, Outer end) : out_(out), end_(end) {
      if (out_ != end_) in_ = out_->second->cbegin();
      Settle();
    }
    const_iterator(Outer out, Outer end, Inner in) : out_(out), end_(end), in_(in) {}
    // Chunks are never left empty, but an iterator at a chunk's end moves to the next one.
    void Settle() {
      while (out_ != end_ && in_ == out_->second->cend()) {
        if (++out_ != end_) in_ = out_->second->cbegin();
      }
    }
    Outer out_{};
    Outer end_{};
    Inner in_{};
  };
  using iterator = const_iterator;

  const_iterator begin() const { return const_iterator(chunks_.cbegin(), chunks_.cend()); }
  const_iterator end() const { return const_iterator(chunks_.cend(), chunks_.cend()); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  const_iterator find(const K& key) const {
    auto out = chunks_.find(ChunkOf{}(key));
    if (out == chunks_.end()) return end();
    auto in = out->second->find(key);
    if (in == out->second->cend()) return end();
    return const_iterator(typename Chunks::const_iterator(out), chunks_.cend(), in);
  }
  bool contains(const K& key) const { return find(key) != end(); }

  // As std::map::operator[]: the entry, default-constructed if absent, in a chunk of this map
  // alone.
  V& operator[](const K& key) {
    Chunk& chunk = Own(ChunkOf{}(key));
    auto [it, inserted] = chunk.try_emplace(key);
    if (inserted) ++size_;
    return it->second;
  }

  size_t erase(const K& key) {
    auto out = chunks_.find(ChunkOf{}(key));
    if (out == chunks_.end() || !out->second->contains(key)) return 0;
    Chunk& chunk = Own(out->first);
    chunk.erase(key);
    --size_;
    if (chunk.empty()) chunks_.erase(out);
    return 1;
  }

  void clear() {
    chunks_.clear();
    size_ = 0;
  }

 private:
  // The chunk for `id`, created or copied so that no other map shares it.
  Chunk& Own(uint64_t id) {
    std::shared_ptr<Chunk>& slot = chunks_[id];
    if (!slot) {
      slot = std::make_shared<Chunk>();
    } else if (slot.use_count() > 1) {
      slot = std::make_shared<Chunk>(*slot);
    }
    return *slot;
  }

  Chunks chunks_;
  size_t size_ = 0;
};

}  // namespace keel
