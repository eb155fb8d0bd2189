/*
 * cli.h - what the subcommands of the htga program share.
 *
 * DESIGN: `htga` is a dispatcher (main.c) over a table of subcommands. Each
 * subcommand is one function `int cli_NAME(int argc, char **argv)` in its own
 * file, called with argv[0] == "NAME" and the arguments that follow it, and
 * returning the process exit status. To add a subcommand: declare it here,
 * add one row to the table in main.c and its file to cli/meson.build.
 *
 * Exit statuses are shared by every subcommand: 0 success, 1 an internal or
 * output failure, 2 bad input (bad option, missing or malformed file).
 * Subcommands may define more from 3 up (`htga lambda` uses 3).
 */
#ifndef HTGA_CLI_H
#define HTGA_CLI_H

#include <stddef.h>
#include <stdio.h>

#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

/* `htga estimate`: tail estimates of sample files, see estimate.c. */
int cli_estimate(int argc, char **argv);

/* `htga send`: stream a sample file to htgad through libhtga, see send.c. */
int cli_send(int argc, char **argv);

/* `htga lambda`: print the lambda htgad pushes for a group, see lambda.c. */
int cli_lambda(int argc, char **argv);

/* `htga keygen`: a CURVE key pair for htgad or a client, see keygen.c. */
int cli_keygen(int argc, char **argv);

/*
 * Prints "htga CMD: MESSAGE\n" on stderr as one line (cmd NULL prints
 * "htga: MESSAGE"). Newlines in the formatted message are replaced by spaces
 * so that an error is always exactly one line.
 */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Parses a non-negative decimal integer option value: digits only, no sign,
 * no spaces, no trailing text, no overflow. Returns 0 and sets *out, or -1.
 */
int cli_parse_size(const char *text, size_t *out);

/*
 * The cases every subcommand's getopt_long loop (optstring ":h") shares, for
 * the option code c it did not handle itself: 'h' prints usage on stdout and
 * returns 1 (exit 0); a missing value or an unknown option is reported as one
 * line naming `htga CMD --help` and returns -1 (exit 2).
 */
int cli_opt_other(const char *cmd, int c, char **argv, void (*usage)(FILE *));

#endif /* HTGA_CLI_H */
