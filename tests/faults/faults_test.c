/*
 * faults_test.c - htgad under faults, each promise of docs/reliability.md
 * against the real htgad fed by the real libhtga: a database it cannot
 * write (another uid; a read-only mount, as root), start-ups that fail (a
 * port in use, a file that is not a database), a write lock held by another
 * process, a small file system that fills up and then frees, a row SQLite
 * refuses, a stop while the disk is full. Each checks the rows stored
 * against the blocks sent, /api/v1/health, the exit status and the
 * counters.
 *
 * The scenarios that need root (another uid, mounts) make a private mount
 * namespace for the test's process and its htgad, so nothing is left
 * mounted if the test dies; where the system refuses, they skip and say why.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "harness.h"
#include "htga.h"
#include "httpc.h"

#define BLOCK      1024 /* --block-samples: one send is one block */
#define NOBODY_UID 65534

static testd d;
static uint16_t hport;
static char http_addr[64];
static char fs_dir[96]; /* a tmpfs mounted by the test, "" when none */

static uint16_t listening_port(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(*fd >= 0 && bind(*fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(*fd, 4) == 0 &&
              getsockname(*fd, (struct sockaddr *)&a, &len) == 0);
    return ntohs(a.sin_port);
}

static void setup(void)
{
    int fd;

    testd_init(&d);
    hport = listening_port(&fd);
    close(fd);
    snprintf(http_addr, sizeof http_addr, "127.0.0.1:%u", hport);
    fs_dir[0] = '\0';
}

static void teardown(void)
{
    if (d.pid > 0)
        testd_stop(&d, SIGKILL);
    if (fs_dir[0])
        umount2(fs_dir, MNT_DETACH);
    testd_cleanup(&d);
}

TestSuite(faults, .init = setup, .fini = teardown, .timeout = 90);

/* ---- helpers ---------------------------------------------------------- */

/* Runs htgad with args (NULL-terminated) as uid (-1: as we are), output to
 * log, until it exits (at most 20 s). Returns its exit status, 127 when it
 * could not be started, -1 when it had to be killed. */
static int run_htgad(int uid, const char *log, ...)
{
    char *argv[32];
    int argc = 0, status;
    va_list ap;

    argv[argc++] = HTGAD_PATH;
    va_start(ap, log);
    while (argc < 31 && (argv[argc] = va_arg(ap, char *)) != NULL)
        argc++;
    va_end(ap);
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        if (uid >= 0 &&
            (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 || setuid((uid_t)uid) != 0))
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    int64_t deadline = now_ms() + 20000;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        sleep_ms(10);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *slurp(const char *path)
{
    static char buf[65536];
    FILE *f = fopen(path, "r");
    size_t n = 0;

    buf[0] = '\0';
    if (f != NULL) {
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    return buf;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A database with htgad's schema at d.db: htgad made it and stopped. */
static void make_database(void)
{
    cr_assert_eq(testd_start(&d, NULL), 0);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
    cr_assert(exists(d.db));
}

/* A private mount namespace, so mounts die with the test. 0, or -1 with
 * why filled. */
static int private_mounts(char *why, size_t len)
{
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        snprintf(why, len, "no private mount namespace (%s): needs root with CAP_SYS_ADMIN",
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* Mounts a tmpfs of kb KiB at d.dir/fs and points d.db into it; skips the
 * test, saying why, where the system refuses. */
static void small_filesystem(int kb)
{
    char why[256], opts[64];

    if (private_mounts(why, sizeof why) < 0)
        cr_skip_test("cannot mount a small file system: %s", why);
    snprintf(fs_dir, sizeof fs_dir, "%s/fs", d.dir);
    cr_assert_eq(mkdir(fs_dir, 0755), 0);
    snprintf(opts, sizeof opts, "size=%dk,mode=0755", kb);
    if (mount("tmpfs", fs_dir, "tmpfs", 0, opts) != 0) {
        int e = errno;
        fs_dir[0] = '\0';
        cr_skip_test("cannot mount a tmpfs: %s", strerror(e));
    }
    snprintf(d.db, sizeof d.db, "%s/htga.db", fs_dir);
}

/* Fills the file system at dir with `path` until it refuses; returns the
 * bytes written. */
static size_t fill(const char *path)
{
    static char chunk[65536];
    size_t total = 0, step = sizeof chunk;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    cr_assert(fd >= 0);
    while (step >= 1) {
        ssize_t n = write(fd, chunk, step);
        if (n > 0) {
            total += (size_t)n;
            continue;
        }
        cr_assert(n < 0 && errno == ENOSPC, "filling: %s", strerror(errno));
        step /= 2;
    }
    fsync(fd);
    close(fd);
    return total;
}

/* Sends `blocks` blocks of BLOCK Student-t values, steps from first. */
static void send_blocks(htga *h, int64_t first, int blocks)
{
    static float x[BLOCK];
    uint64_t seed = 11 + (uint64_t)first;

    for (int b = 0; b < blocks; b++) {
        int64_t deadline = now_ms() + 5000;
        student_t(x, BLOCK, 3.0, &seed);
        while (htga_send(h, "g", first + b, x, BLOCK) == HTGA_EDROPPED && now_ms() < deadline)
            sleep_ms(5);
    }
    cr_assert_eq(htga_flush(h, 10000), HTGA_OK);
}

static int64_t rows_stored(void)
{
    return testd_query(&d, "SELECT count(*) FROM blocks");
}

/* GET path: the status, and the body parsed into *j (caller frees). */
static int get_health(const char *path, json_t **j)
{
    struct hresp r;
    int status;

    httpc(hport, "GET", path, NULL, NULL, 0, &r);
    status = r.status;
    *j = r.body ? json_loads(r.body, 0, NULL) : NULL;
    hresp_free(&r);
    return status;
}

/* Whether a reason of j contains text. */
static int has_reason(const json_t *j, const char *text)
{
    const json_t *rs = json_object_get(j, "reasons");
    for (size_t i = 0; i < json_array_size(rs); i++) {
        const char *s = json_string_value(json_array_get(rs, i));
        if (s != NULL && strstr(s, text) != NULL)
            return 1;
    }
    return 0;
}

/* Polls path until it answers want (and, when text, a reason with it). */
static int wait_health(const char *path, int want, const char *text, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    do {
        json_t *j = NULL;
        int st = get_health(path, &j);
        int ok = st == want && (text == NULL || has_reason(j, text));
        json_decref(j);
        if (ok)
            return 0;
        sleep_ms(50);
    } while (now_ms() < deadline);
    return -1;
}

/* ---- a database htgad cannot write ------------------------------------ */

/* The case: a mode-0444 database and a user who cannot write it.
 * htgad used to start, answer /health ok and lose every row. */
Test(faults, readonly_file_refused_at_start)
{
    char log[160], *out;
    struct stat before, after;
    int uid = geteuid() == 0 ? NOBODY_UID : -1, rc;

    make_database();
    cr_assert_eq(chmod(d.dir, 0755), 0);
    cr_assert_eq(chmod(d.db, 0444), 0);
    cr_assert_eq(stat(d.db, &before), 0);
    snprintf(log, sizeof log, "%s/ro.log", d.dir);
    rc = run_htgad(uid, log, "--db", d.db, "--listen", "tcp://127.0.0.1:*", "--http", http_addr,
                   NULL);
    if (rc == 127)
        cr_skip_test("cannot run htgad as uid %d (%s unreachable to it?)", uid, HTGAD_PATH);
    out = slurp(log);
    cr_assert_eq(rc, 1, "exit status %d; log:\n%s", rc, out);
    cr_assert(strstr(out, d.db) != NULL, "the message names the path:\n%s", out);
    cr_assert(strstr(out, "Permission denied") != NULL, "and the reason:\n%s", out);
    cr_assert(strstr(out, "listening on") == NULL, "%s", out);
    cr_assert_eq(stat(d.db, &after), 0);
    cr_assert_eq(after.st_size, before.st_size);
    cr_assert_eq(after.st_mtime, before.st_mtime);
}

/* As root a mode-0444 file is writable: the same promise on a read-only
 * mount of the database's directory. */
Test(faults, readonly_mount_refused_at_start)
{
    char why[256], dir[96], log[160], *out;
    int rc;

    if (private_mounts(why, sizeof why) < 0)
        cr_skip_test("cannot make a read-only mount: %s", why);
    snprintf(dir, sizeof dir, "%s/ro", d.dir);
    cr_assert_eq(mkdir(dir, 0755), 0);
    snprintf(d.db, sizeof d.db, "%s/htga.db", dir);
    make_database();
    if (mount(dir, dir, NULL, MS_BIND, NULL) != 0 ||
        mount(NULL, dir, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) != 0)
        cr_skip_test("cannot remount %s read-only: %s", dir, strerror(errno));
    snprintf(fs_dir, sizeof fs_dir, "%s", dir); /* unmounted by teardown */
    snprintf(log, sizeof log, "%s/ro.log", d.dir);
    rc = run_htgad(-1, log, "--db", d.db, "--listen", "tcp://127.0.0.1:*", "--http", "off", NULL);
    out = slurp(log);
    cr_assert_eq(rc, 1, "exit status %d; log:\n%s", rc, out);
    cr_assert(strstr(out, d.db) != NULL, "%s", out);
    cr_assert(strstr(out, "Read-only file system") != NULL, "%s", out);
}

/* ---- start-ups that fail ---------------------------------------------- */

/* A port in use: the message names the address and the reason, no
 * "listening on" line comes first, and the database htgad created for the
 * start is gone. A file that is not a database is named and left alone. */
Test(faults, failed_start_names_the_cause_and_leaves_no_database)
{
    char log[160], endpoint[64], bad[160], *out;
    int fd, rc;
    uint16_t busy = listening_port(&fd);

    snprintf(log, sizeof log, "%s/start.log", d.dir);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", busy);
    rc = run_htgad(-1, log, "--db", d.db, "--listen", "tcp://127.0.0.1:*", "--http", addr, NULL);
    out = slurp(log);
    cr_assert_eq(rc, 1, "exit status %d; log:\n%s", rc, out);
    cr_assert(strstr(out, addr) != NULL && strstr(out, "Address already in use") != NULL, "%s",
              out);
    cr_assert(strstr(out, "listening on") == NULL, "%s", out);
    cr_assert(strstr(out, "port 0") == NULL, "%s", out);
    cr_assert(!exists(d.db), "a failed start left %s", d.db);

    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%u", busy);
    rc = run_htgad(-1, log, "--db", d.db, "--listen", endpoint, "--http", "off", NULL);
    out = slurp(log);
    cr_assert_eq(rc, 1, "exit status %d; log:\n%s", rc, out);
    cr_assert(strstr(out, endpoint) != NULL && strstr(out, "Address already in use") != NULL, "%s",
              out);
    cr_assert(!exists(d.db), "a failed start left %s", d.db);
    close(fd);

    snprintf(bad, sizeof bad, "%s/bad.db", d.dir);
    FILE *f = fopen(bad, "w");
    fputs("not a database, but someone's file\n", f);
    fclose(f);
    rc = run_htgad(-1, log, "--db", bad, "--listen", "tcp://127.0.0.1:*", "--http", "off", NULL);
    out = slurp(log);
    cr_assert_eq(rc, 1, "exit status %d; log:\n%s", rc, out);
    cr_assert(strstr(out, bad) != NULL && strstr(out, "not a database") != NULL, "%s", out);
    cr_assert_str_eq(slurp(bad), "not a database, but someone's file\n");
}

/* ---- a lock held outside htgad ---------------------------------------- */

/* The case: BEGIN IMMEDIATE held by another process. htgad used
 * to drop rows after 5 s busy waits. Now it waits, its estimator waits for
 * room in the small writer queue, /health says why, and every row is
 * stored once the lock goes; liveness stays 200 (a restart would not help). */
Test(faults, external_lock_waited_out_nothing_lost)
{
    enum { SENT = 40, HOLD_MS = 7000 };
    sqlite3 *other;
    htga *h = NULL;
    json_t *j;

    cr_assert_eq(testd_start(&d, "--block-samples", "1024", "--queue-rows", "8", "--http",
                             http_addr, "--health-window-s", "2", NULL),
                 0);
    cr_assert_eq(wait_health("/api/v1/health", 200, NULL, 5000), 0);
    cr_assert_eq(sqlite3_open(d.db, &other), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    int64_t locked_at = now_ms();
    cr_assert_eq(htga_create(&h, d.endpoint, "locked"), HTGA_OK);
    send_blocks(h, 0, SENT);
    cr_assert_eq(wait_health("/api/v1/health", 503, "lock held outside htgad", 5000), 0);
    cr_assert_eq(wait_health("/api/v1/health/ready", 503, "lock held outside htgad", 1000), 0);
    cr_assert_eq(get_health("/api/v1/health/live", &j), 200);
    json_decref(j);
    cr_assert_eq(testd_wait_stat(&d, "health_ready", 0, 2000), 0);
    cr_assert_eq(rows_stored(), 0);
    while (now_ms() - locked_at < HOLD_MS) /* the scenario: the lock is held this long */
        sleep_ms(50);
    cr_assert_gt(testd_stat(&d, "writer_queue_full"), 0, "the estimator never waited");
    cr_assert_eq(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);

    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM blocks", SENT, 15000), 0,
                 "stored %lld of %d", (long long)rows_stored(), SENT);
    cr_assert_eq(wait_health("/api/v1/health", 200, NULL, 5000), 0);
    cr_assert_eq(testd_wait_stat(&d, "rows_written", SENT, 2000), 0);
    cr_assert_eq(testd_stat(&d, "rows_lost"), 0);
    cr_assert_eq(testd_stat(&d, "write_errors"), 0, "a lock wait is not a write error");
    cr_assert_eq(testd_stat(&d, "drop_est_queue"), 0);
    htga_destroy(&h);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
}

/* ---- a disk that fills up, then frees --------------------------------- */

/* The case: a small file system fills; htgad used to lose the rows
 * (and overcount write_errors), never truncate the WAL, and say ok. Now it
 * keeps them, says "disk full", and stores them all once space returns,
 * truncating the WAL. */
Test(faults, disk_full_then_freed_nothing_lost)
{
    enum { BEFORE = 5, DURING = 30 };
    char filler[200];
    htga *h = NULL;

    small_filesystem(1024);
    cr_assert_eq(testd_start(&d, "--block-samples", "1024", "--http", http_addr,
                             "--health-window-s", "2", NULL),
                 0);
    cr_assert_eq(htga_create(&h, d.endpoint, "full"), HTGA_OK);
    send_blocks(h, 0, BEFORE);
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM blocks", BEFORE, 10000), 0);

    snprintf(filler, sizeof filler, "%s/filler", fs_dir);
    fill(filler);
    int64_t full_at = now_ms();
    send_blocks(h, BEFORE, DURING);
    cr_assert_eq(wait_health("/api/v1/health", 503, "disk full", 10000), 0);
    cr_assert_eq(testd_wait_stat(&d, "writer_failing", 1, 2000), 0);
    json_t *j;
    cr_assert_eq(get_health("/api/v1/health/live", &j), 200);
    json_decref(j);
    while (now_ms() - full_at < 2000) /* the scenario: the disk stays full a while */
        sleep_ms(50);
    cr_assert_lt(rows_stored(), BEFORE + DURING, "the disk was not full");

    cr_assert_eq(unlink(filler), 0);
    int64_t freed_at = now_ms();
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM blocks", BEFORE + DURING, 15000), 0,
                 "stored %lld of %d", (long long)rows_stored(), BEFORE + DURING);
    cr_assert_eq(wait_health("/api/v1/health", 200, NULL, 5000), 0);
    cr_assert_eq(testd_wait_stat(&d, "writer_failing", 0, 2000), 0);
    cr_assert_eq(testd_stat(&d, "rows_lost"), 0);
    cr_assert_geq(testd_stat(&d, "wal_checkpoints"), 1, "the WAL was never truncated");
    /* write_errors counts failed tries, backing off from 50 ms to 1 s, not rows */
    int64_t errs = testd_stat(&d, "write_errors");
    cr_assert(errs >= 1 && errs <= 2 + (freed_at - full_at) / 50, "write_errors %lld",
              (long long)errs);
    htga_destroy(&h);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
}

/* A stop while the disk is full gives the rows --stop-timeout-s, then
 * gives them up, counted, and exits 3: every row estimated is either
 * written or counted lost. */
Test(faults, stop_while_disk_full_exits_3)
{
    enum { SENT = 10 };
    char filler[200];
    htga *h = NULL;

    small_filesystem(1024);
    cr_assert_eq(testd_start(&d, "--block-samples", "1024", "--http", http_addr, "--stop-timeout-s",
                             "1", NULL),
                 0);
    snprintf(filler, sizeof filler, "%s/filler", fs_dir);
    fill(filler);
    cr_assert_eq(htga_create(&h, d.endpoint, "full"), HTGA_OK);
    send_blocks(h, 0, SENT);
    cr_assert_eq(wait_health("/api/v1/health", 503, "disk full", 10000), 0);
    cr_assert_eq(testd_wait_stat(&d, "blocks_estimated", SENT, 5000), 0);
    int64_t t0 = now_ms();
    cr_assert_eq(testd_stop(&d, SIGTERM), 3);
    cr_assert_lt(now_ms() - t0, 6000, "the stop took %lld ms", (long long)(now_ms() - t0));
    cr_assert_eq(testd_stat(&d, "rows_lost"), SENT);
    cr_assert_eq(testd_stat(&d, "rows_written") + testd_stat(&d, "rows_lost"),
                 testd_stat(&d, "blocks_estimated"));
    cr_assert(strstr(slurp(d.log), "gave up") != NULL, "%s", slurp(d.log));
    htga_destroy(&h);
}

/* ---- a row SQLite refuses for good ------------------------------------ */

/* A refused row (here a trigger of the test's) is the one loss while
 * htgad runs: counted once in rows_lost and once in write_errors, shown by
 * /health as shedding, and the exit status says so. */
Test(faults, refused_row_counted_once_and_exit_3)
{
    sqlite3 *db;
    htga *h = NULL;

    make_database();
    cr_assert_eq(sqlite3_open(d.db, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "CREATE TRIGGER faults_refuse BEFORE INSERT ON blocks"
                              " WHEN NEW.block = 2 BEGIN SELECT RAISE(ABORT, 'refused by the"
                              " test'); END",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    cr_assert_eq(testd_start(&d, "--block-samples", "1024", "--http", http_addr, NULL), 0);
    cr_assert_eq(htga_create(&h, d.endpoint, "refused"), HTGA_OK);
    send_blocks(h, 0, 5);
    cr_assert_eq(testd_wait_stat(&d, "rows_lost", 1, 10000), 0);
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM blocks", 4, 5000), 0);
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM blocks WHERE block = 2"), 0);
    /* the gap it leaves is visible: a shed row in its group at its step */
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM gaps WHERE run = 'refused'"
                                 " AND group_name = 'g' AND step_first = 2 AND step_last = 2"
                                 " AND count = 1 AND unit = 'blocks' AND reason = 'writer'"),
                 1);
    cr_assert_eq(testd_query(&d, "SELECT sum(shed_events) FROM estimates WHERE run = 'refused'"), 0,
                 "the stored blocks beside it (steps 1 and 3) are not marked");
    cr_assert_eq(testd_stat(&d, "write_errors"), 1);
    cr_assert_eq(wait_health("/api/v1/health", 503, "rows_lost", 2000), 0);
    htga_destroy(&h);
    cr_assert_eq(testd_stop(&d, SIGTERM), 3);
}

/* ---- past the bounds -------------------------------------------------- */

/* Far more blocks than the queues hold while the lock is held: htgad takes
 * nothing it would have to drop (its estimator queues stay within
 * --queue-bytes; drop_est_queue stays 0), so what does not fit is shed at
 * the client and counted there; every block that left the client is
 * stored once the lock goes, and /health says the clients shed. SENT is
 * 64 MB: beyond htgad's queues, the loopback socket buffers alone may hold
 * tens of MB (tcp_rmem's autotuning ceiling), and 8 MB sometimes fitted. */
Test(faults, past_the_bounds_every_block_is_stored_or_counted)
{
    enum { SENT = 16000 };
    static float x[BLOCK];
    uint64_t seed = 5;
    sqlite3 *other;
    htga *h = NULL;
    htga_stats cs;

    cr_assert_eq(testd_start(&d, "--block-samples", "1024", "--queue-rows", "2", "--queue-bytes",
                             "1M", "--http", http_addr, NULL),
                 0);
    cr_assert_eq(sqlite3_open(d.db, &other), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(htga_create(&h, d.endpoint, "bounded"), HTGA_OK);
    /* a client queue of 256 KiB (64 messages): it must shed while htgad
     * pushes back */
    cr_assert_eq(htga_set_int(h, HTGA_OPT_QUEUE_BYTES, 256 << 10), HTGA_OK);
    for (int b = 0; b < SENT; b++) {
        student_t(x, BLOCK, 3.0, &seed);
        htga_send(h, "g", b, x, BLOCK); /* once: a drop is counted, not retried */
    }
    cr_assert_eq(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    cr_assert_eq(htga_flush(h, 20000), HTGA_OK);
    cr_assert_eq(htga_stats_get(h, &cs, sizeof cs), HTGA_OK);
    cr_assert_eq(cs.offered, SENT);
    cr_assert_eq(cs.msgs_sent + cs.drops_queue + cs.drops_offline + cs.skipped_budget, SENT);
    cr_assert_gt(cs.drops_queue + cs.drops_offline, 0,
                 "nothing was shed: the bounds were not exceeded");
    cr_assert_leq(cs.queue_bytes_max, 256 << 10);
    cr_log_info("sent %d: client shed %llu, to store %llu", SENT,
                (unsigned long long)(cs.drops_queue + cs.drops_offline),
                (unsigned long long)cs.msgs_sent);
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM blocks", (int64_t)cs.msgs_sent, 20000),
                 0, "stored %lld, want %llu", (long long)rows_stored(),
                 (unsigned long long)cs.msgs_sent);
    cr_assert_eq(testd_stat(&d, "drop_est_queue"), 0);
    cr_assert_leq(testd_stat(&d, "est_bytes_max"), (1 << 20) + 4 * BLOCK);
    /* the client's drops reach htgad in its next HELLO: not ready, shedding */
    cr_assert_eq(wait_health("/api/v1/health", 503, "client_drops", 5000), 0);
    cr_assert_eq(testd_stat(&d, "rows_lost"), 0);
    htga_destroy(&h);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
}
