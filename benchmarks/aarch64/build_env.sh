#!/usr/bin/env bash
# Build an aarch64 Python 3.11 environment that runs under qemu user-mode emulation.
#
# Why: we have no Raspberry Pi here, but Raspberry Pi OS Bookworm 64-bit is Debian
# Bookworm arm64 with Python 3.11. Unpacking Debian's arm64 packages (no chroot, no
# root) and the aarch64 wheels a Pi user would get from pip lets us run the checkout's
# edge runtime on the same machine code a Pi runs, through qemu-aarch64-static.
#
# Output (stdout, last two lines):   root=DIR   site=DIR
#   root: the unpacked arm64 Debian files, for `qemu-aarch64-static -L root root/usr/bin/python3.11`
#   site: the unpacked aarch64 wheels, for PYTHONPATH
# Progress goes to stderr. Downloads are cached; a second run only checks stamps.
#
# Environment:
#   BRAINEDGE_AARCH64_CACHE   cache dir (default: <repo>/.cache/aarch64, gitignored)
#   BRAINEDGE_AARCH64_WHEELS  pip requirements to install (default: "numpy pillow ai-edge-litert";
#                             e.g. "numpy<2 tflite-runtime" for the older-image path)
#   BRAINEDGE_DEBIAN_MIRROR   Debian mirror (default: http://deb.debian.org/debian)
#   BRAINEDGE_DEBIAN_SECURITY Debian security mirror (default: http://deb.debian.org/debian-security)
#   PYTHON                    host Python whose pip downloads the wheels (default: python3)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${BRAINEDGE_AARCH64_CACHE:-$repo/.cache/aarch64}
wheels_spec=${BRAINEDGE_AARCH64_WHEELS:-numpy pillow ai-edge-litert}
mirror=${BRAINEDGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${BRAINEDGE_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
python=${PYTHON:-python3}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

# The Python interpreter and every shared library it (and the wheels) load.
root_packages="python3.11-minimal libpython3.11-stdlib libstdc++6"
# Packaging tools pulled in by the dependency walk; nothing at run time needs them.
not_needed='^(perl|perl-base|perl-modules-[0-9.]+|libperl[0-9.]+|dpkg|tar|install-info|mailcap|mime-support)$'

say() { echo "build_env: $*" >&2; }
die() { echo "error: $*" >&2; exit 2; }

check_tools() {
    command -v qemu-aarch64-static >/dev/null ||
        die "qemu-aarch64-static not found (install it: sudo apt-get install qemu-user-static)"
    command -v apt-get >/dev/null && command -v dpkg >/dev/null ||
        die "apt-get and dpkg are needed to fetch Debian's arm64 packages"
    [ -r "$keyring" ] || die "$keyring missing (install it: sudo apt-get install debian-archive-keyring)"
    "$python" -m pip --version >/dev/null 2>&1 || die "$python has no pip (set PYTHON to a Python with pip)"
}

# A private apt state, so the host's apt configuration and package database stay untouched.
apt_options() {
    local apt=$cache/apt
    echo "-o Dir::State=$apt/state -o Dir::State::status=$apt/state/status -o Dir::Cache=$apt/cache" \
         "-o Dir::Etc::SourceList=$apt/sources.list -o Dir::Etc::SourceParts=$apt/sources.list.d" \
         "-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Debug::NoLocking=1" \
         "-o APT::Sandbox::User=$(id -un)"
}

prepare_apt() {
    local apt=$cache/apt
    mkdir -p "$apt/state/lists/partial" "$apt/cache/archives/partial" "$apt/sources.list.d"
    touch "$apt/state/status"
    cat >"$apt/sources.list" <<EOF
deb [arch=arm64 signed-by=$keyring] $mirror bookworm main
deb [arch=arm64 signed-by=$keyring] $mirror bookworm-updates main
deb [arch=arm64 signed-by=$keyring] $security bookworm-security main
EOF
}

# Debian package names needed for the interpreter: the recursive dependency closure.
package_closure() {
    # shellcheck disable=SC2046
    apt-cache $(apt_options) depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances $root_packages |
        grep -v '^[ <]' | sort -u | grep -Ev "$not_needed"
}

build_root() {
    local root=$cache/root stamp=$cache/root.stamp
    if [ -f "$stamp" ] && [ -x "$root/usr/bin/python3.11" ]; then
        return
    fi
    say "fetching Debian Bookworm arm64 packages for Python 3.11"
    prepare_apt
    # shellcheck disable=SC2046
    apt-get -q $(apt_options) update >&2
    local packages
    packages=$(package_closure)
    mkdir -p "$cache/debs"
    # shellcheck disable=SC2046,SC2086
    (cd "$cache/debs" && apt-get -q $(apt_options) download $packages >&2)
    say "unpacking $(echo "$packages" | wc -w) packages into $root"
    rm -rf "$root"
    mkdir -p "$root"
    for package in $packages; do
        dpkg -x "$(ls "$cache/debs/${package}_"*_arm64.deb "$cache/debs/${package}_"*_all.deb 2>/dev/null |
                   sort -V | tail -n 1)" "$root"
    done
    fake_cpuinfo "$root"
    echo "$packages" >"$stamp"
}

# qemu 7.2 (Debian Bookworm) passes the host's x86 /proc/cpuinfo through to the guest;
# LiteRT's CPU-detection library cannot parse it and crashes with a null pointer in
# allocate_tensors/invoke. qemu's -L prefix also applies to /proc, so we give the guest the
# /proc/cpuinfo of one Raspberry Pi 4 core (Cortex-A72), matching QEMU_CPU=cortex-a72.
fake_cpuinfo() {
    local root=$1
    mkdir -p "$root/proc" "$root/sys/devices/system/cpu"
    printf '%s\n' "processor	: 0" "BogoMIPS	: 108.00" "Features	: fp asimd evtstrm crc32 cpuid" \
        "CPU implementer	: 0x41" "CPU architecture: 8" "CPU variant	: 0x0" "CPU part	: 0xd08" \
        "CPU revision	: 3" "" >"$root/proc/cpuinfo"
    echo 0 >"$root/sys/devices/system/cpu/possible"
    echo 0 >"$root/sys/devices/system/cpu/present"
}

build_site() {
    local key site stamp
    key=$(echo "$wheels_spec" | sha256sum | cut -c1-12)
    site=$cache/site-$key
    stamp=$site.stamp
    if [ ! -f "$stamp" ]; then
        local platforms="--platform manylinux_2_34_aarch64 --platform manylinux_2_28_aarch64
                         --platform manylinux_2_27_aarch64 --platform manylinux2014_aarch64"
        local target="--only-binary=:all: --python-version 3.11 --implementation cp --abi cp311"
        say "downloading aarch64 wheels: $wheels_spec"
        mkdir -p "$cache/wheels"
        # shellcheck disable=SC2086
        "$python" -m pip download -q --disable-pip-version-check $platforms $target \
            -d "$cache/wheels" $wheels_spec >&2
        rm -rf "$site"
        # --no-warn-conflicts: pip checks conflicts against the host environment, not the target.
        # shellcheck disable=SC2086
        "$python" -m pip install -q --disable-pip-version-check --no-warn-conflicts --no-index \
            --find-links "$cache/wheels" \
            $platforms $target --target "$site" $wheels_spec >&2
        echo "$wheels_spec" >"$stamp"
    fi
    echo "$site"
}

check_tools
build_root
site=$(build_site)
echo "root=$cache/root"
echo "site=$site"
