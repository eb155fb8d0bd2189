/*
 * static: safe file serving from the web root (see static.h). Each path
 * component below the root is opened with O_NOFOLLOW through openat(), so
 * neither ".." nor a symlink can leave the root.
 */
#include "static.h"
#include "route.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What the dashboard page needs, and nothing else of web/ (node_modules
 * holds playwright-core and package files): files directly in the root
 * except npm's package files, and anything under these folders. */
static const char *const allowed_dirs[] = {"js/", "css/", "node_modules/uplot/dist/"};

int static_allowed(const char *rel)
{
    if (!strchr(rel, '/'))
        return strcmp(rel, "package.json") != 0 && strcmp(rel, "package-lock.json") != 0;
    for (size_t i = 0; i < sizeof allowed_dirs / sizeof allowed_dirs[0]; i++)
        if (strncmp(rel, allowed_dirs[i], strlen(allowed_dirs[i])) == 0)
            return 1;
    return 0;
}

int static_resolve(const char *raw_path, char *rel, size_t cap)
{
    size_t n = strlen(raw_path);
    if (n == 0 || raw_path[0] != '/')
        return 400;
    if (route_pct_decode(raw_path + 1, n - 1, rel, cap, 0) < 0)
        return 400;
    if (rel[0] == '\0' || rel[strlen(rel) - 1] == '/') {
        size_t l = strlen(rel);
        if (l + sizeof "index.html" > cap)
            return 400;
        memcpy(rel + l, "index.html", sizeof "index.html");
    }
    if (strchr(rel, '\\'))
        return 400;
    const char *p = rel;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 0 || p[0] == '.')
            return 400; /* empty segment, ".", "..", hidden files */
        if (!e)
            break;
        p = e + 1;
    }
    return static_allowed(rel) ? 0 : 404;
}

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".map", "application/json"},
    {".woff2", "font/woff2"},
};

const char *static_content_type(const char *rel)
{
    const char *dot = strrchr(rel, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

const char *static_cache_control(const char *rel)
{
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    return strcmp(base, "index.html") == 0 ? "no-cache" : "public, max-age=3600";
}

/* Opens root/rel walking one component at a time with O_NOFOLLOW. */
static int open_below(const char *root, const char *rel)
{
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return -1;
    char part[STATIC_PATH_MAX];
    const char *p = rel;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l >= sizeof part) {
            close(dir);
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(part, p, l);
        part[l] = '\0';
        int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (e ? O_DIRECTORY : O_NONBLOCK);
        int fd = openat(dir, part, flags);
        close(dir);
        if (fd < 0 || !e)
            return fd;
        dir = fd;
        p = e + 1;
    }
}

int static_read(const char *root, const char *rel, size_t max_bytes, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (!root)
        return 404;
    int fd = open_below(root, rel);
    if (fd < 0)
        return errno == ENOENT || errno == ELOOP || errno == ENOTDIR ? 404 : 500;
    struct stat st;
    int rc = 500;
    if (fstat(fd, &st) != 0)
        goto out_close;
    rc = 404;
    if (!S_ISREG(st.st_mode))
        goto out_close;
    rc = 413;
    if ((size_t)st.st_size > max_bytes)
        goto out_close;
    rc = 500;
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        goto out_close;
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    *data = buf;
    *len = got;
    rc = 0;
out_close:
    close(fd);
    return rc;
}
