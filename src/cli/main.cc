// The `keel` binary: `keel serve` runs the server; the other commands administer it.
#include <iostream>

#include "cli/commands.h"

int main(int argc, char** argv) {
  return keel::cli::RunCli(argc, argv, std::cin, std::cout, std::cerr);
}
