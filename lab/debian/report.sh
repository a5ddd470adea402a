#!/bin/sh
# Writes the guest's own view of its mode to the Xen console (read by the lab's tests).
t=$(cat /sys/hypervisor/guest_type 2>/dev/null || echo unknown)
printf 'PVHCTL-LAB-MARKER name=%s guest_type=%s disk=%s arch=%s userland=systemd\n' \
  "$(cat /etc/hostname)" "$t" "$(cat /etc/lab-disk)" "$(uname -m)" > /dev/hvc0
printf 'PVHCTL-LAB-CMDLINE %s\n' "$(cat /proc/cmdline)" > /dev/hvc0
