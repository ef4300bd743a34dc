#!/usr/bin/env python3
"""Checks that src/ folders include each other only in the allowed direction.

Every folder under src/ is one module. A module may include its own headers and the headers of
the modules it depends on, directly or through another allowed module (the graph below is closed
transitively). Test files (*_test.cc, and test-only headers named test_*.h) may also include
`testing`, the shared test support.

    tools/check_includes.py [SRC_DIR]     exit 0 when clean, 1 listing every violation
    tools/check_includes.py --graph       print what each folder may include
    tools/check_includes.py --self-test   check the checker on a throw-away tree

Our version of Tailscale's depaware: registered with ctest (label `unit`).
"""

import argparse
import os
import re
import sys
import tempfile

# Direct edges: folder -> folders it may include. Keep in step with the architecture docs.
DIRECT = {
    "base": set(),
    "crypto": {"base"},
    "tailcfg": {"crypto"},
    "model": {"tailcfg"},
    "store": {"model"},
    "policy": {"model"},
    "tailnet": {"store", "policy"},
    "noise": {"crypto"},
    "http": {"base"},
    "derp": {"crypto", "http"},
    "control": {"tailnet", "noise", "http"},
    "api": {"tailnet", "http"},
    "oidc": {"http"},
    "login": {"tailnet", "http", "oidc"},
    "config": {"base"},
    "cli": {"app", "config"},
}
# Nothing includes app or cli. app wires every module together, but not the test fakes;
# testing may use every module below app.
_LIBRARIES = set(DIRECT) - {"cli"}
DIRECT["app"] = set(_LIBRARIES)
DIRECT["testing"] = set(_LIBRARIES)

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]')


def closure(direct):
    """Transitive closure of `direct`; every folder may also include itself."""
    allowed = {}
    for start in direct:
        seen = {start}
        stack = [start]
        while stack:
            for nxt in direct.get(stack.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        allowed[start] = seen
    return allowed


def source_files(src_dir):
    for dirpath, dirnames, filenames in os.walk(src_dir):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith((".h", ".cc")):
                yield os.path.join(dirpath, name)


def check(src_dir, direct=None):
    """Returns a list of human-readable violations for the tree under src_dir."""
    direct = DIRECT if direct is None else direct
    allowed = closure(direct)
    folders = {d for d in os.listdir(src_dir) if os.path.isdir(os.path.join(src_dir, d))}
    known = folders | set(direct)
    problems = []
    for folder in sorted(folders - set(direct)):
        problems.append(f"src/{folder}/: folder is not in the dependency list of "
                        f"tools/check_includes.py; add it there first")
    for path in source_files(src_dir):
        rel = os.path.relpath(path, src_dir)
        parts = rel.split(os.sep)
        if len(parts) < 2 or parts[0] not in direct:
            continue
        owner = parts[0]
        ok = set(allowed[owner])
        name = os.path.basename(path)
        if name.endswith("_test.cc") or (name.startswith("test_") and name.endswith(".h")):
            ok.add("testing")
        with open(path, encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE_RE.match(line)
                if not m or "/" not in m.group(1):
                    continue
                target = m.group(1).split("/", 1)[0]
                if target not in known or target in ok:
                    continue
                problems.append(f"src/{rel}:{lineno}: {owner} may not include \"{m.group(1)}\" "
                                f"({owner} may include: {', '.join(sorted(ok))})")
    return problems


def self_test():
    """Runs check() on a small synthetic tree; returns True when the checker behaves."""
    files = {
        "base/a.h": '#include "base/b.h"\n',
        "crypto/k.cc": '#include "base/a.h"\n#include <boost/asio.hpp>\n',
        "control/c.cc": '#include "model/types.h"\n#include "app/app.h"\n',
        "control/c_test.cc": '#include "testing/fake.h"\n',
        "control/d.cc": '#include "testing/fake.h"\n',
        "control/test_helpers.h": '#include "testing/fake.h"\n',
        "tailcfg/t.h": '#  include <http/server.h>\n',
        "testing/fake.h": '#include "store/store.h"\n#include "cli/main.h"\n',
        "cli/main.cc": '#include "app/app.h"\n#include "base/log.h"\n',
        "mystery/x.h": "",
    }
    with tempfile.TemporaryDirectory() as tmp:
        for rel, text in files.items():
            path = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        got = check(tmp)
    expected = [
        "src/mystery/",
        "src/control/c.cc:2:",  # control -> app
        "src/control/d.cc:1:",  # testing only from *_test.cc
        "src/tailcfg/t.h:1:",  # angle brackets count too; tailcfg -> http
        "src/testing/fake.h:2:",  # testing -> cli
    ]
    ok = len(got) == len(expected) and all(
        any(p.startswith(e) for p in got) for e in expected)
    if not ok:
        print("self-test failed; got:", *got, sep="\n  ", file=sys.stderr)
    return ok


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src_dir", nargs="?", default=os.path.join(here, "..", "src"))
    parser.add_argument("--graph", action="store_true", help="print the allowed includes")
    parser.add_argument("--self-test", action="store_true", help="test the checker itself")
    args = parser.parse_args()
    if args.self_test:
        ok = self_test()
        print("check_includes self-test:", "ok" if ok else "FAILED")
        return 0 if ok else 1
    if args.graph:
        for folder, ok in sorted(closure(DIRECT).items()):
            print(f"{folder}: {', '.join(sorted(ok))}")
        return 0
    problems = check(os.path.normpath(args.src_dir))
    for p in problems:
        print(p)
    if problems:
        print(f"check_includes: {len(problems)} include(s) break the dependency direction")
        return 1
    print("check_includes: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
