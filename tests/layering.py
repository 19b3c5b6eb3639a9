#!/usr/bin/python3
"""The tree's structure rules, checked from the source text (no build needed).

1. Includes are root-relative (`#include "common/base/error.h"`) in the library
   and main.c; tests/, bench/ and tools/ may also include files beside them.
2. No include circle between modules (x.c and x.h are one module).
3. No include goes up the layer order:
      common/base < common/mpi < common/chem < common/io < common/nn
      < common/model < common/cmd < oracle < actor < learner < main.c
   (tests/, bench/ and tools/ are outside the order).
4. An area's commands.h (its command mains) is included only by main.c and by
   the files of that area that implement the commands.
5. No absolute path of a build machine in sources, tests, tools or docs:
   home-like directories (/work/, /root/, /home/, ...) anywhere; a
   multiarch library directory (/usr/lib/<triplet>) outside CMake files
   (configure-time probes, overridable cache variables); /tmp/ literals
   outside mkstemp/mkdtemp templates of tests and benches; ../shared
   (the tests' reference data) outside tests/.

Usage: layering.py [SOURCE_DIR]   (default: the parent of this file's folder)
       layering.py --self-test      (the checks find the faults of a small broken tree)
Exits 1 and lists every violation; prints a one-line summary otherwise.
"""
import os
import re
import subprocess
import sys

LAYERS = ["common/base", "common/mpi", "common/chem", "common/io", "common/nn", "common/model", "common/cmd",
          "oracle", "actor", "learner", "main.c"]
EXEMPT = ("tests/", "bench/", "tools/")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SOURCE_EXT = (".c", ".h")
TEXT_EXT = (".c", ".h", ".py", ".sh", ".cmake", ".md", ".txt", ".yaml", ".yml", ".json", ".cfg", ".toml")


def layer_of(path):
    """Index in LAYERS of the longest matching prefix, or None (exempt / unknown)."""
    best = None
    for i, prefix in enumerate(LAYERS):
        if path == prefix or path.startswith(prefix + "/"):
            if best is None or len(prefix) > len(LAYERS[best]):
                best = i
    return best


def list_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, text=True, check=True).stdout.split("\n")
        files = [f for f in out if f and os.path.isfile(os.path.join(root, f))]
        if files:
            return sorted(set(files))
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith(".") and not x.startswith("build")]
        files += [os.path.relpath(os.path.join(d, n), root) for n in names]
    return sorted(files)


def module(path):
    return os.path.splitext(path)[0]


def resolve(root, src, inc, known):
    """Root-relative target of `#include "inc"` in src, and whether it was root-relative."""
    if inc in known:
        return inc, True
    if src.startswith(EXEMPT):
        rel = os.path.normpath(os.path.join(os.path.dirname(src), inc))
        if rel in known:
            return rel, False
    return None, False


def find_cycles(graph):
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


HOME_DIRS = re.compile(r'(?<![\w.\-/~])/(?:work|root|home|Users|mnt|scratch|gpfs|lustre|nfs)/')
ARCH_LIBDIR = re.compile(r'/usr/lib(?:64)?/[A-Za-z0-9_]+-linux-gnu')
TMP_LITERAL = re.compile(r'(?<![\w.\-/}])/tmp/')


def machine_path_problems(root, files, self_path):
    problems = []
    for f in files:
        if f == self_path or not (f.endswith(TEXT_EXT) or os.path.basename(f) in ("CMakeLists.txt", "Makefile")):
            continue
        try:
            text = open(os.path.join(root, f), encoding="utf-8", errors="replace").read()
        except OSError:
            continue
        is_cmake = f.endswith(".cmake") or os.path.basename(f) == "CMakeLists.txt"
        in_tests = f.startswith(("tests/", "bench/"))
        for n, line in enumerate(text.split("\n"), 1):
            if HOME_DIRS.search(line):
                problems.append(f"{f}:{n}: absolute path of a machine: {line.strip()}")
            if ARCH_LIBDIR.search(line) and not is_cmake:
                problems.append(f"{f}:{n}: machine library directory outside a configure-time probe: {line.strip()}")
            if TMP_LITERAL.search(line) and not (in_tests and "XXXXXX" in line):
                problems.append(f"{f}:{n}: /tmp/ literal (use $TMPDIR or mkstemp): {line.strip()}")
            if "../shared" in line and not f.startswith("tests/"):
                problems.append(f"{f}:{n}: ../shared (the tests' reference data) outside tests/: {line.strip()}")
    return problems


def self_test():
    """The checks find what they are meant to find in a small broken tree."""
    import tempfile
    bad = {
        "common/base/a.h": '#include "common/io/b.h"\n',                    # upward include
        "common/io/b.h": '#include "common/io/c.h"\n',
        "common/io/c.c": '#include "common/io/b.h"\n#include "b.h"\n',   # circle; not root-relative
        "common/io/c.h": "",
        "actor/x.c": '#include "oracle/commands.h"\n',                     # another area's command mains
        "oracle/commands.h": "",
        "tools/t.py": "DIR = '" + "/wo" + "rk/shared'\n",                  # machine path
        "docs/d.md": "see ../" + "shared/spec\n",                          # tests' data outside tests/
        "tests/ok.c": 'char t[] = "/' + 'tmp/x_XXXXXX";\n',                 # allowed: a mkstemp template
    }
    with tempfile.TemporaryDirectory() as root:
        for name, text in bad.items():
            os.makedirs(os.path.join(root, os.path.dirname(name)), exist_ok=True)
            open(os.path.join(root, name), "w").write(text)
        problems = check(root)
    expect = ["goes up from common/base to common/io", "include circle between modules: common/io/b <-> common/io/c",
              'common/io/c.c: #include "b.h" is not a root-relative', "command mains are included only by main.c",
              "tools/t.py:1: absolute path", "docs/d.md:1: ../shared"]
    missing = [e for e in expect if not any(e in p for p in problems)]
    extra = [p for p in problems if "tests/ok.c" in p]
    for m in missing:
        print("self-test: not found:", m)
    for x in extra:
        print("self-test: false alarm:", x)
    return 1 if missing or extra else 0


def main():
    if sys.argv[1:2] == ["--self-test"]:
        return self_test()
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, ".."))
    problems = check(root)
    if problems:
        print("\n".join(problems))
        print(f"layering: {len(problems)} problem(s)")
        return 1
    print(f"layering: {STATS['sources']} C files, {STATS['includes']} includes, {STATS['modules']} modules: "
          f"no circle, no upward include, no machine path in {STATS['files']} files")
    return 0


STATS = {}


def check(root):
    here = os.path.dirname(os.path.abspath(__file__))
    files = list_files(root)
    sources = [f for f in files if f.endswith(SOURCE_EXT)]
    known = set(sources)
    problems, graph, n_includes = [], {}, 0
    for src in sources:
        text = open(os.path.join(root, src), encoding="utf-8", errors="replace").read()
        graph.setdefault(module(src), set())
        for inc in INCLUDE.findall(text):
            n_includes += 1
            target, rooted = resolve(root, src, inc, known)
            if target is None:
                if not src.startswith(EXEMPT):
                    problems.append(f'{src}: #include "{inc}" is not a root-relative path of the tree')
                continue
            if module(target) != module(src):
                graph[module(src)].add(module(target))
            ls, lt = layer_of(src), layer_of(target)
            if ls is not None and lt is not None and lt > ls:
                problems.append(f'{src}: #include "{inc}" goes up from {LAYERS[ls]} to {LAYERS[lt]}')
            if os.path.basename(target) == "commands.h" and src != "main.c" \
                    and os.path.dirname(src) != os.path.dirname(target) and not src.startswith(EXEMPT):
                problems.append(f'{src}: #include "{inc}": command mains are included only by main.c')
    for cycle in find_cycles(graph):
        problems.append("include circle between modules: " + " <-> ".join(cycle))
    self_path = os.path.relpath(os.path.abspath(__file__), root)
    problems += machine_path_problems(root, files, self_path)
    STATS.update(sources=len(sources), includes=n_includes, modules=len(graph), files=len(files))
    return problems


if __name__ == "__main__":
    sys.exit(main())
