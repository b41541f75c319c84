#!/usr/bin/env bash
# deps.sh: install the Debian packages that building and testing mtask need,
# and only those that are missing. Quiet when nothing is missing; says what
# it installs; fails with a clear message when it cannot install.
set -euo pipefail

packages=(
	cmake ninja-build gcc make pkg-config # the build
	libcmocka-dev                          # the tests
	libedit-dev                            # `mtask chat`: line editing
	python3                                # the benchmarks' Python peers
	# `mtask bench coro`: Boost.Context's fcontext beside mt_coro, and
	# greenlet and gevent for Debian's /usr/bin/python3 (PyPI is out of
	# reach; bench/peers/coros.py re-runs itself there to find greenlet)
	libboost-context-dev python3-greenlet python3-gevent
	gnuplot-nox # `make bench`'s charts (scripts/benchplot.py)
	liburing-dev # the hub's io_uring backend (MTASK_HUB_BACKEND=uring); optional
	wrk nginx-light # `mtask bench http`: the load generator and the peer server
	# the MPI pool (libmtask_mpi, its tests under mpirun) and `mtask bench
	# mpi`'s peer, mpi4py.futures for Debian's /usr/bin/python3
	libopenmpi-dev openmpi-bin python3-mpi4py
)

missing=()
for pkg in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: missing packages: ${missing[*]}, and apt-get is not available;" \
	     "install them with your system's package manager." >&2
	exit 1
fi
if [[ $(id -u) -eq 0 ]]; then
	sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	sudo=(sudo -n)
else
	echo "deps.sh: missing packages: ${missing[*]}; run as root or with sudo:" >&2
	echo "  sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are absent or a day old.
if [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mmin -1440 2>/dev/null | head -1) ]]; then
	"${sudo[@]}" apt-get update -qq || {
		echo "deps.sh: apt-get update failed; check the network or the apt sources" >&2
		exit 1
	}
fi
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
	echo "deps.sh: could not install ${missing[*]} (apt-get install failed)" >&2
	exit 1
}
