/*
 * main.c - the htga program: a dispatcher over subcommands.
 *
 * DESIGN: one static table maps a subcommand name to its function and a
 * one-line summary; `htga --help` prints the table, `htga NAME ...` calls the
 * function with argv starting at NAME. Subcommands parse their own options
 * (getopt_long) and return the exit status, so main() holds no per-command
 * knowledge. Conventions shared by subcommands are in cli.h.
 */
#include "cli.h"
#include "htga_config.h"

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_command;

static const cli_command commands[] = {
    {"estimate", cli_estimate, "tail index, median and moments of sample files"},
    {"send", cli_send, "send a sample file to htgad as gradient samples"},
    {"lambda", cli_lambda, "print the lambda htgad pushes for a group"},
    {"keygen", cli_keygen, "make a CURVE key pair for htgad or a client"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: htga COMMAND [OPTION]... [ARG]...\n"
                 "       htga --help | --version\n\n"
                 "Offline and online estimation of the tail index of gradient noise.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'htga COMMAND --help' for the options of a command.\n"
                 "Exit status: 0 success, 1 internal or output failure, 2 bad input,\n"
                 "3 the daemon did not take part (send: messages dropped; lambda: none\n"
                 "arrived in time).\n");
}

void cli_error(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (cmd)
        fprintf(stderr, "htga %s: %s\n", cmd, msg);
    else
        fprintf(stderr, "htga: %s\n", msg);
}

int cli_opt_other(const char *cmd, int c, char **argv, void (*usage)(FILE *))
{
    if (c == 'h') {
        usage(stdout);
        return 1;
    }
    if (c == ':')
        cli_error(cmd, "option '%s' needs a value", argv[optind - 1]);
    else
        cli_error(cmd, "unknown option '%s' (try 'htga %s --help')", argv[optind - 1], cmd);
    return -1;
}

int cli_parse_size(const char *text, size_t *out)
{
    unsigned long long v;
    char *end;

    if (text == NULL || *text < '0' || *text > '9')
        return -1;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || (unsigned long long)(size_t)v != v)
        return -1;
    *out = (size_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("htga %s\n", HTGA_VERSION_STRING);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    cli_error(NULL, "unknown command '%s' (try 'htga --help')", argv[1]);
    return CLI_EXIT_USAGE;
}
