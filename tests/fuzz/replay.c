/*
 * replay.c - a main() for libFuzzer targets without libFuzzer: the one
 * driver every tests/fuzz/fuzz_*.c target is linked with for `meson test`.
 *
 * Feeds every file named on the command line (directories: every regular
 * file in them) to LLVMFuzzerTestOneInput, each in a malloc'd buffer of its
 * exact size so that the sanitizers catch reads past the end. Exits 0 when
 * every input ran (a crash or abort in the target fails the test), 1 when an
 * input could not be read or when no input was found (an empty corpus is a
 * mistake, not a skip).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long len;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0) {
        perror(path);
        if (f)
            fclose(f);
        return -1;
    }
    rewind(f);
    buf = malloc(len ? (size_t)len : 1);
    if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "%s: read failed\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)len);
    free(buf);
    return 0;
}

static int replay_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    struct stat st;
    int rc = 0;

    if (d == NULL) {
        perror(dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (replay_file(path) != 0)
            rc = -1;
        (*count)++;
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    struct stat st;
    int rc = 0;

    for (int i = 1; i < argc; i++) {
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            if (replay_dir(argv[i], &count) != 0)
                rc = 1;
        } else if (replay_file(argv[i]) != 0) {
            rc = 1;
        } else {
            count++;
        }
    }
    /* the empty input is always worth a run */
    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
    printf("replayed %zu inputs\n", count);
    if (count == 0)
        fprintf(stderr, "no corpus input found: nothing was replayed\n");
    return rc != 0 || count == 0 ? 1 : 0;
}
