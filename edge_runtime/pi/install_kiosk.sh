#!/usr/bin/env bash
# Install brainedge-kiosk.service (next to this script) for one user, with its venv, bundle
# and image folder (or the Pi camera) filled in, then enable and start it.
#
# usage: install_kiosk.sh --bundle DIR (--folder DIR | --camera) [--venv DIR] [--user NAME] [--print]
#   --venv   the venv where brainedge[edge] is installed (default: ~USER/brainedge-venv)
#   --user   the account the kiosk runs as (default: you)
#   --print  print the unit instead of installing it (no sudo needed)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
user=${SUDO_USER:-$(id -un)}
venv="" bundle="" source_args="" print=no

die() { echo "error: $*" >&2; exit 2; }

absolute_dir() {
    [ -d "$1" ] || die "$1: directory not found"
    local path
    path=$(cd "$1" && pwd)
    case $path in *[[:space:]]*) die "$path: a path with spaces cannot go in the unit file";; esac
    echo "$path"
}

while [ $# -gt 0 ]; do
    case $1 in
        --bundle) bundle=$(absolute_dir "${2:?--bundle needs a directory}"); shift 2 ;;
        --folder) source_args="--watch $(absolute_dir "${2:?--folder needs a directory}")"; shift 2 ;;
        --camera) source_args="--camera picamera"; shift ;;
        --venv) venv=$(absolute_dir "${2:?--venv needs a directory}"); shift 2 ;;
        --user) user=${2:?--user needs a name}; shift 2 ;;
        --print) print=yes; shift ;;
        -h | --help) sed -n '2,8p' "$0" | cut -c3-; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

[ -n "$bundle" ] || die "--bundle DIR is required"
[ -f "$bundle/metadata.json" ] || die "$bundle: not a model bundle (no metadata.json)"
[ -n "$source_args" ] || die "give --folder DIR (watch for new images) or --camera"
home=$(getent passwd "$user" | cut -d: -f6) || die "$user: no such user"
group=$(id -gn "$user")
venv=${venv:-$home/brainedge-venv}
[ -x "$venv/bin/python" ] || die "$venv/bin/python not found (create the venv first, see the README)"
[ -x "$venv/bin/brainedge-classify" ] ||
    die "$venv/bin/brainedge-classify not found (pip install the brainedge wheel with [edge] into it, see the README)"
if [ "$source_args" = "--camera picamera" ]; then
    "$venv/bin/python" -c "import picamera2" 2>/dev/null ||
        die "$venv cannot import picamera2 (sudo apt install python3-picamera2; make the venv with --system-site-packages)"
fi

unit=$(sed -e '1,/^$/d' \
           -e "s|^User=pi\$|User=$user|" \
           -e "s|^Group=pi\$|Group=$group|" \
           -e "s|^WorkingDirectory=/home/pi\$|WorkingDirectory=$home|" \
           -e "s|^ExecStart=.*|ExecStart=$venv/bin/brainedge-classify --bundle $bundle $source_args --interval 1|" \
           "$here/brainedge-kiosk.service")
unit="# Written by install_kiosk.sh from brainedge-kiosk.service.
$unit"

if [ "$print" = yes ]; then
    echo "$unit"
    exit 0
fi
echo "$unit" | sudo tee /etc/systemd/system/brainedge-kiosk.service >/dev/null
sudo systemctl daemon-reload
sudo systemctl enable --now brainedge-kiosk.service
echo "brainedge-kiosk is running; follow its answers with: journalctl -u brainedge-kiosk -f"
