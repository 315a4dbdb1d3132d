#!/usr/bin/env bash
# Formatting check (clang-format, as .clang-format says) over our C/C++
# sources; with --tidy also clang-tidy over the gateway and plugins using
# build/compile_commands.json. Usage: scripts/lint.sh [--fix] [--tidy]
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0; tidy=0
for a in "$@"; do
  case "$a" in --fix) fix=1 ;; --tidy) tidy=1 ;; *) echo "unknown option $a" >&2; exit 2 ;; esac
done
mapfile -t files < <(git ls-files -- 'gateway/*.cpp' 'gateway/*.h' 'plugin-api/*.h' \
  'plugin-api/*.hpp' 'plugins/*.cpp' 'plugins/*.hpp' 'plugins/*.h' 'tests/*.cpp' 'tests/*.h' \
  'docs/examples/*.cpp')
if ((fix)); then
  clang-format -i "${files[@]}"
else
  clang-format --dry-run --Werror "${files[@]}"
  echo "lint: ${#files[@]} files formatted as .clang-format says"
fi
if ((tidy)); then
  mapfile -t srcs < <(printf '%s\n' "${files[@]}" | grep -E '^(gateway|plugins)/.*\.cpp$')
  clang-tidy -p build --quiet "${srcs[@]}"
fi
