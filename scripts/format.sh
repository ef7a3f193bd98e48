#!/usr/bin/env bash
# Lays out genlab's C, C++ and CUDA sources by .clang-format, with clang-format 14 (Debian
# 12's; other versions place some constructs otherwise, so the check pins it).
#   scripts/format.sh           rewrites the files that differ
#   scripts/format.sh --check   changes nothing; lists the files that differ and fails (1).
#                               Without clang-format-14: says so and exits 77, which CTest's
#                               format_check reports as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
formatter=$(command -v clang-format-14 || true)
if [ -z "$formatter" ]; then
  echo "GENLAB_SKIPPED: clang-format-14 is not installed (apt-get install clang-format-14)"
  exit 77
fi
if [ -d .git ] && command -v git > /dev/null; then
  mapfile -t files < <(git ls-files '*.c' '*.cpp' '*.h' '*.hpp' '*.cu')
else
  mapfile -t files < <(find . -path ./build\* -prune -o -type f \( -name '*.c' -o -name '*.cpp' -o -name '*.h' \
                       -o -name '*.hpp' -o -name '*.cu' \) -print | sed 's|^\./||' | sort)
fi
if [ "${1:-}" != "--check" ]; then
  "$formatter" -i "${files[@]}"
  exit 0
fi
differ=()
for f in "${files[@]}"; do
  "$formatter" --dry-run -Werror "$f" > /dev/null 2>&1 || differ+=("$f")
done
if [ ${#differ[@]} -gt 0 ]; then
  printf 'laid out otherwise than .clang-format says (scripts/format.sh fixes it):\n'
  printf '  %s\n' "${differ[@]}"
  exit 1
fi
echo "${#files[@]} files laid out as .clang-format says"
