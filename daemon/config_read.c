/*
 * config_read.c - where htgad's settings come from: `--key value` flags and
 * the --config file, both fed to config_set() (config.c holds the table).
 *
 * DESIGN: see config.h. The file is read line by line (`key value` or
 * `key = value`, '#' comments, optional double quotes); the command line in
 * two passes, --help/--version/--config first, then every flag, so flags
 * win over the file.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htga_config.h"

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Splits one file line into key and value; returns 0, 1 for a blank or
 * comment line, -1 when malformed. */
static int split_line(char *line, char **key, char **value)
{
    char *p = trim(line);
    size_t vlen;

    if (*p == '\0' || *p == '#')
        return 1;
    *key = p;
    while (*p && !isspace((unsigned char)*p) && *p != '=')
        p++;
    if (*p == '\0')
        return -1;
    if (*p == '=') {
        *p++ = '\0';
    } else {
        *p++ = '\0';
        p = trim(p);
        if (*p == '=')
            p++;
    }
    p = trim(p);
    vlen = strlen(p);
    if (vlen >= 2 && p[0] == '"' && p[vlen - 1] == '"') {
        p[vlen - 1] = '\0';
        p++;
    }
    *value = p;
    return 0;
}

/* One line of f into buf (cap bytes, newline dropped): 1, 0 at the end of
 * the file, -1 when it does not fit, -2 when it holds a NUL byte. Bounded,
 * so an endless stream without newlines (/dev/zero) is refused. */
static int read_line(FILE *f, char *buf, size_t cap)
{
    size_t len = 0;
    int c;

    while ((c = getc(f)) != EOF && c != '\n') {
        if (c == '\0')
            return -2;
        if (len + 1 >= cap)
            return -1;
        buf[len++] = (char)c;
    }
    buf[len] = '\0';
    return c == EOF && len == 0 ? 0 : 1;
}

int config_load_stream(htgad_config *cfg, FILE *f, const char *name, config_error *err)
{
    char line[CONFIG_PATH_MAX + 64];
    char *key, *value;
    unsigned lineno = 0;
    config_error inner;
    int rc;

    while ((rc = read_line(f, line, sizeof(line))) != 0) {
        lineno++;
        if (rc < 0) {
            snprintf(err->text, sizeof(err->text), "%.300s:%u: %s", name, lineno,
                     rc == -1 ? "line too long" : "NUL byte (not a text file?)");
            return -1;
        }
        rc = split_line(line, &key, &value);
        if (rc == 1)
            continue;
        if (rc < 0) {
            snprintf(err->text, sizeof(err->text), "%.300s:%u: expected 'key value'", name, lineno);
            return -1;
        }
        if (strcmp(key, "config") == 0 || config_set(cfg, key, value, &inner) < 0) {
            snprintf(err->text, sizeof(err->text), "%.300s:%u: %.600s", name, lineno,
                     strcmp(key, "config") == 0 ? "'config' is not allowed in a config file"
                                                : inner.text);
            return -1;
        }
    }
    if (ferror(f)) {
        snprintf(err->text, sizeof(err->text), "%.300s: read error", name);
        return -1;
    }
    return 0;
}

int config_load_file(htgad_config *cfg, const char *path, config_error *err)
{
    FILE *f = fopen(path, "r");
    int rc;

    if (f == NULL) {
        snprintf(err->text, sizeof(err->text), "config file %s: %s", path, strerror(errno));
        return -1;
    }
    rc = config_load_stream(cfg, f, path, err);
    fclose(f);
    return rc;
}

/* Splits argv[*i] ("--key", "--key=value") into key and value, consuming
 * the next argument as the value when needed. */
static int take_flag(int argc, char **argv, int *i, char *key, size_t klen, const char **value,
                     config_error *err)
{
    const char *a = argv[*i];
    const char *eq;
    size_t n;

    if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
        snprintf(err->text, sizeof(err->text), "unexpected argument '%s' (see --help)", a);
        return -1;
    }
    a += 2;
    eq = strchr(a, '=');
    n = eq ? (size_t)(eq - a) : strlen(a);
    if (n >= klen) {
        snprintf(err->text, sizeof(err->text), "unknown flag '%s'", argv[*i]);
        return -1;
    }
    memcpy(key, a, n);
    key[n] = '\0';
    if (strcmp(key, "help") == 0 || strcmp(key, "version") == 0) {
        *value = NULL;
        return 0;
    }
    if (eq) {
        *value = eq + 1;
    } else if (*i + 1 < argc) {
        *value = argv[++*i];
    } else {
        snprintf(err->text, sizeof(err->text), "--%s needs a value", key);
        return -1;
    }
    return 0;
}

int config_parse_args(htgad_config *cfg, int argc, char **argv, FILE *out, config_error *err)
{
    char key[64];
    const char *value;
    const char *file = NULL;

    config_defaults(cfg);
    /* First pass: --help, --version, --config and syntax. */
    for (int i = 1; i < argc; i++) {
        if (take_flag(argc, argv, &i, key, sizeof(key), &value, err) < 0)
            return CONFIG_ERROR;
        if (strcmp(key, "help") == 0) {
            config_usage(out);
            return CONFIG_EXIT;
        }
        if (strcmp(key, "version") == 0) {
            fprintf(out, "htgad %s\n", HTGA_VERSION_STRING);
            return CONFIG_EXIT;
        }
        if (strcmp(key, "config") == 0)
            file = value;
    }
    if (file != NULL && config_load_file(cfg, file, err) < 0)
        return CONFIG_ERROR;
    for (int i = 1; i < argc; i++) {
        take_flag(argc, argv, &i, key, sizeof(key), &value, err);
        if (strcmp(key, "config") != 0 && config_set(cfg, key, value, err) < 0)
            return CONFIG_ERROR;
    }
    return config_check(cfg, err) < 0 ? CONFIG_ERROR : CONFIG_RUN;
}
