/*
 * fuzz_replay.c - a main() for a libFuzzer target built without libFuzzer:
 * feeds every file of the directories (or files) named on the command line
 * to LLVMFuzzerTestOneInput once. Lets the seed corpus run as an ordinary
 * test under gcc, ASan and valgrind. Exit 0 when every input was fed, 1 on an
 * unreadable input or when no input was found.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int feed_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long len;
    int rc = 1;

    if (!f)
        return 1;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    buf = malloc(len ? (size_t)len : 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len)
        goto out;
    LLVMFuzzerTestOneInput(buf, (size_t)len);
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    size_t fed = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        DIR *d;
        struct dirent *de;
        if (stat(argv[i], &st) != 0)
            return fprintf(stderr, "cannot stat %s\n", argv[i]), 1;
        if (!S_ISDIR(st.st_mode)) {
            if (feed_file(argv[i]) != 0)
                return fprintf(stderr, "cannot read %s\n", argv[i]), 1;
            fed++;
            continue;
        }
        if (!(d = opendir(argv[i])))
            return 1;
        while ((de = readdir(d))) {
            char path[4096];
            if (de->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", argv[i], de->d_name);
            if (feed_file(path) != 0) {
                closedir(d);
                return fprintf(stderr, "cannot read %s\n", path), 1;
            }
            fed++;
        }
        closedir(d);
    }
    printf("fed %zu inputs\n", fed);
    return fed ? 0 : 1;
}
