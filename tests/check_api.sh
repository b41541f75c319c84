#!/usr/bin/env bash
# check_api.sh SOURCE_DIR LIBMTASK_SO: the shared library exports exactly
# the MT_EXPORT calls of the public headers (no internal symbol leaks, no
# documented call is missing), and docs/api.md matches the headers.
set -euo pipefail
src=$1
lib=$2
declared=$(sed -nE 's/^MT_EXPORT[^(]*[ *](mt_[a-z0-9_]+)\(.*/\1/p' "$src"/include/mtask/*.h | sort)
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' | sort)
if [[ $declared != "$exported" ]]; then
	echo "exported symbols differ from the headers' MT_EXPORT declarations:" >&2
	diff <(echo "$declared") <(echo "$exported") >&2 || true
	exit 1
fi
python3 "$src/scripts/apiref.py" --check
echo "api: $(wc -l <<<"$declared") calls exported, docs/api.md up to date"
