#!/bin/sh
# mmdebstrap --extract-hook of an unpacked system (--variant=extract: no maintainer script ran,
# nothing of the new system can run on this host). Arguments: ROOT NAME UUID. Writes, without
# executing anything of the system, what customize-hook.sh gives an installed one, and what its
# first boot in the lab needs (lab/debian/first-boot.sh, which the first-boot initramfs brings:
# it configures the packages, locks root and runs update-grub on the real disk).
set -eu
root=$1 name=$2 uuid=$3
here=$(dirname "$0")
printf '%s\n' "$name" > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$name" > "$root/etc/hosts"
printf 'UUID=%s\t/\text4\terrors=remount-ro\t0\t1\n' "$uuid" > "$root/etc/fstab"
printf '%s\n' "$name" > "$root/etc/lab-disk"
printf '%s\n' "$uuid" > "$root/etc/lab-fs-uuid"
# The getty on hvc0 and the report unit, enabled as systemctl enable would (symlinks).
mkdir -p "$root/etc/systemd/system/getty.target.wants" "$root/etc/systemd/system/multi-user.target.wants" "$root/usr/local/sbin"
ln -sf /lib/systemd/system/serial-getty@.service "$root/etc/systemd/system/getty.target.wants/serial-getty@hvc0.service"
cp "$here/report.sh" "$root/usr/local/sbin/pvhctl-lab-report"
cp "$here/report.service" "$root/etc/systemd/system/pvhctl-lab-report.service"
chmod 755 "$root/usr/local/sbin/pvhctl-lab-report"
ln -sf /etc/systemd/system/pvhctl-lab-report.service "$root/etc/systemd/system/multi-user.target.wants/pvhctl-lab-report.service"
# GRUB's postinst would put Debian's template in place (ucf); not a conffile, so dpkg keeps it.
cp "$root/usr/share/grub/default/grub" "$root/etc/default/grub"
# initramfs-tools: the modules a Xen guest needs, as essential-hook.sh does for amd64 (conf.d is
# no package's; /etc/initramfs-tools/modules is a conffile the first boot keeps, --force-confold).
mkdir -p "$root/etc/initramfs-tools/conf.d"
printf 'MODULES=list\n' > "$root/etc/initramfs-tools/conf.d/pvhctl-lab"
printf 'xen-blkfront\next4\n' >> "$root/etc/initramfs-tools/modules"
# The .debs stay in /var/cache/apt/archives (--skip=cleanup/apt/cache) for the first boot's dpkg,
# split here into the Essential set and the rest (dpkg-deb reads any architecture's control data;
# asking it once per package inside the lab cost 157 s of the first boot under nested emulation).
archives=$root/var/cache/apt/archives
: > "$archives/pvhctl-essential.list"
: > "$archives/pvhctl-rest.list"
for d in "$archives"/*.deb; do
  if [ "$(dpkg-deb -f "$d" Essential)" = yes ]; then list=essential; else list=rest; fi
  basename "$d" >> "$archives/pvhctl-$list.list"
done
[ -s "$archives/pvhctl-essential.list" ] && [ -s "$archives/pvhctl-rest.list" ]
