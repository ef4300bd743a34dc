#pragma once
// Store: durable state behind the tailnet (placeholder contract; the store module refines it).

#include <vector>

#include "base/result.h"
#include "model/types.h"

namespace keel::store {

class Store {
 public:
  virtual ~Store() = default;
};

}  // namespace keel::store
