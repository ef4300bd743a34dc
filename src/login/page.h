#pragma once
// The HTML pages a person sees while logging in: plain, self-contained (no scripts, no external
// assets) and sent with headers that keep them out of caches, frames and other sites' reach.

#include <string>
#include <string_view>

#include "http/message.h"

namespace keel::login {

// `text` with the five HTML-significant characters escaped, safe in element content and in
// quoted attribute values.
std::string HtmlEscape(std::string_view text);

// A complete page: `title` (plain text, escaped here) heads it; `body_html` is trusted markup
// that the caller built from escaped parts.
http::Response HtmlPage(int status, std::string_view title, std::string_view body_html);

}  // namespace keel::login
