#!/usr/bin/env python3
"""Checks that nothing in the repository reads a path outside it.

A user's clone stands alone: every file the build, the tests, the benchmarks and the scripts
read must be inside the repository (test data lives in testdata/). This walks every file git
tracks (every file, outside a git checkout) and reports each line that names a place outside:
a sibling folder of the checkout, a CMake source-dir variable followed by `..` that climbs out,
or a path on one particular machine.

    tools/check_paths.py [REPO_DIR]     exit 0 when clean, 1 listing every reference
    tools/check_paths.py --self-test    check the checker on a throw-away tree

Registered with ctest (label `unit`).
"""

import argparse
import os
import posixpath
import re
import subprocess
import sys
import tempfile

# Spelled in pieces so this file does not report itself.
_SIBLING = re.compile(r"(^|[\s\"'`(=:])\.\./(" + "sha" + r"red|\.\.)(/|\b)")
_TESTDATA_OUTSIDE = re.compile(r"\b" + "sha" + r"red/testdata\b")
_MACHINE_PATH = re.compile(r"(^|[\s\"'`(=:])/(" + "wo" + r"rk|fa" + r"rm)/")
# A CMake source-dir variable and the path after it: resolved, then checked against the repository.
_CMAKE_DIR = re.compile(
    r"\$\{(PROJECT_SOURCE_DIR|CMAKE_SOURCE_DIR|CMAKE_CURRENT_SOURCE_DIR|CMAKE_CURRENT_LIST_DIR)\}"
    r"((?:/[^\s\"')$;]+)+)")

SKIP_DIRS = {".git", "node_modules"}


def repo_files(repo):
    try:
        out = subprocess.run(["git", "-C", repo, "ls-files", "-z"], capture_output=True,
                             check=True).stdout
        return sorted(p for p in out.decode().split("\0") if p)
    except (OSError, subprocess.CalledProcessError):
        files = []
        for dirpath, dirnames, filenames in os.walk(repo):
            dirnames[:] = sorted(d for d in dirnames
                                 if d not in SKIP_DIRS and not d.startswith("build"))
            for name in filenames:
                files.append(os.path.relpath(os.path.join(dirpath, name), repo))
        return sorted(files)


def climbs_out(rel_file, var, path):
    """True when ${var}<path>, written in rel_file, resolves outside the repository."""
    if var in ("CMAKE_CURRENT_SOURCE_DIR", "CMAKE_CURRENT_LIST_DIR"):
        base = posixpath.dirname(rel_file)
    else:
        base = ""
    resolved = posixpath.normpath(posixpath.join(base, path.lstrip("/")))
    return resolved == ".." or resolved.startswith("../")


def check(repo):
    problems = []
    for rel in repo_files(repo):
        path = os.path.join(repo, rel)
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        if b"\0" in data:
            continue  # binary (compressed captures and the like)
        for lineno, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            why = None
            if _SIBLING.search(line) or _TESTDATA_OUTSIDE.search(line):
                why = "names a folder beside the checkout"
            elif _MACHINE_PATH.search(line):
                why = "names a path on one machine"
            else:
                for m in _CMAKE_DIR.finditer(line):
                    if climbs_out(rel, m.group(1), m.group(2)):
                        why = "climbs out of the repository"
                        break
            if why:
                problems.append(f"{rel}:{lineno}: {why}: {line.strip()[:160]}")
    return problems


def self_test():
    up = ".." + "/"
    files = {
        "cmake/a.cmake": 'set(X "${PROJECT_SOURCE_DIR}/' + up + 'sha' + 'red/testdata")\n',
        "src/b.txt": 'add_test(T ${CMAKE_CURRENT_SOURCE_DIR}/' + up + up + 'testdata)\n',
        "src/ok.txt": 'add_test(T ${CMAKE_CURRENT_SOURCE_DIR}/' + up + 'testdata)\n',
        "tests/c.py": 'ROOT = "' + up + up + 'sha' + 'red/testdata/noise"\n',
        "scripts/d.sh": 'cd /' + 'wo' + 'rk/main\n',
        "README.md": "Test data lives in testdata/; see testdata/README.md.\n",
        "testdata/f.md": "Formats are in `" + up + up + "docs/x.md`.\n",
        "docs/e.md": "The captures once came from sha" + "red/testdata/policy-golden.\n",
    }
    with tempfile.TemporaryDirectory() as tmp:
        for rel, text in files.items():
            p = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
        got = check(tmp)
    expected = ["cmake/a.cmake:1:", "docs/e.md:1:", "scripts/d.sh:1:", "src/b.txt:1:",
                "testdata/f.md:1:", "tests/c.py:1:"]
    ok = sorted(p.split(" ", 1)[0] for p in got) == expected
    if not ok:
        print("self-test failed; got:", *got, sep="\n  ", file=sys.stderr)
    return ok


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", nargs="?", default=os.path.join(here, ".."))
    parser.add_argument("--self-test", action="store_true", help="test the checker itself")
    args = parser.parse_args()
    if args.self_test:
        ok = self_test()
        print("check_paths self-test:", "ok" if ok else "FAILED")
        return 0 if ok else 1
    problems = check(os.path.normpath(args.repo))
    for p in problems:
        print(p)
    if problems:
        print(f"check_paths: {len(problems)} reference(s) to paths outside the repository; "
              "copy what they read into the repository (test data goes in testdata/)")
        return 1
    print("check_paths: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
