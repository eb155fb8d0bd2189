/* Tests of route.c: percent-decoding, splitting, matching, 404/405/400. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "route.h"

Test(route, pct_decode)
{
    char out[16];
    cr_assert_eq(route_pct_decode("a%2Fb", 5, out, sizeof out, 0), 3);
    cr_assert_str_eq(out, "a/b");
    cr_assert_eq(route_pct_decode("a+b%20c", 7, out, sizeof out, 1), 5);
    cr_assert_str_eq(out, "a b c");
    cr_assert_eq(route_pct_decode("a+b", 3, out, sizeof out, 0), 3);
    cr_assert_str_eq(out, "a+b");
    cr_assert_eq(route_pct_decode("%zz", 3, out, sizeof out, 0), -1);
    cr_assert_eq(route_pct_decode("%4", 2, out, sizeof out, 0), -1);
    cr_assert_eq(route_pct_decode("a%00b", 5, out, sizeof out, 0), -1, "NUL refused");
    cr_assert_eq(route_pct_decode("0123456789abcdef", 16, out, sizeof out, 0), -1, "too long");
    cr_assert_eq(route_pct_decode("%C3%A9", 6, out, sizeof out, 0), 2);
}

Test(route, matches_every_template)
{
    struct route_match m;
    route_match("/api/v1/health", M_GET, &m);
    cr_assert_eq(m.status, 0);
    cr_assert_eq(m.id, ROUTE_HEALTH);
    route_match("/api/v1/runs", M_GET, &m);
    cr_assert_eq(m.id, ROUTE_RUNS);
    route_match("/api/v1/runs/r1", M_GET, &m);
    cr_assert_eq(m.id, ROUTE_RUN);
    cr_assert_str_eq(m.run, "r1");
    route_match("/api/v1/runs/r1/latest", M_HEAD, &m);
    cr_assert_eq(m.id, ROUTE_RUN_LATEST);
    cr_assert_eq(m.status, 0);
    route_match("/api/v1/runs/my%20run/groups/layer%2F1.weight/series", M_GET, &m);
    cr_assert_eq(m.id, ROUTE_SERIES);
    cr_assert_str_eq(m.run, "my run");
    cr_assert_str_eq(m.group, "layer/1.weight");
    route_match("/api/v1/runs/r/groups/g/hill", M_GET, &m);
    cr_assert_eq(m.id, ROUTE_HILL);
    route_match("/api/v1/runs/r/policy", M_PUT, &m);
    cr_assert_eq(m.id, ROUTE_RUN_POLICY);
    cr_assert_eq(m.status, 0);
    route_match("/api/v1/stats", M_GET, &m);
    cr_assert_eq(m.id, ROUTE_STATS);
    route_match("/metrics", M_GET, &m);
    cr_assert_eq(m.id, ROUTE_METRICS);
    route_match("/api/v1/runs/", M_GET, &m);
    cr_assert_eq(m.id, ROUTE_RUNS, "trailing slash ignored");
}

Test(route, errors)
{
    struct route_match m;
    route_match("/api/v1/nothing", M_GET, &m);
    cr_assert_eq(m.status, 404);
    route_match("/api/v1/runs/r/groups/g/series/extra", M_GET, &m);
    cr_assert_eq(m.status, 404);
    route_match("/api/v1/runs", M_PUT, &m);
    cr_assert_eq(m.status, 405);
    cr_assert_eq(m.allowed, M_GET | M_HEAD);
    route_match("/api/v1/runs/r/policy", M_OTHER, &m);
    cr_assert_eq(m.status, 405);
    cr_assert_eq(m.allowed, M_GET | M_HEAD | M_PUT);
    route_match("/api/v1/runs/%zz", M_GET, &m);
    cr_assert_eq(m.status, 400);
    route_match("/api/v1/runs//latest", M_GET, &m);
    cr_assert_eq(m.status, 400, "empty run name");
    route_match("/index.html", M_PUT, &m);
    cr_assert_eq(m.status, 405);
    route_match("/index.html", M_GET, &m);
    cr_assert_eq(m.id, ROUTE_STATIC);
    cr_assert_eq(route_method_of("DELETE"), M_OTHER);
}

Test(route, name_length_limit)
{
    char path[600];
    char name[300];
    memset(name, 'x', 256);
    name[256] = '\0';
    snprintf(path, sizeof path, "/api/v1/runs/%s", name);
    struct route_match m;
    route_match(path, M_GET, &m);
    cr_assert_eq(m.status, 400);
    name[255] = '\0';
    snprintf(path, sizeof path, "/api/v1/runs/%s", name);
    route_match(path, M_GET, &m);
    cr_assert_eq(m.status, 0);
    cr_assert_eq(strlen(m.run), 255);
}
