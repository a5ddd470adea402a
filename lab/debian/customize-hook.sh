#!/bin/sh
# mmdebstrap --customize-hook: makes the unpacked Debian system a Xen guest as an installer would
# leave it. Arguments: ROOT NAME UUID (the ext4 UUID the build will give the filesystem).
# - /etc/fstab and /etc/hostname; root's password locked (the lab logs in over nothing).
# - a getty on hvc0 (serial-getty@hvc0), as Debian's installer enables for a Xen console.
# - pvhctl-lab-report.service: once the system is up, writes the lab's marker line with
#   /sys/hypervisor/guest_type, and the kernel command line, to hvc0: the guest's own userland word.
# - /boot/grub/grub.cfg from the system's own update-grub. grub-mkconfig asks grub-probe which
#   device and filesystem hold / and /boot; in a build chroot that is a directory, not the disk, so
#   grub-probe is diverted for that one run to a script that answers what the disk will be
#   (/dev/xvda, ext2 driver, the filesystem UUID), then put back; likewise udev's by-uuid link. Everything else (the menu, the
#   stock command line without console=) is Debian's own scripts' work.
set -eu
root=$1 name=$2 uuid=$3
printf '%s\n' "$name" > "$root/etc/hostname"
printf '127.0.1.1\t%s\n' "$name" >> "$root/etc/hosts"
printf 'UUID=%s\t/\text4\terrors=remount-ro\t0\t1\n' "$uuid" > "$root/etc/fstab"
printf '%s\n' "$name" > "$root/etc/lab-disk"
chroot "$root" passwd -l root >/dev/null
mkdir -p "$root/etc/systemd/system/getty.target.wants"
ln -sf /lib/systemd/system/serial-getty@.service "$root/etc/systemd/system/getty.target.wants/serial-getty@hvc0.service"
cat > "$root/usr/local/sbin/pvhctl-lab-report" <<'EOS'
#!/bin/sh
# Writes the guest's own view of its mode to the Xen console (read by the lab's tests).
t=$(cat /sys/hypervisor/guest_type 2>/dev/null || echo unknown)
printf 'PVHCTL-LAB-MARKER name=%s guest_type=%s disk=%s arch=%s userland=systemd\n' \
  "$(cat /etc/hostname)" "$t" "$(cat /etc/lab-disk)" "$(uname -m)" > /dev/hvc0
printf 'PVHCTL-LAB-CMDLINE %s\n' "$(cat /proc/cmdline)" > /dev/hvc0
EOS
chmod 755 "$root/usr/local/sbin/pvhctl-lab-report"
cat > "$root/etc/systemd/system/pvhctl-lab-report.service" <<'EOS'
[Unit]
Description=Report /sys/hypervisor/guest_type on the Xen console (pvhctl lab)
After=multi-user.target serial-getty@hvc0.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/pvhctl-lab-report

[Install]
WantedBy=multi-user.target
EOS
ln -sf /etc/systemd/system/pvhctl-lab-report.service "$root/etc/systemd/system/multi-user.target.wants/pvhctl-lab-report.service"
# update-grub, with grub-probe answering for the disk-to-be; /boot/grub is what grub-install
# would have made on a real install.
mkdir -p "$root/boot/grub" "$root/etc/systemd/system/multi-user.target.wants"
chroot "$root" dpkg-divert --quiet --local --rename --add /usr/sbin/grub-probe
cat > "$root/usr/sbin/grub-probe" <<EOS
#!/bin/sh
# pvhctl lab build only (removed after update-grub): what grub-probe says on the guest's disk.
for a; do case \$a in --target=*) t=\${a#--target=} ;; esac; done
case \$t in
  device) echo /dev/xvda ;;
  fs) echo ext2 ;;
  fs_uuid) echo $uuid ;;
  drive|compatibility_hint) echo '(xen/xvda)' ;;
  *) ;;
esac
EOS
chmod 755 "$root/usr/sbin/grub-probe"
# What GRUB's packages do first (postinst: ucf of Debian's template): /etc/default/grub, with the
# stock GRUB_CMDLINE_LINUX_DEFAULT="quiet". And the by-uuid link udev makes on a real system, which
# 10_linux checks before it writes root=UUID=; it exists only for this run.
[ -e "$root/etc/default/grub" ] || cp "$root/usr/share/grub/default/grub" "$root/etc/default/grub"
mkdir -p "$root/dev/disk/by-uuid"
ln -s ../../null "$root/dev/disk/by-uuid/$uuid"
chroot "$root" update-grub
rm -r "$root/dev/disk" "$root/usr/sbin/grub-probe"
chroot "$root" dpkg-divert --quiet --local --rename --remove /usr/sbin/grub-probe
chroot "$root" grub-probe --version >/dev/null  # Debian's own grub-probe is back
# Caches the build does not need to keep.
rm -rf "$root/var/cache/apt/"*.bin "$root/var/lib/apt/lists/"* "$root/var/log/"*.log
