/*
 * client_support.h - what the libhtga tests against the fake daemon share:
 * a client that has said HELLO, its stats, and polls with a deadline.
 */
#ifndef HTGA_TEST_CLIENT_SUPPORT_H
#define HTGA_TEST_CLIENT_SUPPORT_H

#include <criterion/criterion.h>

#include "fake_daemon.h"
#include "htga.h"

static inline htga *connect_client(fake_daemon *f, const char *run, fake_msg *hello)
{
    htga *h = NULL;
    cr_assert_eq(htga_create(&h, f->endpoint, run), HTGA_OK);
    cr_assert_eq(fake_recv_kind(f, hello, WIRE_HELLO, (int)slack(3000)), 0, "no HELLO on connect");
    return h;
}

static inline htga_stats stats(htga *h)
{
    htga_stats s;
    cr_assert_eq(htga_stats_get(h, &s, sizeof s), HTGA_OK);
    return s;
}

/* Polls until the client holds lambda want for group, or timeout_ms passes. */
static inline int wait_lambda(htga *h, const char *group, double want, int timeout_ms)
{
    long end = fake_now_ms() + timeout_ms;
    while (fake_now_ms() < end) {
        double v;
        if (htga_lambda_get(h, group, &v) == HTGA_OK && v == want)
            return 0;
        fake_sleep_ms(2);
    }
    return -1;
}

#endif
