#!/usr/bin/env bash
# The largest C, C++ and CUDA files and functions of the repository (the limits genlab keeps:
# 500 lines a file, 80 a function). Functions are measured twice: by pmccabe (fifth column;
# apt-get install pmccabe), on a copy where a plugin's closing `GENLAB_PLUGIN(X)` gets the
# semicolon pmccabe needs to read past it, and by matching braces, for the member functions
# defined inside their class and the functions of a file that opens `namespace a::b {`, which
# pmccabe does not list, and Catch2 test cases, which a raw string can make it misread (it
# gives one in tests/test_params.cpp 133 lines; the case is 19).
# Usage: scripts/sizes.sh [N]   (N rows each, default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-5}
mapfile -t files < <(git ls-files '*.c' '*.cpp' '*.h' '*.hpp' '*.cu')
echo "largest files (lines):"
wc -l "${files[@]}" | grep -v ' total$' | sort -n -r | head -n "$rows"
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
for f in "${files[@]}"; do
  case $f in *.h | *.hpp) continue ;; esac
  mkdir -p "$copy/$(dirname "$f")"
  sed 's/^GENLAB_PLUGIN(\(.*\))$/GENLAB_PLUGIN(\1);/' "$f" > "$copy/$f"
done
echo "largest functions by pmccabe (lines, then where):"
(cd "$copy" && find . -type f | sed 's|^\./||' | xargs pmccabe 2> /dev/null | sort -k5 -n -r | head -n "$rows" |
  awk -F'\t' '{print $5 "\t" $6}')
echo "largest functions by brace matching, members in their class included (lines, file, line):"
python3 - "$rows" "${files[@]}" << 'PY'
import re, sys
rows, files = int(sys.argv[1]), sys.argv[2:]
control = re.compile(r'^\s*(if|for|while|switch|catch|else|do|namespace|struct|class|enum|union|extern|try)\b')
found = []
for name in files:
    raw = open(name, errors='replace').read().split('\n')
    # Strings, characters and line comments cannot open or close a body.
    lines = [re.sub(r'//.*', '', re.sub(r"'(\\.|[^'\\])*'", "''", re.sub(r'"(\\.|[^"\\])*"', '""', l))) for l in raw]
    for i, line in enumerate(lines):
        opens_body = line.rstrip().endswith('{') and '(' in line and not control.match(line)
        if not opens_body or '=' in line.split('(')[0] or 'R"' in raw[i]:
            continue
        depth, end = 0, i
        while end < len(lines):
            depth += lines[end].count('{') - lines[end].count('}')
            if depth <= 0:
                break
            end += 1
        start = i
        while start > 0 and lines[start - 1].strip() and not lines[start - 1].rstrip().endswith((';', '}', '{', ':')) \
                and not lines[start - 1].strip().startswith('#'):
            start -= 1
        found.append((end - start + 1, name, start + 1))
for length, name, line in sorted(found, reverse=True)[:rows]:
    print(f"{length}\t{name}:{line}")
PY
