/* Tests of static.c: traversal refused, index mapping, types, symlinks. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httpc.h"
#include "static.h"

Test(static_files, resolve)
{
    char rel[STATIC_PATH_MAX];
    cr_assert_eq(static_resolve("/", rel, sizeof rel), 0);
    cr_assert_str_eq(rel, "index.html");
    cr_assert_eq(static_resolve("/js/app.js", rel, sizeof rel), 0);
    cr_assert_str_eq(rel, "js/app.js");
    cr_assert_eq(static_resolve("/js/", rel, sizeof rel), 0);
    cr_assert_str_eq(rel, "js/index.html");
    cr_assert_eq(static_resolve("/../etc/passwd", rel, sizeof rel), 400);
    cr_assert_eq(static_resolve("/a/../../x", rel, sizeof rel), 400);
    cr_assert_eq(static_resolve("/%2e%2e/%2e%2e/etc/passwd", rel, sizeof rel), 400);
    cr_assert_eq(static_resolve("/a%2F..%2F..%2Fx", rel, sizeof rel), 400);
    cr_assert_eq(static_resolve("/.git/config", rel, sizeof rel), 400);
    cr_assert_eq(static_resolve("/a//b", rel, sizeof rel), 400);
    cr_assert_eq(static_resolve("/a\\..\\b", rel, sizeof rel), 400);
    cr_assert_eq(static_resolve("/a%00b", rel, sizeof rel), 400);
}

/* Only what the dashboard needs: web/node_modules holds playwright-core and
 * package files that must not be served. */
Test(static_files, only_the_dashboard_files)
{
    char rel[STATIC_PATH_MAX];
    cr_assert_eq(static_resolve("/index.html", rel, sizeof rel), 0);
    cr_assert_eq(static_resolve("/style.css", rel, sizeof rel), 0);
    cr_assert_eq(static_resolve("/js/app.js", rel, sizeof rel), 0);
    cr_assert_eq(static_resolve("/css/x.css", rel, sizeof rel), 0);
    cr_assert_eq(static_resolve("/node_modules/uplot/dist/uPlot.esm.js", rel, sizeof rel), 0);
    cr_assert_eq(static_resolve("/node_modules/uplot/dist/uPlot.min.css", rel, sizeof rel), 0);
    cr_assert_eq(static_resolve("/node_modules/uplot/package.json", rel, sizeof rel), 404);
    cr_assert_eq(static_resolve("/node_modules/playwright-core/package.json", rel, sizeof rel),
                 404);
    cr_assert_eq(static_resolve("/node_modules/.package-lock.json", rel, sizeof rel), 400);
    cr_assert_eq(static_resolve("/node_modules/uplot/dist", rel, sizeof rel), 404);
    cr_assert_eq(static_resolve("/package.json", rel, sizeof rel), 404);
    cr_assert_eq(static_resolve("/package-lock.json", rel, sizeof rel), 404);
    cr_assert_eq(static_resolve("/sub/index.html", rel, sizeof rel), 404);
    cr_assert_eq(static_resolve("/node_modules%2Fplaywright-core%2Fpackage.json", rel, sizeof rel),
                 404);
}

Test(static_files, types_and_cache)
{
    cr_assert_str_eq(static_content_type("index.html"), "text/html; charset=utf-8");
    cr_assert_str_eq(static_content_type("a/b.js"), "text/javascript; charset=utf-8");
    cr_assert_str_eq(static_content_type("x.css"), "text/css; charset=utf-8");
    cr_assert_str_eq(static_content_type("noext"), "application/octet-stream");
    cr_assert_str_eq(static_cache_control("index.html"), "no-cache");
    cr_assert_str_eq(static_cache_control("app.js"), "public, max-age=3600");
}

Test(static_files, read_and_symlink)
{
    char dir[64], path[128];
    cr_assert_not_null(fixture_tmpdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/index.html", dir);
    FILE *f = fopen(path, "w");
    fputs("<h1>hi</h1>", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/link.html", dir);
    cr_assert_eq(symlink("/etc/passwd", path), 0);
    char *data;
    size_t len;
    cr_assert_eq(static_read(dir, "index.html", 1 << 20, &data, &len), 0);
    cr_assert_eq(len, 11);
    free(data);
    cr_assert_eq(static_read(dir, "link.html", 1 << 20, &data, &len), 404, "no symlinks");
    cr_assert_eq(static_read(dir, "missing.html", 1 << 20, &data, &len), 404);
    cr_assert_eq(static_read(dir, "index.html", 4, &data, &len), 413);
    unlink(path);
    snprintf(path, sizeof path, "%s/index.html", dir);
    unlink(path);
    rmdir(dir);
}
