/*
 * send_lambda_test.c - `htga send` and `htga lambda` (cli/send.c,
 * cli/lambda.c), running the built program ($HTGA_BIN) against the fake
 * daemon of tests/client: what arrives on the wire, chunking into steps,
 * the barriers that bracket a replay, the lambda printed, and the exit
 * statuses when the daemon is away, never answers, or lost something.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_daemon.h"

extern char **environ;

typedef struct child {
    pid_t pid;
    int out_fd;
} child;

/* Starts $HTGA_BIN with args (NULL-terminated), stdout to a pipe. */
static child spawn(const char *const *args)
{
    const char *bin = getenv("HTGA_BIN");
    char *argv[32];
    int fds[2];
    posix_spawn_file_actions_t fa;
    child c;
    size_t n = 0;
    cr_assert_not_null(bin, "HTGA_BIN is not set");
    argv[n++] = (char *)bin;
    for (; args[n - 1]; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    cr_assert_eq(pipe(fds), 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    cr_assert_eq(posix_spawn(&c.pid, bin, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    c.out_fd = fds[0];
    return c;
}

/* Waits for the child; returns its exit status, stdout in out. */
static int finish(child c, char *out, size_t size)
{
    size_t len = 0;
    ssize_t r;
    int status;
    while (len + 1 < size && (r = read(c.out_fd, out + len, size - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = 0;
    close(c.out_fd);
    cr_assert_eq(waitpid(c.pid, &status, 0), c.pid);
    cr_assert(WIFEXITED(status), "htga died");
    return WEXITSTATUS(status);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* What a fake htgad saw of one replay. */
typedef struct served {
    fake_msg samples[8];
    int n;               /* SAMPLES kept (the first 8) */
    long msgs;           /* SAMPLES received */
    uint32_t last_flags; /* of the last BARRIER */
} served;

/* Answers `barriers` BARRIERs as htgad would, except that the ACK reports
 * `missing` fewer messages than received and `lost` lost blocks once
 * SAMPLES came; keeps the SAMPLES. Returns 0, or -1 on timeout. */
static int serve(fake_daemon *f, served *sv, int barriers, uint64_t missing, uint64_t lost,
                 int timeout_ms)
{
    long end = fake_now_ms() + timeout_ms;
    memset(sv, 0, sizeof *sv);
    while (barriers > 0) {
        fake_msg m;
        long left = end - fake_now_ms();
        if (left <= 0 || fake_recv(f, &m, (int)left) != 0)
            return -1;
        if (m.rc == WIRE_OK && m.m.kind == WIRE_SAMPLES) {
            sv->msgs++;
            if (sv->n < 8) {
                fake_msg *k = &sv->samples[sv->n++];
                *k = m; /* the names point into the header: follow the copy */
                k->m.run = (const char *)k->hdr + (m.m.run - (const char *)m.hdr);
                k->m.group = (const char *)k->hdr + (m.m.group - (const char *)m.hdr);
                continue;
            }
        } else if (m.rc == WIRE_OK && m.m.kind == WIRE_BARRIER) {
            uint64_t got = (uint64_t)sv->msgs;
            wire_ack a = {.msgs = got > missing ? got - missing : 0,
                          .blocks_stored = got,
                          .blocks_lost = got ? lost : 0};
            sv->last_flags = m.m.cluster;
            fake_answer_barrier(f, &m, &a);
            barriers--;
        }
        fake_msg_free(&m);
    }
    return 0;
}

static void served_free(served *sv)
{
    for (int i = 0; i < sv->n; i++)
        fake_msg_free(&sv->samples[i]);
}

Test(cli_send, chunks_become_steps, .timeout = 120)
{
    fake_daemon f;
    served sv;
    char path[] = "/tmp/htga-send-XXXXXX.txt", out[512];
    int fd = mkstemps(path, 4);
    close(fd);
    write_file(path, "1 2 3 4\n5 6 7 8\n9 10\n");
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    const char *args[] = {"send",    "--endpoint", f.endpoint, "--run", "r1",
                          "--group", "layer.w",    "--step",   "-1",    "--rank",
                          "3",       "--chunk",    "4",        path,    NULL};
    child c = spawn(args);
    cr_assert_eq(serve(&f, &sv, 2, 0, 0, (int)slack(10000)), 0, "two barriers answered");
    int rc = finish(c, out, sizeof out);
    cr_assert_eq(rc, 0, "exit %d, stdout: %s", rc, out);
    cr_assert(strstr(out, "sent 3 of 3 messages (10 values of 10)") != NULL, "stdout: %s", out);
    cr_assert(strstr(out, "all received and stored") != NULL, "stdout: %s", out);
    cr_assert_eq(sv.last_flags, WIRE_BARRIER_CLOSE, "the last barrier closes the blocks");
    cr_assert_eq(sv.n, 3);
    static const int counts[3] = {4, 4, 2};
    for (int i = 0; i < 3; i++) {
        fake_msg *m = &sv.samples[i];
        cr_assert_eq(m->m.step, i - 1);
        cr_assert_eq(m->m.rank, 3);
        cr_assert_eq(m->m.seq, (uint64_t)i);
        cr_assert_eq(m->m.count, (uint32_t)counts[i]);
        cr_assert(memcmp(m->m.run, "r1", 2) == 0 && m->m.run_len == 2);
        cr_assert(memcmp(m->m.group, "layer.w", 7) == 0);
        for (int k = 0; k < counts[i]; k++) {
            float v;
            memcpy(&v, m->body + 4 * k, 4);
            cr_assert_eq(v, (float)(4 * i + k + 1));
        }
    }
    served_free(&sv);
    fake_stop(&f);
    unlink(path);
}

Test(cli_send, max_samples_subsamples_one_message, .timeout = 120)
{
    fake_daemon f;
    served sv;
    char path[] = "/tmp/htga-send-XXXXXX.f32", out[512];
    int fd = mkstemps(path, 4);
    float x[1000];
    for (int i = 0; i < 1000; i++)
        x[i] = (float)i;
    cr_assert_eq(write(fd, x, sizeof x), (ssize_t)sizeof x);
    close(fd);
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    const char *args[] = {"send",   "--endpoint", f.endpoint,      "--run", "r",  "--group", "g",
                          "--step", "10",         "--max-samples", "100",   path, NULL};
    child c = spawn(args);
    cr_assert_eq(serve(&f, &sv, 2, 0, 0, (int)slack(10000)), 0);
    cr_assert_eq(finish(c, out, sizeof out), 0, "stdout: %s", out);
    cr_assert_eq(sv.n, 1);
    cr_assert_eq(sv.samples[0].m.count, 100);
    cr_assert_eq(sv.samples[0].m.step, 10);
    served_free(&sv);
    fake_stop(&f);
    unlink(path);
}

/* Lost on the way, or blocks not stored: exit 3, and the message says how
 * many and why. */
Test(cli_send, losses_in_the_answer_exit_3, .timeout = 120)
{
    fake_daemon f;
    served sv;
    char path[] = "/tmp/htga-send-XXXXXX.txt", out[512];
    int fd = mkstemps(path, 4);
    close(fd);
    write_file(path, "1 2 3 4 5 6\n");
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    const char *args[] = {"send",   "--endpoint", f.endpoint, "--run", "r",  "--group", "g",
                          "--step", "0",          "--chunk",  "2",     path, NULL};
    child c = spawn(args);
    cr_assert_eq(serve(&f, &sv, 2, 1, 0, (int)slack(10000)), 0);
    cr_assert_eq(finish(c, out, sizeof out), 3, "one message missing: stdout %s", out);
    cr_assert(strstr(out, "not all delivered") != NULL, "stdout: %s", out);
    served_free(&sv);
    c = spawn(args);
    cr_assert_eq(serve(&f, &sv, 2, 0, 2, (int)slack(10000)), 0);
    cr_assert_eq(finish(c, out, sizeof out), 3, "two blocks lost: stdout %s", out);
    served_free(&sv);
    fake_stop(&f);
    unlink(path);
}

/* A daemon that never answers a barrier (an htgad before 0.4 counts it as
 * bad_kind): exit 3 within --wait-ms, nothing sent. */
Test(cli_send, unanswered_barrier_exits_3, .timeout = 20)
{
    fake_daemon f;
    char path[] = "/tmp/htga-send-XXXXXX.txt", out[512];
    int fd = mkstemps(path, 4);
    close(fd);
    write_file(path, "1 2 3\n");
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    const char *args[] = {"send",   "--endpoint", f.endpoint,  "--run", "r",  "--group", "g",
                          "--step", "0",          "--wait-ms", "300",   path, NULL};
    long t0 = fake_now_ms();
    int rc = finish(spawn(args), out, sizeof out);
    cr_assert_eq(rc, 3, "exit %d, stdout: %s", rc, out);
    cr_assert_lt(fake_now_ms() - t0, slack(2000));
    cr_assert(strstr(out, "sent 0 of 1 messages") != NULL, "stdout: %s", out);
    fake_stop(&f);
    unlink(path);
}

Test(cli_send, daemon_down_exits_3_in_bounded_time, .timeout = 20)
{
    char ep[256], path[] = "/tmp/htga-send-XXXXXX.txt", out[512];
    int fd = mkstemps(path, 4);
    close(fd);
    write_file(path, "1 2 3\n");
    fake_free_endpoint(ep, sizeof ep);
    const char *args[] = {"send",   "--endpoint", ep,          "--run", "r",  "--group", "g",
                          "--step", "0",          "--wait-ms", "300",   path, NULL};
    long t0 = fake_now_ms();
    int rc = finish(spawn(args), out, sizeof out);
    long dt = fake_now_ms() - t0;
    cr_assert_eq(rc, 3, "exit %d, stdout: %s", rc, out);
    cr_assert_lt(dt, slack(2000), "took %ld ms", dt);
    cr_assert(strstr(out, "sent 0 of 1 messages (0 values of 3)") != NULL, "stdout: %s", out);
    cr_assert(strstr(out, "none delivered") != NULL, "stdout: %s", out);
    unlink(path);
}

Test(cli_send, bad_input_exits_2)
{
    char out[512];
    const char *no_step[] = {"send",    "--endpoint", "tcp://127.0.0.1:1", "--run", "r",
                             "--group", "g",          "/dev/null",         NULL};
    cr_assert_eq(finish(spawn(no_step), out, sizeof out), 2);
    const char *missing[] = {
        "send",   "--endpoint", "tcp://127.0.0.1:1",     "--run", "r", "--group", "g",
        "--step", "1",          "/nonexistent/file.txt", NULL};
    cr_assert_eq(finish(spawn(missing), out, sizeof out), 2);
    const char *bad_step[] = {
        "send",   "--endpoint", "tcp://127.0.0.1:1", "--run", "r", "--group", "g",
        "--step", "1x",         "/dev/null",         NULL};
    cr_assert_eq(finish(spawn(bad_step), out, sizeof out), 2);
    const char *help[] = {"send", "--help", NULL};
    cr_assert_eq(finish(spawn(help), out, sizeof out), 0);
    cr_assert(strstr(out, "--chunk") != NULL);
}

Test(cli_lambda, prints_pushed_lambda, .timeout = 120)
{
    fake_daemon f;
    fake_msg m;
    char out[512];
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    char wait[32];
    snprintf(wait, sizeof wait, "%ld", slack(5000));
    const char *args[] = {"lambda",  "--endpoint", f.endpoint,  "--run", "run-x",
                          "--group", "g2",         "--wait-ms", wait,    NULL};
    child c = spawn(args);
    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_HELLO, (int)slack(5000)), 0, "the command says HELLO");
    cr_assert(m.m.run_len == 5 && memcmp(m.m.run, "run-x", 5) == 0);
    fake_send_lambda(&f, m.id, m.id_len, "run-x", "g1", 9.0); /* another group */
    fake_send_lambda(&f, m.id, m.id_len, "run-x", "g2", 0.1);
    fake_msg_free(&m);
    cr_assert_eq(finish(c, out, sizeof out), 0);
    cr_assert_str_eq(out, "0.1\n");
    fake_stop(&f);
}

Test(cli_lambda, none_arrived_exits_3, .timeout = 20)
{
    fake_daemon f;
    char out[512], ep[256];
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    const char *args[] = {"lambda",  "--endpoint", f.endpoint,  "--run", "r",
                          "--group", "g",          "--wait-ms", "200",   NULL};
    long t0 = fake_now_ms();
    cr_assert_eq(finish(spawn(args), out, sizeof out), 3, "daemon up, no lambda");
    cr_assert_lt(fake_now_ms() - t0, slack(1500));
    cr_assert_str_eq(out, "");
    fake_stop(&f);
    fake_free_endpoint(ep, sizeof ep);
    args[2] = ep;
    cr_assert_eq(finish(spawn(args), out, sizeof out), 3, "daemon down");
    const char *bad[] = {"lambda", "--endpoint", ep, "--run", "r", NULL};
    cr_assert_eq(finish(spawn(bad), out, sizeof out), 2);
}
