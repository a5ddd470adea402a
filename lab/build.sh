#!/usr/bin/env bash
# Assembles the lab from unpacked Debian packages (lab/build.ts fetches them and calls this).
# Inputs (environment): OUT (empty output dir), DEBS64 (dom0 .debs, newline-separated), DPKG_DEBS
# (dpkg and what pvhctl's package depends on, unpacked over dom0 and listed in its dpkg database), K64 and K32
# (.debs of the amd64 and 686-pae kernels), BB32 (i386 busybox-static .deb), NOPVH (the no-PVH
# bzImage), GUESTS (dir with NAME/{xl.cfg,grub.cfg,guest.env}), LAB (this folder).
# Outputs in OUT: xen (gunzipped hypervisor), vmlinuz (dom0), dom0.cpio.gz, data.img, id_ed25519*.
set -euo pipefail
: "${OUT:?}" "${DEBS64:?}" "${DPKG_DEBS:?}" "${K64:?}" "${K32:?}" "${BB32:?}" "${NOPVH:?}" "${GUESTS:?}" "${LAB:?}"
work=$OUT/work
mkdir -p "$work"/{pkgs,k64,k32,bb32,dom0,guest64,guest32,disks}

# --- unpack -----------------------------------------------------------------------------------
while IFS= read -r deb; do [ -n "$deb" ] && dpkg-deb -x "$deb" "$work/pkgs"; done <<< "$DEBS64"
dpkg-deb -x "$K64" "$work/k64"
dpkg-deb -x "$K32" "$work/k32"
dpkg-deb -x "$BB32" "$work/bb32"
rel64=$(ls "$work/k64/lib/modules")
rel32=$(ls "$work/k32/lib/modules")
depmod -b "$work/k64" "$rel64"
depmod -b "$work/k32" "$rel32"

zcat "$work/pkgs/boot/xen-4.17-amd64.gz" > "$OUT/xen"  # QEMU's -kernel hangs on the gzipped one
cp "$work/k64/boot/vmlinuz-$rel64" "$OUT/vmlinuz"

# Copies the modules (with dependencies, in load order) into ROOT and lists them in LIST.
modules() { # KROOT REL ROOT LIST MODULE...
  local kroot=$1 rel=$2 root=$3 list=$4; shift 4
  : > "$list.tmp"
  for m in "$@"; do
    modprobe -d "$kroot" -S "$rel" --show-depends "$m" | awk '$1 == "insmod" { print $2 }' >> "$list.tmp"
  done
  awk '!seen[$0]++' "$list.tmp" | while read -r ko; do
    mkdir -p "$root/$(dirname "${ko#"$kroot"}")"
    cp "$ko" "$root/${ko#"$kroot"}"
    echo "${ko#"$kroot"}"
  done > "$list"
  rm -f "$list.tmp"
}

# --- dom0 -------------------------------------------------------------------------------------
d=$work/dom0
cp -a "$work/pkgs/." "$d/"
rm -rf "$d/usr/share/doc" "$d/usr/share/man" "$d/usr/share/locale" "$d/usr/share/info" "$d/boot" \
  "$d/usr/lib/grub/i386-xen" "$d/usr/lib/grub/x86_64-xen" "$d/usr/lib/grub/i386-xen_pvh"
mkdir -p "$d"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,root/.ssh,etc/lab,etc/dropbear,var/log,var/lib/xen/images,mnt}
# Shared libraries the binaries need: Debian's unpacked ones first, then the host's (same release).
libpath=$(find "$d" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)
bins=$(find "$d/usr/lib/xen-4.17/bin" "$d/usr/sbin" "$d/usr/bin" "$d/sbin" "$d/bin" -type f -perm -u+x 2>/dev/null)
for b in $bins; do
  LD_LIBRARY_PATH=$libpath ldd "$b" 2>/dev/null | sed "s|^|$b: |" || true
done > "$work/ldd"
# A library neither unpacked nor on the host would make that tool fail in dom0: stop here instead.
if grep 'not found' "$work/ldd"; then echo "build.sh: shared libraries missing (add their packages to DOM0_PACKAGES)" >&2; exit 1; fi
awk '$3 == "=>" && $4 ~ /^\// { print $4 } $2 ~ /^\/lib/ { print $2 }' "$work/ldd" | sort -u > "$work/libs"
echo /lib/x86_64-linux-gnu/libgcc_s.so.1 >> "$work/libs"  # xl's pthread_cancel needs it (dlopen)
while read -r lib; do
  case $lib in "$d"/*) continue ;; esac
  mkdir -p "$d$(dirname "$lib")"
  cp -L "$lib" "$d$lib"
done < <(sort -u "$work/libs")
mkdir -p "$d/lib64" && cp -L /lib64/ld-linux-x86-64.so.2 "$d/lib64/"
cp -a /etc/ld.so.conf /etc/ld.so.conf.d "$d/etc/" && ldconfig -r "$d"
for t in xl xenstored xenconsoled xen-init-dom0; do ln -sf "/usr/lib/xen-4.17/bin/$t" "$d/usr/sbin/$t"; done
modules "$work/k64" "$rel64" "$d" "$d/etc/lab/modules" \
  xen-evtchn xen-privcmd xen-gntdev xen-gntalloc xenfs xen-blkback loop dm-mod virtio_pci virtio_blk virtio_net
# --- dom0: LVM snapshots for rehearsals, as a production host has them -------------------------
# `lvcreate --snapshot` needs the device-mapper snapshot target (dm-snapshot, which needs dm-bufio)
# and `dmsetup targets` shows whether it is there. A modules.dep for dom0's own modules makes
# modprobe work as on a host (libdevmapper itself runs `modprobe dm-snapshot` when it misses it);
# init loads it with modprobe.
modules "$work/k64" "$rel64" "$d" "$work/modules-snapshot" dm-snapshot
cp "$work/k64/lib/modules/$rel64"/modules.{order,builtin,builtin.modinfo} "$d/lib/modules/$rel64/"
depmod -b "$d" "$rel64"

cp "$LAB/rootfs/dom0-init" "$d/init"
chmod 755 "$d/init"
# root, and nobody:nogroup as Debian's base-passwd has them: inspection children run as nobody
# (src/guest/containment.ts) when pvhctl runs as root, as it does installed on dom0.
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$d/etc/passwd"
printf 'root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n' > "$d/etc/shadow"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$d/etc/group"
printf '/bin/sh\n/bin/bash\n' > "$d/etc/shells"
# LVM without udev: create device nodes itself, no udev sync.
cat > "$d/etc/lvm/lvm.conf" <<'EOF'
devices { obtain_device_list_from_udev = 0 scan = [ "/dev" ] }
activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }
global { locking_dir = "/run/lock/lvm" }
EOF
cp "$GUESTS/vg" "$d/etc/lab/vg"
cp "$GUESTS/layout" "$d/etc/lab/layout"
ssh-keygen -q -t ed25519 -N '' -C pvhctl-lab -f "$OUT/id_ed25519"
install -m 600 "$OUT/id_ed25519.pub" "$d/root/.ssh/authorized_keys"
chmod 700 "$d/root" "$d/root/.ssh"
LD_LIBRARY_PATH=$libpath "$d/usr/bin/dropbearkey" -t ed25519 -f "$d/etc/dropbear/dropbear_ed25519_host_key" \
  | grep '^ssh-ed25519 ' > "$OUT/host_key.pub"

# --- guests -----------------------------------------------------------------------------------
# One initramfs per guest: static busybox of the guest's width, the PV block driver and ext4.
guest_initrd() { # NAME ARCH MODE OUTFILE
  local name=$1 arch=$2 mode=$3 outfile=$4 g=$work/initrd-$1 kroot rel bb
  if [ "$arch" = x86_32 ]; then kroot=$work/k32 rel=$rel32 bb=$work/bb32/bin/busybox
  else kroot=$work/k64 rel=$rel64 bb=$d/bin/busybox; fi
  mkdir -p "$g"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,mnt}
  cp "$bb" "$g/bin/busybox"
  modules "$kroot" "$rel" "$g" "$g/etc/modules-lab" xen-blkfront ext4
  cp "$LAB/rootfs/guest-init" "$g/init"
  printf '#!/bin/busybox sh\nexec /bin/busybox poweroff -f\n' > "$g/sbin/poweroff"
  chmod 755 "$g/init" "$g/sbin/poweroff"
  printf 'name=%s\nmode=%s\n' "$name" "$mode" > "$g/etc/lab-guest"
  if [ "$mode" = first-boot ]; then cp "$LAB/debian/first-boot.sh" "$g/first-boot"; fi
  (cd "$g" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -6) > "$outfile"
}

: > "$work/data.layout"
truncate -s "$(cat "$GUESTS/disk-bytes")" "$OUT/data.img"
while read -r name start count; do
  firstboot=
  # shellcheck disable=SC1090
  . "$GUESTS/$name/guest.env"   # arch, mode, kernel (amd64 | 686-pae | amd64-nopvh | none | debian), offset[, image, firstboot]
  cp "$GUESTS/$name/xl.cfg" "$d/etc/xen/$name.cfg"
  if [ "$kernel" = debian ]; then   # a real Debian system, built by lab/debian.ts: its image as is
    zstd -q -dc "$image" | dd of="$OUT/data.img" bs=1M seek="$offset" oflag=seek_bytes conv=notrunc,sparse status=none
    if [ -n "$firstboot" ]; then   # unpacked only: its first boot (PVH, the lab's kernel and initramfs from dom0)
      mkdir -p "$d/var/lib/xen/images/$name"
      cp -l "$work/k32/boot/vmlinuz-$rel32" "$d/var/lib/xen/images/$name/"
      guest_initrd "$name" "$arch" first-boot "$d/var/lib/xen/images/$name/initrd-first-boot.img"
      cp "$GUESTS/$name/first-boot.cfg" "$d/etc/xen/$name-first-boot.cfg"
    fi
    continue
  fi
  root=$work/disks/$name
  mkdir -p "$root/boot/grub" "$root/etc"
  echo "$name" > "$root/etc/lab-disk"
  cp "$GUESTS/$name/grub.cfg" "$root/boot/grub/grub.cfg"
  case $kernel in
    # Hard links: the dom0 initramfs (cpio newc) stores the data of linked files once.
    amd64) rel=$rel64; cp -l "$work/k64/boot/vmlinuz-$rel" "$work/k64/boot/config-$rel" "$root/boot/" ;;
    amd64-nopvh) rel=$rel64; cp -l "$NOPVH" "$root/boot/vmlinuz-$rel"; cp -l "$work/k64/boot/config-$rel" "$root/boot/" ;;
    686-pae) rel=$rel32; cp -l "$work/k32/boot/vmlinuz-$rel" "$work/k32/boot/config-$rel" "$root/boot/" ;;
    none) rel= ;;
  esac
  if [ -n "$rel" ]; then
    guest_initrd "$name" "$arch" "$mode" "$root/boot/initrd.img-$rel"
    if [ -f "$GUESTS/$name/direct" ]; then   # direct kernel boot: dom0 holds kernel and initramfs
      mkdir -p "$d/var/lib/xen/images/$name"
      cp -l "$root/boot/vmlinuz-$rel" "$root/boot/initrd.img-$rel" "$d/var/lib/xen/images/$name/"
    fi
  fi
  mkfs.ext4 -q -F -L "$name" -E root_owner=0:0 -d "$root" "$work/disk-$name.img" "$(( count * 4 ))M"
  dd if="$work/disk-$name.img" of="$OUT/data.img" bs=1M seek="$offset" oflag=seek_bytes conv=notrunc,sparse status=none
done < "$GUESTS/layout"

# --- dpkg in dom0 -----------------------------------------------------------------------------
# dom0 installs packages as a production one does (`dpkg -i`): DPKG_DEBS are unpacked over it
# (Debian's libc6 and friends replace the host's copies), and /var/lib/dpkg lists every package
# unpacked into dom0 (DEBS64 and DPKG_DEBS) from its own control file, with its file list, so dpkg
# checks a new package's Depends against what dom0 really holds.
dom0_dpkg() {
  local deb name ma list
  while IFS= read -r deb; do [ -n "$deb" ] && dpkg-deb -x "$deb" "$d"; done <<< "$DPKG_DEBS"
  rm -rf "$d/usr/share/doc" "$d/usr/share/man" "$d/usr/share/locale" "$d/usr/share/info"
  ldconfig -r "$d"
  # Every program in dom0 must find its libraries with dom0's own loader and libc.
  find "$d/bin" "$d/sbin" "$d/usr/bin" "$d/usr/sbin" "$d/usr/lib/xen-4.17/bin" -type f -perm -u+x \
    | while read -r b; do chroot "$d" /lib64/ld-linux-x86-64.so.2 --list "${b#"$d"}" 2>/dev/null | sed "s|^|${b#"$d"}: |"; done \
    > "$work/ldd-dpkg" || true
  if grep 'not found' "$work/ldd-dpkg"; then echo "build.sh: dom0's libraries missing (add their packages to DOM0_DPKG_PACKAGES)" >&2; exit 1; fi
  mkdir -p "$d/var/lib/dpkg/info" "$d/var/lib/dpkg/updates" "$d/var/lib/dpkg/triggers" "$d/var/lib/dpkg/alternatives"
  : > "$d/var/lib/dpkg/available"
  : > "$d/var/lib/dpkg/status"
  printf '%s\n%s\n' "$DEBS64" "$DPKG_DEBS" | sed '/^$/d' | sort -u | while read -r deb; do
    name=$(dpkg-deb -f "$deb" Package)
    ma=$(dpkg-deb -f "$deb" Multi-Arch)
    list=$name
    [ "$ma" = same ] && list=$name:$(dpkg-deb -f "$deb" Architecture)
    dpkg-deb -f "$deb" | awk '{ print } /^Package:/ { print "Status: install ok installed" }' >> "$d/var/lib/dpkg/status"
    echo >> "$d/var/lib/dpkg/status"
    dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|; s|/$||; s|^$|/.|' > "$d/var/lib/dpkg/info/$list.list"
    dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./md5sums > "$d/var/lib/dpkg/info/$list.md5sums" 2>/dev/null \
      || rm -f "$d/var/lib/dpkg/info/$list.md5sums"
  done
}
dom0_dpkg

(cd "$d" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -1) > "$OUT/dom0.cpio.gz"
rm -rf "$work"
