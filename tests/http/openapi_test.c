/*
 * The served routes and docs/openapi.json agree: every route of the route
 * table is documented with exactly its methods, every documented path is a
 * route, and every documented GET answers something other than 404/405 on
 * a live server (with {run} and {group} filled from a fixture).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htga_config.h"
#include "http.h"
#include "httpc.h"
#include "route.h"

static json_t *load_doc(void)
{
    json_error_t e;
    json_t *doc = json_load_file(HTGA_SOURCE_ROOT "/docs/openapi.json", 0, &e);
    cr_assert_not_null(doc, "docs/openapi.json: line %d: %s", e.line, e.text);
    return doc;
}

Test(openapi, routes_match_document)
{
    json_t *doc = load_doc();
    json_t *paths = json_object_get(doc, "paths");
    size_t n;
    const struct route_desc *t = route_table(&n);
    cr_assert_eq(json_object_size(paths), n, "documented paths vs routes");
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_object_get(paths, t[i].template);
        cr_assert_not_null(item, "%s is served but not documented", t[i].template);
        cr_assert_eq(json_object_get(item, "get") != NULL, (t[i].methods & M_GET) != 0, "%s get",
                     t[i].template);
        cr_assert_eq(json_object_get(item, "put") != NULL, (t[i].methods & M_PUT) != 0, "%s put",
                     t[i].template);
        cr_assert_null(json_object_get(item, "post"));
        cr_assert_null(json_object_get(item, "delete"));
    }
    json_decref(doc);
}

Test(openapi, documented_paths_are_served, .timeout = 60)
{
    char dir[64], db_path[128];
    cr_assert_not_null(fixture_tmpdir(dir, sizeof dir));
    snprintf(db_path, sizeof db_path, "%s/t.db", dir);
    sqlite3 *db = fixture_db(db_path);
    int64_t gid = fixture_group(db, "r", "g", 0);
    fixture_blocks(db, gid, 0, 3, NULL, 0);
    double y[3] = {3, 2, 1};
    fixture_top(db, gid, 2, y, 3);
    sqlite3_close(db);
    struct http_config cfg = {.listen = "127.0.0.1:0", .db_path = db_path};
    http_server *srv;
    cr_assert_eq(http_start(&srv, &cfg, NULL, 0), HTTP_OK);
    json_t *doc = load_doc();
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        char url[256], *o = url;
        for (const char *p = path; *p;) {
            if (strncmp(p, "{run}", 5) == 0) {
                *o++ = 'r';
                p += 5;
            } else if (strncmp(p, "{group}", 7) == 0) {
                *o++ = 'g';
                p += 7;
            } else {
                *o++ = *p++;
            }
        }
        *o = '\0';
        struct hresp r;
        httpc(http_port(srv), "GET", url, NULL, NULL, 0, &r);
        cr_assert_eq(r.status, 200, "GET %s: %d %s", url, r.status, r.body);
        hresp_free(&r);
    }
    json_decref(doc);
    http_stop(&srv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}
