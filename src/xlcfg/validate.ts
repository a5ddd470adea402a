/**
 * What xl would do with a config for its guest type (tools/xl/xl_parse.c, tools/libs/light):
 * errors (xl or libxl refuses to create the guest), ignored keys (silently dropped for this type),
 * and warnings (accepted, but probably not what was meant).
 */
import { modelOf, type XlType, type XlModel } from './model.ts';
import type { XlConfig } from './types.ts';

export type Severity = 'error' | 'ignored' | 'warning';

export type Finding = { severity: Severity; key: string | null; message: string };

export type Validation = { type: XlType | null; findings: Finding[] };

/** Keys only HVM guests use; PV and PVH drop them without a word. */
export const HVM_ONLY_KEYS = ['serial', 'boot', 'usb', 'usbdevice', 'usbctrl', 'usbdev', 'soundhw', 'vga', 'stdvga', 'videoram', 'viridian', 'acpi', 'acpi_s3', 'acpi_s4', 'apic', 'pae', 'hpet', 'bios', 'nographic', 'xen_platform_pci', 'device_model_version', 'device_model_override', 'vnc_hvm'];
/** Keys read only for PVH (the shim and HVM-container options); given for PV they are errors. */
export const PVH_ONLY_KEYS = ['pvshim', 'pvshim_path', 'pvshim_cmdline', 'pvshim_extra', 'nestedhvm', 'hap', 'oos', 'shadow_memory', 'timer_mode'];
/** xl's `firmware` values for PV and PVH guests: the PV GRUB images. */
export const PV_FIRMWARE = ['pvgrub32', 'pvgrub64'];

/**
 * Validates a parsed config for the guest type it declares.
 * @example
 * validateConfig(parse('name = "w"\ntype = "pvh"\nkernel = "/k"\npci = [ "01:00.0" ]\n')).findings
 * // => [{ severity: 'error', key: 'pci', message: 'passthrough not yet supported for x86 PVH guests' }]
 */
export function validateConfig(config: XlConfig): Validation {
  return validateModel(modelOf(config));
}

/** As validateConfig, for a model already built. */
export function validateModel(m: XlModel): Validation {
  const findings: Finding[] = [];
  const add = (severity: Severity, key: string | null, message: string) => findings.push({ severity, key, message });
  for (const s of m.shapeErrors) add('warning', null, `${s}: xl warns and ignores it`);
  if (m.name === null) add('error', 'name', 'Domain name must be specified.');
  for (const d of m.disks) if (!d.result.ok) add('error', 'disk', `disk spec \`${d.spec}': ${d.result.error}`);
  for (const [key, n] of [['memory', m.memory], ['maxmem', m.maxmem]] as const) {
    if (n !== null && !n.ok) add('error', key, n.error);
  }
  if (!m.type.ok) {
    add('error', m.builder !== null ? 'builder' : 'type', m.type.error);
    return { type: null, findings };
  }
  const type = m.type.type;
  if (m.builder !== null) add('warning', 'builder', '`builder` is deprecated since Xen 4.10: use `type`');
  if (type === 'hvm') return { type, findings };

  if (m.kernel === null && m.bootloader === null && m.firmware === null) {
    add('error', null, `a ${type.toUpperCase()} guest needs one of kernel, bootloader or firmware`);
  }
  if (m.firmware !== null && !PV_FIRMWARE.includes(m.firmware)) add('error', 'firmware', `firmware \`${m.firmware}' is not one of ${PV_FIRMWARE.join(', ')}`);
  if (m.cmdline !== null && (m.root !== null || m.extra !== null)) add('warning', 'cmdline', 'cmdline overrides root and extra (xl warns)');
  for (const key of HVM_ONLY_KEYS) if (m.settings.has(key)) add('ignored', key, `\`${key}' applies to HVM guests only: ignored for ${type.toUpperCase()}`);

  const shim = m.pvshim !== null && m.pvshim.ok && m.pvshim.value !== 0;
  if (type === 'pv') {
    for (const key of PVH_ONLY_KEYS) if (m.settings.has(key)) add('error', key, `\`${key}' is only valid for PVH guests`);
    return { type, findings };
  }
  // PVH
  if (m.pvshim !== null && !m.pvshim.ok) add('error', 'pvshim', m.pvshim.error);
  if (m.firmware !== null && PV_FIRMWARE.includes(m.firmware) && !shim) {
    add('error', 'firmware', `firmware \`${m.firmware}' is a PV GRUB image: it cannot boot as PVH (no PHYS32_ENTRY); use the PVH GRUB image as kernel, or pvshim = 1`);
  }
  if (!shim) for (const key of ['pvshim_path', 'pvshim_cmdline', 'pvshim_extra']) if (m.settings.has(key)) add('ignored', key, `\`${key}' is used only with pvshim = 1`);
  if (m.e820Host !== null) add('ignored', 'e820_host', '`e820_host` applies to PV guests only: ignored for PVH');
  for (const key of m.vncKeys) add('ignored', key, `top-level \`${key}' does nothing for PVH: use vfb = [ "vnc=1,..." ]`);
  if (m.pci.length > 0) add('error', 'pci', 'passthrough not yet supported for x86 PVH guests');
  if (m.memory !== null && m.maxmem !== null && m.memory.ok && m.maxmem.ok && m.memory.value < m.maxmem.value) {
    add('warning', 'memory', `memory (${m.memory.value}) < maxmem (${m.maxmem.value}) turns on populate-on-demand under PVH`);
  }
  return { type, findings };
}
