/*
 * wire_test.c - the wire encoder and the pure decoder (proto/wire.c).
 *
 * Round trips of every kind, one crafted frame per error code (checking the
 * code and the offset the decoder reports), the order of checks, and frames
 * at odd addresses. Frames are built with the encoder and then patched byte
 * by byte, so each test states exactly which field is wrong.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

/* A message under construction: header bytes plus an optional body. */
typedef struct frame_set {
    unsigned char hdr[WIRE_HEADER_MAX + 16];
    size_t hdr_len;
    unsigned char body[4 * 64 + 64];
    size_t body_len;
    size_t nframes;
} frame_set;

static void build(frame_set *f, uint8_t kind, const char *run, const char *group, uint32_t count)
{
    wire_msg m = {0};
    memset(f, 0, sizeof *f);
    m.kind = kind;
    m.rank = 3;
    m.step = 1234567890123LL;
    m.seq = 42;
    m.count = count;
    m.dropped = 7;
    m.run = run;
    m.run_len = strlen(run);
    m.group = group;
    m.group_len = strlen(group);
    f->hdr_len = wire_encode_header(&m, f->hdr, sizeof f->hdr);
    cr_assert_gt(f->hdr_len, 0);
    f->nframes = wire_frames((wire_kind)kind);
    if (kind == WIRE_SAMPLES) {
        for (uint32_t i = 0; i < count && i < 64; i++) {
            float v = (float)i * 0.5f - 3.0f;
            memcpy(f->body + 4 * i, &v, 4);
        }
        f->body_len = 4 * (size_t)count;
    } else if (kind == WIRE_LAMBDA) {
        wire_lambda lam = {.lambda = 1.25, .alpha = 1.6, .block = 9, .step = 77, .reason = 0};
        wire_encode_lambda(&lam, f->body);
        f->body_len = WIRE_LAMBDA_LEN;
    } else if (kind == WIRE_ACK) {
        wire_ack ack = {.msgs = 800,
                        .values = 13107200,
                        .values_refused = 2,
                        .blocks_stored = 200,
                        .blocks_lost = 1,
                        .status = 0};
        wire_encode_ack(&ack, f->body);
        f->body_len = WIRE_ACK_LEN;
    } else if (kind == WIRE_BUDGET) {
        wire_budget b = {.values = 4096, .every = 3, .ranks = 16};
        wire_encode_budget(&b, f->body);
        f->body_len = WIRE_BUDGET_LEN;
    }
}

static wire_err decode(frame_set *f, wire_msg *m, wire_error *e)
{
    const void *frames[2] = {f->hdr, f->body};
    size_t lens[2] = {f->hdr_len, f->body_len};
    return wire_decode(frames, lens, f->nframes, m, e);
}

static void expect(frame_set *f, wire_err code, size_t offset)
{
    wire_msg m;
    wire_error e;
    wire_err rc = decode(f, &m, &e);
    cr_assert_eq(rc, code, "got %s, want %s", wire_err_name(rc), wire_err_name(code));
    cr_assert_eq(e.code, code);
    cr_assert_eq(e.offset, offset, "offset %zu, want %zu", e.offset, offset);
    cr_assert_not_null(e.text);
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

Test(wire, hello_round_trip)
{
    frame_set f;
    wire_msg m;
    build(&f, WIRE_HELLO, "run-1", "", 0);
    cr_assert_eq(f.hdr_len, WIRE_FIXED_LEN + 5);
    cr_assert_eq(decode(&f, &m, NULL), WIRE_OK);
    cr_assert_eq(m.kind, WIRE_HELLO);
    cr_assert_eq(m.version, WIRE_VERSION);
    cr_assert_eq(m.dtype, WIRE_DTYPE_F32);
    cr_assert_eq(m.rank, 3);
    cr_assert_eq(m.step, 1234567890123LL);
    cr_assert_eq(m.seq, 42);
    cr_assert_eq(m.dropped, 7);
    cr_assert_eq(m.run_len, 5);
    cr_assert(memcmp(m.run, "run-1", 5) == 0);
    cr_assert_eq(m.group_len, 0);
    cr_assert_null(m.body);
}

Test(wire, samples_round_trip)
{
    frame_set f;
    wire_msg m;
    build(&f, WIRE_SAMPLES, "run", "layer1.weight", 64);
    cr_assert_eq(decode(&f, &m, NULL), WIRE_OK);
    cr_assert_eq(m.kind, WIRE_SAMPLES);
    cr_assert_eq(m.count, 64);
    cr_assert_eq(m.body_len, 256);
    cr_assert(memcmp(m.group, "layer1.weight", 13) == 0);
    cr_assert_eq(m.group_len, 13);
    float v;
    memcpy(&v, (const unsigned char *)m.body + 4 * 10, 4);
    cr_assert_float_eq(v, 2.0f, 0);
}

Test(wire, lambda_round_trip)
{
    frame_set f;
    wire_msg m;
    wire_lambda lam;
    build(&f, WIRE_LAMBDA, "run", "g", 1);
    cr_assert_eq(decode(&f, &m, NULL), WIRE_OK);
    cr_assert_eq(m.kind, WIRE_LAMBDA);
    wire_decode_lambda(m.body, &lam);
    cr_assert_eq(lam.lambda, 1.25);
    cr_assert_eq(lam.alpha, 1.6);
    cr_assert_eq(lam.block, 9);
    cr_assert_eq(lam.step, 77);
    cr_assert_eq(lam.reason, 0);
    cr_assert_eq(lam.flags, 0);
}

Test(wire, byte_layout_is_little_endian)
{
    frame_set f;
    build(&f, WIRE_SAMPLES, "r", "g", 2);
    static const unsigned char want[WIRE_FIXED_LEN] = {
        'H',  'T',  'G',  'A',  1,    2,    1, 0, 1, 0, 1, 0, 3, 0, 0, 0, /* magic .. rank */
        0xCB, 0x04, 0xFB, 0x71, 0x1F, 0x01, 0, 0,                         /* step 1234567890123 */
        42,   0,    0,    0,    0,    0,    0, 0,                         /* seq */
        2,    0,    0,    0,    0,    0,    0, 0,                         /* count, reserved */
        7,    0,    0,    0,    0,    0,    0, 0,                         /* dropped */
    };
    cr_assert(memcmp(f.hdr, want, WIRE_FIXED_LEN) == 0);
    cr_assert_eq(f.hdr[48], 'r');
    cr_assert_eq(f.hdr[49], 'g');
}

Test(wire, lambda_body_layout)
{
    unsigned char b[WIRE_LAMBDA_LEN];
    wire_lambda lam = {.lambda = 1.0, .alpha = 2.0, .block = 5, .step = -1, .reason = 4};
    wire_encode_lambda(&lam, b);
    cr_assert_eq(b[7], 0x3F); /* 1.0 = 0x3FF0000000000000 */
    cr_assert_eq(b[6], 0xF0);
    cr_assert_eq(b[15], 0x40); /* 2.0 */
    cr_assert_eq(b[16], 5);
    cr_assert_eq(b[24], 0xFF);
    cr_assert_eq(b[31], 0xFF);
    cr_assert_eq(b[32], 4);
}

Test(wire, direction_check)
{
    frame_set f;
    const void *frames[2];
    size_t lens[2];
    wire_error e;
    build(&f, WIRE_LAMBDA, "run", "g", 1);
    frames[0] = f.hdr;
    frames[1] = f.body;
    lens[0] = f.hdr_len;
    lens[1] = f.body_len;
    cr_assert_eq(wire_decode_dir(frames, lens, 2, WIRE_DIR_TO_DAEMON, NULL, &e), WIRE_E_KIND);
    cr_assert_eq(e.offset, 5);
    cr_assert_eq(wire_decode_dir(frames, lens, 2, WIRE_DIR_TO_CLIENT, NULL, &e), WIRE_OK);
    build(&f, WIRE_SAMPLES, "run", "g", 3);
    lens[0] = f.hdr_len;
    lens[1] = f.body_len;
    cr_assert_eq(wire_decode_dir(frames, lens, 2, WIRE_DIR_TO_CLIENT, NULL, &e), WIRE_E_KIND);
    cr_assert_eq(wire_decode_dir(frames, lens, 2, WIRE_DIR_TO_DAEMON, NULL, &e), WIRE_OK);
}

Test(wire, flow_kinds_directions)
{
    static const struct {
        uint8_t kind;
        const char *group;
        uint32_t count;
        int to_daemon;
    } k[] = {{WIRE_HELLO, "", 0, 1},   {WIRE_SAMPLES, "g", 3, 1}, {WIRE_BARRIER, "", 0, 1},
             {WIRE_LAMBDA, "g", 1, 0}, {WIRE_ACK, "", 1, 0},      {WIRE_BUDGET, "g", 1, 0},
             {WIRE_BUDGET, "", 1, 0}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        frame_set f;
        const void *frames[2];
        size_t lens[2];
        build(&f, k[i].kind, "run", k[i].group, k[i].count);
        frames[0] = f.hdr;
        frames[1] = f.body;
        lens[0] = f.hdr_len;
        lens[1] = f.body_len;
        cr_assert_eq(wire_decode_dir(frames, lens, f.nframes, WIRE_DIR_TO_DAEMON, NULL, NULL),
                     k[i].to_daemon ? WIRE_OK : WIRE_E_KIND, "kind %d", k[i].kind);
        cr_assert_eq(wire_decode_dir(frames, lens, f.nframes, WIRE_DIR_TO_CLIENT, NULL, NULL),
                     k[i].to_daemon ? WIRE_E_KIND : WIRE_OK, "kind %d", k[i].kind);
    }
    cr_assert_eq(wire_frames(WIRE_BARRIER), 1);
    cr_assert_eq(wire_frames(WIRE_ACK), 2);
    cr_assert_eq(wire_frames((wire_kind)9), 0);
}

Test(wire, barrier_flags_and_shape)
{
    frame_set f;
    wire_msg m;
    build(&f, WIRE_BARRIER, "run", "", 0);
    cr_assert_eq(decode(&f, &m, NULL), WIRE_OK);
    cr_assert_eq(m.cluster, 0);
    cr_assert_eq(m.step, 1234567890123LL); /* the token, echoed in the ACK */
    put32(f.hdr + 36, WIRE_BARRIER_CLOSE);
    cr_assert_eq(decode(&f, &m, NULL), WIRE_OK);
    cr_assert_eq(m.cluster, WIRE_BARRIER_CLOSE);
    put32(f.hdr + 36, 2); /* an unknown flag */
    expect(&f, WIRE_E_FLAGS, 36);
    build(&f, WIRE_BARRIER, "run", "g", 0); /* a barrier names no group */
    expect(&f, WIRE_E_NAME_LEN, 10);
    build(&f, WIRE_BARRIER, "run", "", 0);
    put32(f.hdr + 32, 1);
    expect(&f, WIRE_E_COUNT, 32);
    f.nframes = 2;
    put32(f.hdr + 32, 0);
    expect(&f, WIRE_E_FRAMES, 0);
    /* the encoder refuses flags the decoder would */
    {
        wire_msg e = {.kind = WIRE_BARRIER, .run = "r", .run_len = 1, .cluster = 2};
        unsigned char h[WIRE_HEADER_MAX];
        cr_assert_eq(wire_encode_header(&e, h, sizeof h), 0);
        e.cluster = WIRE_BARRIER_CLOSE;
        cr_assert_eq(wire_encode_header(&e, h, sizeof h), WIRE_FIXED_LEN + 1);
    }
}

Test(wire, ack_round_trip_and_rules)
{
    frame_set f;
    wire_msg m;
    wire_ack a;
    build(&f, WIRE_ACK, "run", "", 1);
    cr_assert_eq(decode(&f, &m, NULL), WIRE_OK);
    wire_decode_ack(m.body, &a);
    cr_assert_eq(a.msgs, 800);
    cr_assert_eq(a.values, 13107200);
    cr_assert_eq(a.values_refused, 2);
    cr_assert_eq(a.blocks_stored, 200);
    cr_assert_eq(a.blocks_lost, 1);
    cr_assert_eq(f.body[24], 200); /* blocks_stored at offset 24, little-endian */
    put32(f.body + 44, 1);
    expect(&f, WIRE_E_VALUE, 44);
    build(&f, WIRE_ACK, "run", "", 1);
    f.body_len = WIRE_ACK_LEN - 8;
    expect(&f, WIRE_E_BODY_LEN, 32);
    build(&f, WIRE_ACK, "run", "g", 1);
    expect(&f, WIRE_E_NAME_LEN, 10);
}

Test(wire, budget_round_trip_and_rules)
{
    frame_set f;
    wire_msg m;
    wire_budget b;
    build(&f, WIRE_BUDGET, "run", "layer1", 1);
    cr_assert_eq(decode(&f, &m, NULL), WIRE_OK);
    wire_decode_budget(m.body, &b);
    cr_assert_eq(b.values, 4096);
    cr_assert_eq(b.every, 3);
    cr_assert_eq(b.ranks, 16);
    cr_assert_eq(b.flags, 0);
    cr_assert_eq(f.body[1], 0x10); /* 4096 = 0x1000, little-endian */
    put32(f.body, 0);
    expect(&f, WIRE_E_VALUE, 0);
    put32(f.body, WIRE_COUNT_MAX + 1);
    expect(&f, WIRE_E_VALUE, 0);
    put32(f.body, WIRE_COUNT_MAX);
    cr_assert_eq(decode(&f, &m, NULL), WIRE_OK);
    put32(f.body + 4, 0);
    expect(&f, WIRE_E_VALUE, 4);
    put32(f.body + 4, WIRE_EVERY_MAX + 1);
    expect(&f, WIRE_E_VALUE, 4);
    put32(f.body + 4, 1);
    put32(f.body + 12, 1);
    expect(&f, WIRE_E_VALUE, 12);
    build(&f, WIRE_BUDGET, "run", "", 1); /* every group of the run */
    cr_assert_eq(decode(&f, &m, NULL), WIRE_OK);
    cr_assert_eq(m.group_len, 0);
    f.body_len = 12;
    expect(&f, WIRE_E_BODY_LEN, 32);
}

Test(wire, err_frames)
{
    frame_set f;
    build(&f, WIRE_SAMPLES, "run", "g", 4);
    f.nframes = 1;
    expect(&f, WIRE_E_FRAMES, 0);
    f.nframes = 3;
    expect(&f, WIRE_E_FRAMES, 0);
    f.nframes = 0;
    expect(&f, WIRE_E_FRAMES, 0);
    build(&f, WIRE_HELLO, "run", "", 0);
    f.nframes = 2;
    expect(&f, WIRE_E_FRAMES, 0);
    build(&f, WIRE_LAMBDA, "run", "g", 1);
    f.nframes = 1;
    expect(&f, WIRE_E_FRAMES, 0);
    cr_assert_eq(wire_decode(NULL, NULL, 1, NULL, NULL), WIRE_E_FRAMES);
}

Test(wire, err_short)
{
    frame_set f;
    build(&f, WIRE_HELLO, "run", "", 0);
    f.hdr_len = WIRE_FIXED_LEN - 1;
    expect(&f, WIRE_E_SHORT, WIRE_FIXED_LEN - 1);
    f.hdr_len = 0;
    expect(&f, WIRE_E_SHORT, 0);
}

Test(wire, err_magic)
{
    frame_set f;
    build(&f, WIRE_HELLO, "run", "", 0);
    f.hdr[3] ^= 0x20;
    expect(&f, WIRE_E_MAGIC, 0);
}

Test(wire, err_version)
{
    frame_set f;
    build(&f, WIRE_HELLO, "run", "", 0);
    f.hdr[4] = 2;
    expect(&f, WIRE_E_VERSION, 4);
    f.hdr[4] = 0;
    expect(&f, WIRE_E_VERSION, 4);
}

Test(wire, err_kind)
{
    frame_set f;
    build(&f, WIRE_HELLO, "run", "", 0);
    f.hdr[5] = 0;
    expect(&f, WIRE_E_KIND, 5);
    f.hdr[5] = 7;
    expect(&f, WIRE_E_KIND, 5);
    f.hdr[5] = 255;
    expect(&f, WIRE_E_KIND, 5);
}

Test(wire, err_dtype)
{
    frame_set f;
    build(&f, WIRE_SAMPLES, "run", "g", 1);
    f.hdr[6] = 2;
    expect(&f, WIRE_E_DTYPE, 6);
    f.hdr[6] = 0;
    expect(&f, WIRE_E_DTYPE, 6);
}

Test(wire, err_flags_and_reserved)
{
    frame_set f;
    build(&f, WIRE_SAMPLES, "run", "g", 1);
    f.hdr[7] = 1;
    expect(&f, WIRE_E_FLAGS, 7);
    /* offset 36 is reserved (0) in HELLO and LAMBDA; SAMPLES: cluster */
    build(&f, WIRE_HELLO, "run", "", 0);
    f.hdr[39] = 0x80;
    expect(&f, WIRE_E_FLAGS, 36);
    build(&f, WIRE_LAMBDA, "run", "g", 1);
    f.hdr[36] = 1;
    expect(&f, WIRE_E_FLAGS, 36);
}

Test(wire, samples_cluster_round_trip)
{
    frame_set f;
    wire_msg m = {0}, out;
    unsigned char hdr[WIRE_HEADER_MAX];
    static const uint32_t ok[] = {0, 1, 2, 16, 63, 64};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        build(&f, WIRE_SAMPLES, "run", "g", 64);
        put32(f.hdr + 36, ok[i]);
        cr_assert_eq(decode(&f, &out, NULL), WIRE_OK, "cluster %u", ok[i]);
        cr_assert_eq(out.cluster, ok[i]);
        /* and the encoder writes it back at offset 36 */
        size_t len = wire_encode_header(&out, hdr, sizeof hdr);
        cr_assert_eq(len, f.hdr_len);
        cr_assert(memcmp(hdr, f.hdr, len) == 0);
    }
    /* the encoder never writes a cluster into HELLO or LAMBDA */
    m.kind = WIRE_HELLO;
    m.cluster = 16;
    m.run = "r";
    m.run_len = 1;
    cr_assert_gt(wire_encode_header(&m, hdr, sizeof hdr), 0);
    cr_assert_eq(hdr[36] | hdr[37] | hdr[38] | hdr[39], 0);
    /* nor a SAMPLES frame the decoder would refuse: runs longer than it */
    m.kind = WIRE_SAMPLES;
    m.group = "g";
    m.group_len = 1;
    m.count = 8;
    m.cluster = 9;
    cr_assert_eq(wire_encode_header(&m, hdr, sizeof hdr), 0);
    m.cluster = 8;
    cr_assert_gt(wire_encode_header(&m, hdr, sizeof hdr), 0);
}

Test(wire, err_cluster)
{
    frame_set f;
    build(&f, WIRE_SAMPLES, "run", "g", 8);
    put32(f.hdr + 36, 9); /* longer than the message */
    expect(&f, WIRE_E_CLUSTER, 36);
    put32(f.hdr + 36, WIRE_CLUSTER_MAX + 1);
    expect(&f, WIRE_E_CLUSTER, 36);
    put32(f.hdr + 36, 0xFFFFFFFFu);
    expect(&f, WIRE_E_CLUSTER, 36);
    put32(f.hdr + 36, 8); /* one run of the whole message */
    expect(&f, WIRE_OK, 0);
    /* checked after the count: a bad count is reported first */
    build(&f, WIRE_SAMPLES, "run", "g", 8);
    put32(f.hdr + 32, 0);
    put32(f.hdr + 36, 9);
    expect(&f, WIRE_E_COUNT, 32);
    /* and before the body */
    build(&f, WIRE_SAMPLES, "run", "g", 8);
    put32(f.hdr + 36, 9);
    f.body_len = 4;
    expect(&f, WIRE_E_CLUSTER, 36);
    cr_assert_str_eq(wire_err_name(WIRE_E_CLUSTER), "bad_cluster");
}

Test(wire, err_name_len)
{
    frame_set f;
    build(&f, WIRE_SAMPLES, "run", "g", 1);
    f.hdr[8] = 0; /* run_len 0 */
    expect(&f, WIRE_E_NAME_LEN, 8);
    build(&f, WIRE_SAMPLES, "run", "g", 1);
    f.hdr[8] = WIRE_NAME_MAX + 1;
    expect(&f, WIRE_E_NAME_LEN, 8);
    build(&f, WIRE_SAMPLES, "run", "g", 1);
    f.hdr[10] = 0; /* group_len 0 on SAMPLES */
    expect(&f, WIRE_E_NAME_LEN, 10);
    build(&f, WIRE_SAMPLES, "run", "g", 1);
    f.hdr[11] = 1; /* group_len 257 */
    expect(&f, WIRE_E_NAME_LEN, 10);
    build(&f, WIRE_HELLO, "run", "", 0);
    f.hdr[10] = 1; /* HELLO carries no group */
    expect(&f, WIRE_E_NAME_LEN, 10);
}

Test(wire, names_at_the_limit)
{
    char name[WIRE_NAME_MAX + 2];
    frame_set f;
    wire_msg m = {.kind = WIRE_SAMPLES, .count = 1};
    memset(name, 'a', sizeof name);
    name[WIRE_NAME_MAX] = 0;
    build(&f, WIRE_SAMPLES, name, name, 1);
    cr_assert_eq(f.hdr_len, WIRE_HEADER_MAX);
    cr_assert_eq(decode(&f, NULL, NULL), WIRE_OK);
    m.run = name;
    m.run_len = WIRE_NAME_MAX + 1;
    m.group = "g";
    m.group_len = 1;
    cr_assert_eq(wire_encode_header(&m, f.hdr, sizeof f.hdr), 0);
    m.run_len = 3;
    cr_assert_eq(wire_encode_header(&m, f.hdr, WIRE_FIXED_LEN + 3), 0, "buffer too small");
}

Test(wire, err_header_len)
{
    frame_set f;
    build(&f, WIRE_SAMPLES, "run", "g", 1);
    f.hdr_len += 1;
    expect(&f, WIRE_E_HEADER_LEN, WIRE_FIXED_LEN);
    f.hdr_len -= 2;
    expect(&f, WIRE_E_HEADER_LEN, WIRE_FIXED_LEN);
    build(&f, WIRE_SAMPLES, "run", "g", 1);
    f.hdr[8] = 4; /* run_len claims one byte more than there is */
    expect(&f, WIRE_E_HEADER_LEN, WIRE_FIXED_LEN);
}

Test(wire, err_name_bytes)
{
    static const struct {
        const char *run;
        size_t bad;
    } cases[] = {
        {"ab\x01", 2},           /* control byte */
        {"a\x7f", 1},            /* DEL */
        {"\xff", 0},             /* never valid */
        {"a\xc3", 1},            /* truncated sequence */
        {"\xc0\xaf", 0},         /* overlong '/' */
        {"\xe0\x80\xaf", 0},     /* overlong 3-byte */
        {"\xed\xa0\x80", 0},     /* surrogate */
        {"\xf4\x90\x80\x80", 0}, /* > U+10FFFF */
        {"ok\xc3(", 2},          /* bad continuation */
    };
    frame_set f;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        build(&f, WIRE_SAMPLES, cases[i].run, "g", 1);
        expect(&f, WIRE_E_NAME_BYTES, WIRE_FIXED_LEN + cases[i].bad);
    }
    /* NUL inside a name: encode "abc" then patch */
    build(&f, WIRE_SAMPLES, "abc", "gh", 1);
    f.hdr[WIRE_FIXED_LEN + 1] = 0;
    expect(&f, WIRE_E_NAME_BYTES, WIRE_FIXED_LEN + 1);
    build(&f, WIRE_SAMPLES, "abc", "gh", 1);
    f.hdr[WIRE_FIXED_LEN + 4] = 0; /* in the group */
    expect(&f, WIRE_E_NAME_BYTES, WIRE_FIXED_LEN + 4);
    /* valid multi-byte names pass */
    build(&f, WIRE_SAMPLES, "r\xc3\xa9sum\xc3\xa9", "\xe6\x97\xa5\xf0\x9f\x98\x80", 1);
    cr_assert_eq(decode(&f, NULL, NULL), WIRE_OK);
}

Test(wire, err_count)
{
    frame_set f;
    build(&f, WIRE_SAMPLES, "run", "g", 1);
    put32(f.hdr + 32, 0);
    expect(&f, WIRE_E_COUNT, 32);
    put32(f.hdr + 32, WIRE_COUNT_MAX + 1);
    expect(&f, WIRE_E_COUNT, 32);
    build(&f, WIRE_HELLO, "run", "", 0);
    put32(f.hdr + 32, 1);
    expect(&f, WIRE_E_COUNT, 32);
    build(&f, WIRE_LAMBDA, "run", "g", 1);
    put32(f.hdr + 32, 2);
    expect(&f, WIRE_E_COUNT, 32);
}

Test(wire, count_at_the_limit)
{
    size_t n = WIRE_COUNT_MAX;
    unsigned char *body = calloc(n, 4);
    frame_set f;
    build(&f, WIRE_SAMPLES, "run", "g", 1);
    put32(f.hdr + 32, WIRE_COUNT_MAX);
    const void *frames[2] = {f.hdr, body};
    size_t lens[2] = {f.hdr_len, 4 * n};
    cr_assert_eq(wire_decode(frames, lens, 2, NULL, NULL), WIRE_OK);
    lens[1] -= 4;
    cr_assert_eq(wire_decode(frames, lens, 2, NULL, NULL), WIRE_E_BODY_LEN);
    free(body);
}

Test(wire, err_body_len)
{
    frame_set f;
    build(&f, WIRE_SAMPLES, "run", "g", 8);
    f.body_len -= 1;
    expect(&f, WIRE_E_BODY_LEN, 32);
    f.body_len += 5;
    expect(&f, WIRE_E_BODY_LEN, 32);
    f.body_len = 0;
    expect(&f, WIRE_E_BODY_LEN, 32);
    build(&f, WIRE_LAMBDA, "run", "g", 1);
    f.body_len = WIRE_LAMBDA_LEN - 1;
    expect(&f, WIRE_E_BODY_LEN, 32);
}

Test(wire, err_value)
{
    frame_set f;
    double bad[] = {NAN, INFINITY, -1.0, 0.0};
    for (size_t i = 0; i < 4; i++) {
        wire_lambda lam = {.lambda = bad[i], .alpha = 1.0};
        build(&f, WIRE_LAMBDA, "run", "g", 1);
        wire_encode_lambda(&lam, f.body);
        expect(&f, WIRE_E_VALUE, 0);
    }
    wire_lambda lam = {.lambda = 1.0, .alpha = NAN, .flags = 1};
    build(&f, WIRE_LAMBDA, "run", "g", 1);
    wire_encode_lambda(&lam, f.body);
    expect(&f, WIRE_E_VALUE, 36);
    lam.flags = 0; /* NaN alpha is allowed: "unreliable" */
    wire_encode_lambda(&lam, f.body);
    cr_assert_eq(decode(&f, NULL, NULL), WIRE_OK);
}

Test(wire, first_error_wins)
{
    frame_set f;
    build(&f, WIRE_SAMPLES, "run", "g", 4);
    f.hdr[4] = 9;   /* version */
    f.hdr[6] = 9;   /* dtype */
    f.body_len = 3; /* body */
    expect(&f, WIRE_E_VERSION, 4);
    build(&f, WIRE_SAMPLES, "run", "g", 4);
    f.hdr[8] = 0; /* name length */
    f.body_len = 3;
    expect(&f, WIRE_E_NAME_LEN, 8);
}

Test(wire, unaligned_frames)
{
    frame_set f;
    build(&f, WIRE_SAMPLES, "run", "grp", 16);
    unsigned char *raw = malloc(f.hdr_len + f.body_len + 8);
    for (size_t shift = 1; shift < 8; shift++) {
        unsigned char *h = raw + shift;
        unsigned char *b = h + f.hdr_len;
        memcpy(h, f.hdr, f.hdr_len);
        memcpy(b, f.body, f.body_len);
        const void *frames[2] = {h, b};
        size_t lens[2] = {f.hdr_len, f.body_len};
        wire_msg m;
        cr_assert_eq(wire_decode(frames, lens, 2, &m, NULL), WIRE_OK);
        cr_assert_eq(m.step, 1234567890123LL);
        cr_assert_eq(m.count, 16);
        cr_assert_eq(m.body, b);
        unsigned char out[WIRE_HEADER_MAX];
        cr_assert_eq(wire_encode_header(&m, out, sizeof out), f.hdr_len);
        cr_assert(memcmp(out, f.hdr, f.hdr_len) == 0);
    }
    wire_lambda lam = {.lambda = 0.5, .alpha = 1.5, .block = 3, .step = 10}, back;
    wire_encode_lambda(&lam, raw + 3);
    wire_decode_lambda(raw + 3, &back);
    cr_assert(memcmp(&lam, &back, sizeof lam) == 0);
    free(raw);
}

Test(wire, err_names_are_stable)
{
    cr_assert_str_eq(wire_err_name(WIRE_OK), "ok");
    cr_assert_str_eq(wire_err_name(WIRE_E_MAGIC), "bad_magic");
    cr_assert_str_eq(wire_err_name(WIRE_E_VALUE), "bad_value");
    cr_assert_str_eq(wire_err_name(WIRE_E__COUNT), "unknown");
    for (int c = 0; c < WIRE_E__COUNT; c++)
        cr_assert_not_null(wire_err_name((wire_err)c));
}

Test(wire, name_ok)
{
    cr_assert_eq(wire_name_ok("layer.0", 7), 1);
    cr_assert_eq(wire_name_ok("\xc3\xa9", 2), 1);
    cr_assert_eq(wire_name_ok("a\nb", 3), 0);
    cr_assert_eq(wire_name_ok("\xc3", 1), 0);
    cr_assert_eq(wire_name_ok("", 0), 1);
}

/* The worked example of docs/protocol.md, byte for byte. */
Test(wire, protocol_doc_example)
{
    static const unsigned char want_hdr[50] = {
        0x48, 0x54, 0x47, 0x41, 0x01, 0x02, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x72, 0x77};
    static const unsigned char want_body[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0};
    wire_msg m = {.kind = WIRE_SAMPLES,
                  .rank = 1,
                  .step = 5,
                  .count = 2,
                  .run = "r",
                  .run_len = 1,
                  .group = "w",
                  .group_len = 1};
    unsigned char hdr[WIRE_HEADER_MAX];
    float body[2] = {1.0f, -2.0f};
    cr_assert_eq(wire_encode_header(&m, hdr, sizeof hdr), 50);
    cr_assert(memcmp(hdr, want_hdr, 50) == 0);
    cr_assert(memcmp(body, want_body, 8) == 0); /* little-endian host */
    const void *frames[2] = {want_hdr, want_body};
    size_t lens[2] = {50, 8};
    cr_assert_eq(wire_decode(frames, lens, 2, NULL, NULL), WIRE_OK);
}
