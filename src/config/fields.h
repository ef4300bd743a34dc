#pragma once
// keel's own config keys: the dotted key -> a setter that parses and checks its YAML value into
// a Config. Internal to the config folder (config.cc walks documents and the environment with
// it). Pure functions; any thread.

#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <string>

#include "base/result.h"
#include "config/config.h"

namespace keel::config {

// Every setter knows the dotted key it serves so its errors can name it.
using Setter = std::function<Result<void>(const YAML::Node&, const std::string&, Config&)>;

// Every key keel implements, by dotted name.
const std::map<std::string, Setter>& Fields();

// "<key>: <why>", kInvalidArgument.
Error KeyError(const std::string& key, const std::string& why);

// "" when `s` is a usable domain name / specific IPv4 address, else why not.
std::string CheckDomain(const std::string& s);
std::string CheckIPv4(const std::string& s);

}  // namespace keel::config
