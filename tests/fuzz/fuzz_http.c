/*
 * fuzz_http.c - libFuzzer target for the HTTP server's decoders of outside
 * input: path routing and percent-decoding (route.c), static path
 * resolution (static.c), the series field list (series.c) and the policy
 * body (routes_policy.c). Input: byte 0 picks the decoder, the rest is the
 * text, copied into an exactly sized buffer so AddressSanitizer sees any
 * read past it. Invariants checked: decoded names have the length reported
 * and no NUL; a resolved static path has no ".." segment; an accepted policy
 * satisfies the documented rules. Seeds: tests/fuzz/corpus/http/
 * (replayed by the fuzz-replay-http test in every build).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "route.h"
#include "series.h"
#include "static.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = size - 1;
    char *s = malloc(n + 1);
    memcpy(s, data + 1, n);
    s[n] = '\0';
    switch (data[0] % 4) {
    case 0: {
        struct route_match m;
        route_match(s, (enum route_method)(1u << (data[0] / 4 % 4)), &m);
        if (m.status == 0 && (strlen(m.run) > ROUTE_NAME_MAX || strlen(m.group) > ROUTE_NAME_MAX))
            abort();
        char out[64];
        long l = route_pct_decode(s, n, out, sizeof out, data[0] & 0x10);
        if (l >= 0 && (size_t)l != strlen(out))
            abort();
        break;
    }
    case 1: {
        char rel[STATIC_PATH_MAX];
        if (static_resolve(s, rel, sizeof rel) == 0 &&
            (strstr(rel, "..") == rel || strstr(rel, "/../") || strstr(rel, "/..\0") ||
             rel[0] == '/'))
            abort();
        break;
    }
    case 2: {
        int ids[SERIES_MAX_FIELDS];
        char err[128];
        int k = series_parse_fields(s, ids, err, sizeof err);
        for (int i = 0; i < k; i++)
            if (!series_field_name(ids[i]))
                abort();
        break;
    }
    case 3: {
        policy p = policy_default();
        if (!http_parse_policy_body(s, n, &p) &&
            (!(p.lambda_min > 0) || !(p.lambda_min <= p.lambda_max) || !(p.ema >= 0) ||
             !(p.ema < 1) || !isfinite(p.lambda_max) ||
             (p.kind == POLICY_LINEAR && !(p.param > 0 && isfinite(p.param))) ||
             (p.kind == POLICY_POWER && !(p.param > 1 && isfinite(p.param))) ||
             (p.kind != POLICY_LINEAR && p.kind != POLICY_POWER)))
            abort();
        break;
    }
    }
    free(s);
    return 0;
}
