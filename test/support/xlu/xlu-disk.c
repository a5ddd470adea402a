/*
 * xlu-disk: parses disk specs with libxlutil's xlu_disk_parse, one per line of stdin (hex
 * encoded), and prints for each "OK <target hex|-> <format> <vdev hex> <rw> <cdrom>" or "ERR".
 * Used by xlcfg/disk.test.ts to check pvhctl's disk spec parser against xl's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxl.h>
#include <libxlutil.h>

static void hex(const char *s) { for (const unsigned char *p = (const unsigned char *)s; *p; p++) printf("%02x", *p); }

int main(void) {
    static char line[65536], spec[32768];
    FILE *devnull = fopen("/dev/null", "w");
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strspn(line, "0123456789abcdef") / 2;
        for (size_t i = 0; i < n; i++) sscanf(line + 2 * i, "%2hhx", (unsigned char *)&spec[i]);
        spec[n] = 0;
        XLU_Config *cfg = xlu_cfg_init(devnull, "disk");
        libxl_device_disk d;
        libxl_device_disk_init(&d);
        const char *specs[1] = { spec };
        if (xlu_disk_parse(cfg, 1, specs, &d)) { puts("ERR"); fflush(stdout); continue; }
        printf("OK ");
        if (d.pdev_path) hex(d.pdev_path); else putchar('-');
        printf(" %s ", libxl_disk_format_to_string(d.format));
        if (d.vdev) hex(d.vdev); else putchar('-');
        printf(" %d %d\n", d.readwrite, d.is_cdrom);
        fflush(stdout);
        libxl_device_disk_dispose(&d);
        xlu_cfg_destroy(cfg);
    }
    return 0;
}
