/*
 * static: serves the dashboard's files from a web root directory.
 *
 * Design: the request path is percent-decoded, then refused when any
 * segment is "..", ".", empty-but-interior, or hidden (starts with '.'), or
 * when it holds a backslash or NUL; the file is then opened relative to the
 * root one component at a time with openat(O_NOFOLLOW) and must be a regular
 * file. Only what the dashboard needs is served (static_allowed): other
 * paths under the root, node_modules/ above all, answer 404. "/" maps to
 * index.html. Content types come from a short table by
 * extension; index.html is served with "Cache-Control: no-cache" so a new
 * dashboard is picked up, other files may be cached for an hour.
 */
#ifndef HTGA_HTTP_STATIC_H
#define HTGA_HTTP_STATIC_H

#include <stddef.h>

#define STATIC_PATH_MAX 1024

/* Turns a raw request path into a relative file path in rel (capacity cap).
 * Returns 0, 400 for a malformed or refused path (traversal, hidden), or 404
 * for a path outside what the dashboard needs (see static_allowed). */
int static_resolve(const char *raw_path, char *rel, size_t cap);

/* 1 when rel (a resolved relative path) is a file the dashboard needs:
 * directly in the web root (not package.json, package-lock.json), or under
 * js/, css/ or node_modules/uplot/dist/. */
int static_allowed(const char *rel);

/* Content-Type for a relative path, by extension; a default for others. */
const char *static_content_type(const char *rel);

/* Cache-Control value for a relative path. */
const char *static_cache_control(const char *rel);

/* Reads root/rel into *data (malloc'd, caller frees) and *len. Returns 0,
 * 404 when missing or not a regular file, 413 when larger than max_bytes,
 * 500 for another error. Symbolic links are not followed. */
int static_read(const char *root, const char *rel, size_t max_bytes, char **data, size_t *len);

#endif
