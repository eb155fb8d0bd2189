/*
 * fuzz_config.c - libFuzzer target for htgad's config file decoder
 * (config_load_stream in daemon/config.c: `key value` / `key = value`
 * lines, comments, quotes, every setter's value parser). Input: the file's
 * bytes, read through fmemopen. Invariants checked: a refused file leaves
 * a non-empty message naming the file; an accepted one leaves every string
 * setting NUL-terminated inside its buffer without a newline, numbers in
 * their documented ranges, and a policy that policy_validate accepts
 * whenever lambda-min <= lambda-max (that pair is checked at the end of the
 * command line, not per line). Seeds: tests/fuzz/corpus/
 * config/ (replayed by the fuzz-replay-config test in every build).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static void check_str(const char *s, size_t cap)
{
    size_t len = strnlen(s, cap);
    if (len == cap || memchr(s, '\n', len) != NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    htgad_config cfg;
    config_error err;
    FILE *f;
    int rc;

    if (size == 0)
        return 0;
    f = fmemopen((void *)data, size, "r");
    if (f == NULL)
        return 0;
    config_defaults(&cfg);
    memset(err.text, 0x55, sizeof err.text);
    rc = config_load_stream(&cfg, f, "fuzz.conf", &err);
    fclose(f);
    if (rc != 0) {
        if (rc != -1 || strnlen(err.text, sizeof err.text) == sizeof err.text ||
            strncmp(err.text, "fuzz.conf", 9) != 0)
            abort();
        return 0;
    }
    check_str(cfg.db, sizeof cfg.db);
    check_str(cfg.listen, sizeof cfg.listen);
    check_str(cfg.http, sizeof cfg.http);
    check_str(cfg.token, sizeof cfg.token);
    check_str(cfg.web_root, sizeof cfg.web_root);
    check_str(cfg.stats_file, sizeof cfg.stats_file);
    if (cfg.block_samples == 0 || cfg.estimators == 0 || cfg.queue_bytes == 0 ||
        cfg.queue_rows == 0 || cfg.max_streams == 0)
        abort();
    /* lambda-min <= lambda-max is checked once the whole command line is
     * read (a file may set them in either order); everything else per line */
    const char *why;
    if (cfg.policy.lambda_min <= cfg.policy.lambda_max &&
        policy_validate(&cfg.policy, POLICY_NAMES_FLAGS, &why) < 0)
        abort();
    if (!(cfg.policy.ema >= 0 && cfg.policy.ema < 1) || !(cfg.policy.lambda_min > 0))
        abort();
    return 0;
}
