/*
 * keygen.c - `htga keygen`: CURVE key pairs for htgad and its clients.
 *
 * DESIGN: a key pair from libzmq (zmq_curve_keypair, libsodium's random
 * source) printed as a small text file, "public KEY" and "secret KEY"
 * lines of Z85 text with '#' comments: the format htgad's --curve-key-file,
 * libhtga's HTGA_OPT_CURVE_KEY_FILE and HTGA_CURVE_KEY_FILE read. With -o
 * the file is created with mode 0600 and never overwritten; --public prints
 * the public line of an existing file (for htgad's --curve-clients list).
 * See docs/security.md.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: htga keygen [-o FILE]\n"
                 "       htga keygen --public FILE\n\n"
                 "Makes a CURVE key pair for htgad (--curve-key-file) or a client\n"
                 "(HTGA_CURVE_KEY_FILE, HTGA_OPT_CURVE_KEY_FILE), as two lines\n"
                 "\"public KEY\" and \"secret KEY\". See docs/security.md.\n\n"
                 "  -o, --output FILE   write the pair to FILE (created with mode 0600; an\n"
                 "                      existing FILE is an error) and print its public line\n"
                 "      --public FILE   print the public line of the key file FILE, for\n"
                 "                      htgad's --curve-clients list\n"
                 "  -h, --help          this text\n");
}

static int print_public(const char *path)
{
    char line[256], word[16], key[64];
    FILE *f = fopen(path, "r");
    int lines = 0;

    if (f == NULL) {
        cli_error("keygen", "%s: %s", path, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    while (lines++ < 64 && fgets(line, sizeof line, f) != NULL) { /* a key file is short */
        if (sscanf(line, "%15s %63s", word, key) == 2 && strcmp(word, "public") == 0 &&
            strlen(key) == 40) {
            fclose(f);
            printf("public %s\n", key);
            return CLI_EXIT_OK;
        }
    }
    fclose(f);
    cli_error("keygen", "%s: no \"public KEY\" line", path);
    return CLI_EXIT_USAGE;
}

int cli_keygen(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"public", required_argument, NULL, 'p'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *out = NULL, *pub = NULL;
    char public_[41], secret[41], text[256];
    int c, n, fd;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        if (c == 'o')
            out = optarg;
        else if (c == 'p')
            pub = optarg;
        else
            return cli_opt_other("keygen", c, argv, usage) > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    if (optind < argc || (out && pub)) {
        cli_error("keygen", "%s (try 'htga keygen --help')",
                  optind < argc ? "unexpected argument" : "-o and --public do not go together");
        return CLI_EXIT_USAGE;
    }
    if (pub)
        return print_public(pub);
    if (!zmq_has("curve") || zmq_curve_keypair(public_, secret) != 0) {
        cli_error("keygen", "this libzmq has no CURVE support");
        return CLI_EXIT_FAIL;
    }
    n = snprintf(text, sizeof text,
                 "# htga CURVE key pair (htga keygen): keep the secret line private\n"
                 "public %s\nsecret %s\n",
                 public_, secret);
    if (out == NULL) {
        fputs(text, stdout);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    }
    fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        cli_error("keygen", "%s: %s", out, strerror(errno));
        return errno == EEXIST ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
    if (write(fd, text, (size_t)n) != n || close(fd) != 0) {
        cli_error("keygen", "%s: %s", out, strerror(errno));
        unlink(out);
        return CLI_EXIT_FAIL;
    }
    printf("public %s\n", public_);
    return CLI_EXIT_OK;
}
