#!/bin/sh
# The second stage of an unpacked Debian system (lab/debian/unpack-hook.sh), run once natively
# under Xen in the lab: the lab's guest initramfs (mode first-boot) mounts the disk read-write
# with /proc, /sys and /dev and runs this in a chroot, its output on hvc0. What debootstrap's
# --second-stage and mmdebstrap's root mode do: the Essential packages first with dpkg --install
# (their pre-depends), then the rest unpacked and all configured; then root locked, the
# initramfs checked and /boot/grub/grub.cfg from the system's own update-grub on the real
# /dev/xvda. Each step prints `PVHCTL-LAB-FIRSTBOOT step=NAME` and its seconds, so that one lab
# run shows where a failure was.
set -eu
export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
t0=$(date +%s)
step() { echo "PVHCTL-LAB-FIRSTBOOT step=$1 t=$(( $(date +%s) - t0 ))s"; }
# No fsync per file (as mmdebstrap's own builds): under nested emulation each one is a round trip
# through blkfront and dom0; the initramfs syncs once at the end.
opts='--force-confdef --force-confold --force-unsafe-io'
cd /var/cache/apt/archives
[ -s /var/lib/dpkg/arch ] || echo i386 > /var/lib/dpkg/arch
touch /var/lib/dpkg/status /var/lib/dpkg/available
# No service starts in here (no systemd runs): Debian's policy-rc.d convention, removed at the end.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
# The Essential set and the rest, as the build's unpack hook split them on the host.
essential=$(cat pvhctl-essential.list) rest=$(cat pvhctl-rest.list)
step essential
# shellcheck disable=SC2086
dpkg $opts --force-depends --install $essential
step unpack
# shellcheck disable=SC2086
dpkg $opts --force-depends --unpack $rest
step configure
dpkg $opts --configure -a
dpkg --audit
step passwd
passwd -l root
step initramfs
for k in /boot/vmlinuz-*; do
  rel=${k#/boot/vmlinuz-}
  [ -e "/boot/initrd.img-$rel" ] || update-initramfs -c -k "$rel"
done
step update-grub
# 10_linux writes root=UUID= only when udev's by-uuid link exists; no udev runs here, so the link
# udev would make, on the real device.
uuid=$(cat /etc/lab-fs-uuid)
mkdir -p /dev/disk/by-uuid
ln -sf ../../xvda "/dev/disk/by-uuid/$uuid"
[ "$(grub-probe --target=fs_uuid /)" = "$uuid" ]
mkdir -p /boot/grub
update-grub
rm -f /usr/sbin/policy-rc.d /etc/lab-fs-uuid /var/cache/apt/archives/pvhctl-*.list
apt-get clean
step done
