#pragma once
// "Did you mean": the candidate nearest a misspelt word by edit distance. Pure; any thread.

#include <string_view>
#include <vector>

namespace keel::config {

// Insertions, deletions and substitutions that turn `a` into `b`.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate nearest `word`, or "" when none is within a quarter of its length (at least
// two edits): far enough off, a guess would mislead more than help.
std::string_view Nearest(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace keel::config
