/*
 * fuzz_replay.c - runs every file of a corpus directory through the fuzz
 * target once, so the seeds (and any crash reproducer added to them) are
 * checked in every build, with or without libFuzzer.
 * Usage: http_fuzz_replay DIR
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    DIR *d = opendir(argv[1]);
    if (!d)
        return 2;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        uint8_t buf[65536];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, len);
        n++;
    }
    closedir(d);
    printf("%d inputs replayed\n", n);
    return n > 0 ? 0 : 1;
}
