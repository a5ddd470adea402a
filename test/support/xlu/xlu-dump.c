/*
 * xlu-dump: reads xl domain configs with Xen's own parser (libxlutil, xlu_cfg_readdata) and
 * prints what it read, so that pvhctl's parser can be compared against it (xlcfg/libxlu.test.ts).
 *
 * Input (stdin): records, each "LENGTH\n" followed by LENGTH bytes of config text.
 * Output (stdout): one line per record:
 *   OK <settings>          settings: space-separated NAME:OP:LINE:VALUE for each key's effective
 *                          (last) setting, VALUE is s<hex bytes> or l<count>(<values>,...)
 *   ERR <rc> <hex report>  the parser refused the config; report is what it printed
 *   CRASH <signal>         libxlutil itself crashed on the input (e.g. NUL bytes in a string)
 * Each record is parsed in a forked child so that a crash in libxlutil is reported, not fatal.
 *
 * `xlu-dump --bench N` instead parses the first record N times in-process and prints the elapsed
 * nanoseconds (bench/xlcfg.ts compares pvhctl's parser against this).
 *
 * The setting list is walked through libxlutil's internal layout (libxlu_internal.h, "transparent"
 * XLU_ConfigSetting), declared again below: the public API has no way to list the keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <time.h>
#include <libxlutil.h>

typedef struct Setting {
    struct Setting *next;
    char *name;
    XLU_ConfigValue *value;
    enum XLU_Operation op;
    int lineno;
} Setting;

struct ConfigLayout { Setting *settings; FILE *report; char *source; };

static void hex(FILE *out, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) fprintf(out, "%02x", *p);
}

static void dump_value(const XLU_Config *cfg, FILE *out, XLU_ConfigValue *v) {
    if (xlu_cfg_value_type(v) == XLU_STRING) {
        char *s;
        xlu_cfg_value_get_string(cfg, v, &s, 1);
        fputc('s', out);
        hex(out, s);
        return;
    }
    XLU_ConfigList *list;
    xlu_cfg_value_get_list(cfg, v, &list, 1);
    int n = 0;
    while (xlu_cfg_get_listitem2(list, n)) n++;
    fprintf(out, "l%d(", n);
    for (int i = 0; i < n; i++) {
        if (i) fputc(',', out);
        dump_value(cfg, out, xlu_cfg_get_listitem2(list, i));
    }
    fputc(')', out);
}

static void parse_one(const char *data, int len, FILE *out) {
    char *report = NULL;
    size_t report_len = 0;
    FILE *rep = open_memstream(&report, &report_len);
    XLU_Config *cfg = xlu_cfg_init(rep, "CONFIG");
    int rc = xlu_cfg_readdata(cfg, data, len);
    fflush(rep);
    if (rc) {
        fprintf(out, "ERR %d ", rc);
        hex(out, report ? report : "");
        fputc('\n', out);
        return;
    }
    fputs("OK", out);
    /* Newest first: the first setting seen for a name is the one xl uses (libxlu_cfg.c find()). */
    for (Setting *s = ((struct ConfigLayout *)cfg)->settings; s; s = s->next) {
        int seen = 0;
        for (Setting *t = ((struct ConfigLayout *)cfg)->settings; t != s; t = t->next)
            if (!strcmp(t->name, s->name)) { seen = 1; break; }
        if (seen) continue;
        fprintf(out, " %s:%s:%d:", s->name, s->op == XLU_OP_ADDITION ? "+=" : "=", s->lineno);
        dump_value(cfg, out, s->value);
    }
    fputc('\n', out);
}

static int bench(long rounds) {
    char header[32];
    if (!fgets(header, sizeof header, stdin)) return 2;
    long len = strtol(header, NULL, 10);
    if (len < 0 || len > (64L << 20)) return 2;
    char *data = malloc(len + 1);
    if (!data || fread(data, 1, len, stdin) != (size_t)len) return 2;
    FILE *devnull = fopen("/dev/null", "w");
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < rounds; i++) {
        XLU_Config *cfg = xlu_cfg_init(devnull, "CONFIG");
        if (xlu_cfg_readdata(cfg, data, (int)len)) return 3;
        xlu_cfg_destroy(cfg);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%lld\n", (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--bench")) return bench(strtol(argv[2], NULL, 10));
    char header[32];
    while (fgets(header, sizeof header, stdin)) {
        long len = strtol(header, NULL, 10);
        if (len < 0 || len > (64L << 20)) return 2;
        char *data = malloc(len + 1);
        if (!data || fread(data, 1, len, stdin) != (size_t)len) return 2;
        data[len] = 0;
        fflush(stdout);
        int pipefd[2];
        if (pipe(pipefd)) return 3;
        pid_t pid = fork();
        if (pid == 0) {
            close(pipefd[0]);
            FILE *out = fdopen(pipefd[1], "w");
            parse_one(data, (int)len, out);
            fclose(out);
            _exit(0);
        }
        close(pipefd[1]);
        /* Collect the child's answer and print it only if the child finished: a crash in
         * libxlutil then gives one CRASH line and no partial output. */
        size_t have = 0, cap = 65536;
        char *answer = malloc(cap);
        ssize_t n;
        while (answer && (n = read(pipefd[0], answer + have, cap - have)) > 0) {
            have += n;
            if (have == cap) answer = realloc(answer, cap *= 2);
        }
        close(pipefd[0]);
        int status;
        waitpid(pid, &status, 0);
        if (!answer) return 4;
        if (WIFSIGNALED(status)) printf("CRASH %d\n", WTERMSIG(status));
        else fwrite(answer, 1, have, stdout);
        free(answer);
        fflush(stdout);
        free(data);
    }
    return 0;
}
