#include "config/nearest.h"

#include <algorithm>

namespace keel::config {

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string_view Nearest(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string_view best;
  size_t limit = std::max<size_t>(2, word.size() / 4);
  for (std::string_view c : candidates) {
    size_t d = EditDistance(word, c);
    if (d <= limit) {
      best = c;
      limit = d == 0 ? 0 : d - 1;  // later candidates must be strictly nearer
    }
  }
  return best;
}

}  // namespace keel::config
