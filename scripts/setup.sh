#!/usr/bin/env bash
# Sets up what is missing, then returns. `setup.sh run` for npm start, `setup.sh test` for npm test.
#   system packages (apt, as root or through sudo), npm dependencies, and for tests the test guest.
set -euo pipefail
mode=${1:-run}
cd "$(dirname "$0")/.."
# Electron's binary download is done separately (scripts/start.mjs) so that a machine that cannot
# fetch it still installs everything else.
export ELECTRON_SKIP_BINARY_DOWNLOAD=1

# "command-or-file package" pairs: what Berth needs, and the Debian package that provides it.
needs=(
  "qemu-system-x86_64 qemu-system-x86"
  "qemu-img qemu-utils"
  "/usr/share/OVMF/OVMF_CODE.fd ovmf"
  "swtpm swtpm"
  "systemd-nspawn systemd-container"
  "ip iproute2"
  "nsenter util-linux"
  "debootstrap debootstrap"
  "nft nftables"
  "dnsmasq dnsmasq-base"
  "modprobe kmod"
  # new SSH host keys for a cloned container
  "ssh-keygen openssh-client"
  # a cloud image's first boot: the NoCloud seed ISO, and the password hash cloud-init sets
  "xorriso xorriso"
  "openssl openssl"
  # looking inside a cloud image before its first boot (libguestfs runs its own small VM on this kernel)
  "guestfish libguestfs-tools"
  "/var/lib/dpkg/info/linux-image-amd64.list linux-image-amd64"
  # which OS installation media hold, and what it needs (libosinfo, read through Debian's Python)
  "/usr/lib/x86_64-linux-gnu/girepository-1.0/Libosinfo-1.0.typelib gir1.2-libosinfo-1.0"
  "/usr/lib/python3/dist-packages/gi python3-gi"
  "/usr/share/osinfo/VERSION osinfo-db"
  "osinfo-db-import osinfo-db-tools"
  # node-pty (the containers' terminals) and unix-dgram (nspawn's ready notification) are compiled when npm installs them
  "g++ g++"
  "make make"
  "python3 python3"
)
if [ "$mode" = test ]; then
  needs+=(
    "chromium chromium"
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf fonts-dejavu-core"
    "/bin/busybox busybox-static"
    "xz xz-utils"
    # the test guest's boot disk: GRUB for BIOS and UEFI, and the EFI partition's FAT
    "/usr/lib/grub/i386-pc grub-pc-bin"
    "/usr/lib/grub/x86_64-efi grub-efi-amd64-bin"
    "mformat mtools"
    # the real Debian test disk: partitions and its EFI system partition
    "sfdisk fdisk"
    "mkfs.vfat dosfstools"
  )
fi

missing=()
for pair in "${needs[@]}"; do
  what=${pair% *}
  package=${pair#* }
  if [[ $what == /* ]]; then [ -e "$what" ] && continue; else command -v "$what" >/dev/null && continue; fi
  missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "Berth needs these packages (Debian names): ${missing[*]}. Install them with your package manager." >&2
    exit 1
  fi
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "Berth needs: ${missing[*]}. Run as root: apt-get install ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "setup: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies: installed when missing or when package-lock.json changed since the last install.
stamp=node_modules/.berth-lock.sha
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

if [ "$mode" = test ]; then
  bash e2e/fixtures/build-guest.sh
  bash e2e/fixtures/build-xen-host.sh
  bash e2e/fixtures/build-debian.sh
fi
