/*
 * wire.c - the htga wire format: header encoder and the pure decoder.
 *
 * DESIGN: nothing here does I/O, allocates, or trusts its input. Every field
 * is read with byte loads (ZeroMQ frames may be unaligned and the format is
 * little-endian whatever the host), checked in a fixed order, and the first
 * problem is reported with a stable code and the byte offset where it was
 * found. The order of checks is part of the protocol (docs/protocol.md) so
 * that every implementation reports the same code for the same bad frame.
 */
#include "wire.h"

#include "mix.h"

#include <math.h>
#include <string.h>

static const struct {
    const char *name;
    const char *text;
} err_info[WIRE_E__COUNT] = {
    [WIRE_OK] = {"ok", "no error"},
    [WIRE_E_FRAMES] = {"bad_frames", "wrong number of frames for the kind"},
    [WIRE_E_SHORT] = {"short_header", "header frame shorter than the fixed part"},
    [WIRE_E_MAGIC] = {"bad_magic", "bad magic"},
    [WIRE_E_VERSION] = {"bad_version", "unsupported version"},
    [WIRE_E_KIND] = {"bad_kind", "unknown kind or kind not allowed in this direction"},
    [WIRE_E_DTYPE] = {"bad_dtype", "unsupported dtype"},
    [WIRE_E_FLAGS] = {"bad_flags", "reserved flags or fields not zero"},
    [WIRE_E_NAME_LEN] = {"bad_name_len", "run or group name length out of range"},
    [WIRE_E_HEADER_LEN] = {"bad_header_len", "header frame length disagrees with the names"},
    [WIRE_E_NAME_BYTES] = {"bad_name_bytes", "name holds NUL, control bytes or invalid UTF-8"},
    [WIRE_E_COUNT] = {"bad_count", "count out of range for the kind"},
    [WIRE_E_BODY_LEN] = {"bad_body_len", "body length disagrees with count or kind"},
    [WIRE_E_VALUE] = {"bad_value", "record field out of range"},
    [WIRE_E_CLUSTER] = {"bad_cluster", "SAMPLES run length (cluster) over count"},
};

const char *wire_err_name(wire_err code)
{
    if ((unsigned)code >= WIRE_E__COUNT)
        return "unknown";
    return err_info[code].name;
}

static uint16_t ld16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static void st16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static double ld_f64(const unsigned char *p)
{
    return htga_bits_f64(htga_ld_le64(p));
}

static void st_f64(unsigned char *p, double d)
{
    htga_st_le64(p, htga_f64_bits(d));
}

static wire_err fail(wire_error *err, wire_err code, size_t offset)
{
    if (err) {
        err->code = code;
        err->offset = offset;
        err->text = err_info[code].text;
    }
    return code;
}

/* Returns the index of the first bad byte of a name, or len when it is
 * well-formed UTF-8 (shortest form, no surrogates, <= U+10FFFF) without C0
 * control bytes or DEL. */
static size_t name_bad_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7F)
                return i;
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0; /* no overlong */
            if (c == 0xED)
                hi = 0x9F; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90; /* no overlong */
            if (c == 0xF4)
                hi = 0x8F; /* <= U+10FFFF */
        } else {
            return i;
        }
        if (len - i <= n)
            return i;
        for (size_t k = 1; k <= n; k++) {
            unsigned b = s[i + k];
            unsigned l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
            if (b < l || b > h)
                return i;
        }
        i += n + 1;
    }
    return len;
}

int wire_name_ok(const void *name, size_t len)
{
    return (len == 0 || name) && name_bad_at(name, len) == len;
}

size_t wire_frames(wire_kind kind)
{
    switch (kind) {
    case WIRE_HELLO:
    case WIRE_BARRIER:
        return 1;
    case WIRE_SAMPLES:
    case WIRE_LAMBDA:
    case WIRE_ACK:
    case WIRE_BUDGET:
        return 2;
    }
    return 0;
}

static int kind_allowed(unsigned kind, wire_dir dir)
{
    int to_daemon = kind == WIRE_HELLO || kind == WIRE_SAMPLES || kind == WIRE_BARRIER;
    if (wire_frames((wire_kind)kind) == 0)
        return 0;
    if (dir == WIRE_DIR_TO_DAEMON)
        return to_daemon;
    if (dir == WIRE_DIR_TO_CLIENT)
        return !to_daemon;
    return 1;
}

/* What offset 36 may hold: SAMPLES a run length (checked against count
 * later), BARRIER its flags, every other kind 0. */
static int field36_ok(unsigned kind, uint32_t v)
{
    if (kind == WIRE_SAMPLES)
        return 1;
    if (kind == WIRE_BARRIER)
        return (v & ~WIRE_BARRIER_FLAGS) == 0;
    return v == 0;
}

/* Checks the fixed part; fills the numeric fields of *msg. */
static wire_err decode_fixed(const unsigned char *h, size_t len, wire_dir dir, wire_msg *msg,
                             wire_error *err)
{
    if (len < WIRE_FIXED_LEN)
        return fail(err, WIRE_E_SHORT, len);
    if (htga_ld_le32(h) != WIRE_MAGIC)
        return fail(err, WIRE_E_MAGIC, 0);
    if (h[4] != WIRE_VERSION)
        return fail(err, WIRE_E_VERSION, 4);
    if (!kind_allowed(h[5], dir))
        return fail(err, WIRE_E_KIND, 5);
    if (h[6] != WIRE_DTYPE_F32)
        return fail(err, WIRE_E_DTYPE, 6);
    if (h[7] != 0)
        return fail(err, WIRE_E_FLAGS, 7);
    if (!field36_ok(h[5], htga_ld_le32(h + 36)))
        return fail(err, WIRE_E_FLAGS, 36);
    msg->version = h[4];
    msg->kind = h[5];
    msg->dtype = h[6];
    msg->run_len = ld16(h + 8);
    msg->group_len = ld16(h + 10);
    msg->rank = htga_ld_le32(h + 12);
    msg->step = (int64_t)htga_ld_le64(h + 16);
    msg->seq = htga_ld_le64(h + 24);
    msg->count = htga_ld_le32(h + 32);
    msg->cluster = htga_ld_le32(h + 36);
    msg->dropped = htga_ld_le64(h + 40);
    return WIRE_OK;
}

static wire_err decode_names(const unsigned char *h, size_t len, wire_msg *msg, wire_error *err)
{
    /* HELLO, BARRIER and ACK speak for a whole run; BUDGET may */
    int no_group = msg->kind == WIRE_HELLO || msg->kind == WIRE_BARRIER || msg->kind == WIRE_ACK;
    size_t group_min = no_group || msg->kind == WIRE_BUDGET ? 0 : 1;
    size_t group_max = no_group ? 0 : WIRE_NAME_MAX;
    size_t bad;

    if (msg->run_len < 1 || msg->run_len > WIRE_NAME_MAX)
        return fail(err, WIRE_E_NAME_LEN, 8);
    if (msg->group_len < group_min || msg->group_len > group_max)
        return fail(err, WIRE_E_NAME_LEN, 10);
    if (len != WIRE_FIXED_LEN + msg->run_len + msg->group_len)
        return fail(err, WIRE_E_HEADER_LEN, WIRE_FIXED_LEN);
    msg->run = (const char *)h + WIRE_FIXED_LEN;
    msg->group = msg->run + msg->run_len;
    bad = name_bad_at((const unsigned char *)msg->run, msg->run_len);
    if (bad != msg->run_len)
        return fail(err, WIRE_E_NAME_BYTES, WIRE_FIXED_LEN + bad);
    bad = name_bad_at((const unsigned char *)msg->group, msg->group_len);
    if (bad != msg->group_len)
        return fail(err, WIRE_E_NAME_BYTES, WIRE_FIXED_LEN + msg->run_len + bad);
    return WIRE_OK;
}

static wire_err decode_count(wire_msg *msg, wire_error *err)
{
    int ok;
    switch (msg->kind) {
    case WIRE_HELLO:
    case WIRE_BARRIER:
        ok = msg->count == 0;
        break;
    case WIRE_SAMPLES:
        ok = msg->count >= 1 && msg->count <= WIRE_COUNT_MAX;
        break;
    default:
        ok = msg->count == 1;
        break;
    }
    if (!ok)
        return fail(err, WIRE_E_COUNT, 32);
    /* a run longer than the message is a bad field, not a clamp: the sender
     * and the daemon must agree on where runs end */
    if (msg->kind == WIRE_SAMPLES && (msg->cluster > msg->count || msg->cluster > WIRE_CLUSTER_MAX))
        return fail(err, WIRE_E_CLUSTER, 36);
    return WIRE_OK;
}

/* A record body of kind LAMBDA, ACK or BUDGET: its length and fields. */
static wire_err decode_record(unsigned kind, const unsigned char *b, size_t len, wire_error *err)
{
    switch (kind) {
    case WIRE_LAMBDA:
        if (len != WIRE_LAMBDA_LEN)
            return fail(err, WIRE_E_BODY_LEN, 32);
        if (!isfinite(ld_f64(b)) || !(ld_f64(b) > 0))
            return fail(err, WIRE_E_VALUE, 0);
        return htga_ld_le32(b + 36) == 0 ? WIRE_OK : fail(err, WIRE_E_VALUE, 36);
    case WIRE_ACK:
        if (len != WIRE_ACK_LEN)
            return fail(err, WIRE_E_BODY_LEN, 32);
        return htga_ld_le32(b + 44) == 0 ? WIRE_OK : fail(err, WIRE_E_VALUE, 44);
    default: /* WIRE_BUDGET */
        if (len != WIRE_BUDGET_LEN)
            return fail(err, WIRE_E_BODY_LEN, 32);
        if (htga_ld_le32(b) < 1 || htga_ld_le32(b) > WIRE_COUNT_MAX)
            return fail(err, WIRE_E_VALUE, 0);
        if (htga_ld_le32(b + 4) < 1 || htga_ld_le32(b + 4) > WIRE_EVERY_MAX)
            return fail(err, WIRE_E_VALUE, 4);
        return htga_ld_le32(b + 12) == 0 ? WIRE_OK : fail(err, WIRE_E_VALUE, 12);
    }
}

static wire_err decode_body(const void *const *frames, const size_t *lens, size_t nframes,
                            wire_msg *msg, wire_error *err)
{
    size_t want_frames = wire_frames((wire_kind)msg->kind);

    if (nframes != want_frames)
        return fail(err, WIRE_E_FRAMES, 0);
    msg->body = NULL;
    msg->body_len = 0;
    if (want_frames == 1)
        return WIRE_OK;
    msg->body = frames[1];
    msg->body_len = lens[1];
    if (msg->kind == WIRE_SAMPLES)
        return lens[1] == (size_t)msg->count * 4 ? WIRE_OK : fail(err, WIRE_E_BODY_LEN, 32);
    return decode_record(msg->kind, frames[1], lens[1], err);
}

wire_err wire_decode_dir(const void *const *frames, const size_t *lens, size_t nframes,
                         wire_dir dir, wire_msg *msg, wire_error *err)
{
    wire_msg m;
    wire_err rc;
    const unsigned char *h;

    memset(&m, 0, sizeof m);
    if (err) {
        err->code = WIRE_OK;
        err->offset = 0;
        err->text = err_info[WIRE_OK].text;
    }
    if (!frames || !lens || nframes < 1 || nframes > 2 || (!frames[0] && lens[0] > 0) ||
        (nframes == 2 && !frames[1] && lens[1] > 0))
        return fail(err, WIRE_E_FRAMES, 0);
    h = frames[0];
    rc = decode_fixed(h, lens[0], dir, &m, err);
    if (rc == WIRE_OK)
        rc = decode_names(h, lens[0], &m, err);
    if (rc == WIRE_OK)
        rc = decode_count(&m, err);
    if (rc == WIRE_OK)
        rc = decode_body(frames, lens, nframes, &m, err);
    if (rc == WIRE_OK && msg)
        *msg = m;
    return rc;
}

wire_err wire_decode(const void *const *frames, const size_t *lens, size_t nframes, wire_msg *msg,
                     wire_error *err)
{
    return wire_decode_dir(frames, lens, nframes, WIRE_DIR_ANY, msg, err);
}

size_t wire_encode_header(const wire_msg *msg, void *buf, size_t buf_len)
{
    unsigned char *h = buf;
    size_t len;

    if (!msg || !buf || msg->run_len > WIRE_NAME_MAX || msg->group_len > WIRE_NAME_MAX)
        return 0;
    len = WIRE_FIXED_LEN + msg->run_len + msg->group_len;
    if (buf_len < len || (msg->kind == WIRE_SAMPLES && msg->cluster > msg->count) ||
        (msg->kind == WIRE_BARRIER && (msg->cluster & ~WIRE_BARRIER_FLAGS) != 0))
        return 0;
    htga_st_le32(h, WIRE_MAGIC);
    h[4] = WIRE_VERSION;
    h[5] = msg->kind;
    h[6] = WIRE_DTYPE_F32;
    h[7] = 0;
    st16(h + 8, (uint16_t)msg->run_len);
    st16(h + 10, (uint16_t)msg->group_len);
    htga_st_le32(h + 12, msg->rank);
    htga_st_le64(h + 16, (uint64_t)msg->step);
    htga_st_le64(h + 24, msg->seq);
    htga_st_le32(h + 32, msg->count);
    htga_st_le32(h + 36, msg->kind == WIRE_SAMPLES || msg->kind == WIRE_BARRIER ? msg->cluster : 0);
    htga_st_le64(h + 40, msg->dropped);
    if (msg->run_len)
        memcpy(h + WIRE_FIXED_LEN, msg->run, msg->run_len);
    if (msg->group_len)
        memcpy(h + WIRE_FIXED_LEN + msg->run_len, msg->group, msg->group_len);
    return len;
}

void wire_encode_lambda(const wire_lambda *lam, void *buf)
{
    unsigned char *b = buf;
    st_f64(b, lam->lambda);
    st_f64(b + 8, lam->alpha);
    htga_st_le64(b + 16, lam->block);
    htga_st_le64(b + 24, (uint64_t)lam->step);
    htga_st_le32(b + 32, lam->reason);
    htga_st_le32(b + 36, lam->flags);
}

void wire_decode_lambda(const void *buf, wire_lambda *lam)
{
    const unsigned char *b = buf;
    lam->lambda = ld_f64(b);
    lam->alpha = ld_f64(b + 8);
    lam->block = htga_ld_le64(b + 16);
    lam->step = (int64_t)htga_ld_le64(b + 24);
    lam->reason = htga_ld_le32(b + 32);
    lam->flags = htga_ld_le32(b + 36);
}

void wire_encode_ack(const wire_ack *ack, void *buf)
{
    unsigned char *b = buf;
    htga_st_le64(b, ack->msgs);
    htga_st_le64(b + 8, ack->values);
    htga_st_le64(b + 16, ack->values_refused);
    htga_st_le64(b + 24, ack->blocks_stored);
    htga_st_le64(b + 32, ack->blocks_lost);
    htga_st_le32(b + 40, ack->status);
    htga_st_le32(b + 44, ack->flags);
}

void wire_decode_ack(const void *buf, wire_ack *ack)
{
    const unsigned char *b = buf;
    ack->msgs = htga_ld_le64(b);
    ack->values = htga_ld_le64(b + 8);
    ack->values_refused = htga_ld_le64(b + 16);
    ack->blocks_stored = htga_ld_le64(b + 24);
    ack->blocks_lost = htga_ld_le64(b + 32);
    ack->status = htga_ld_le32(b + 40);
    ack->flags = htga_ld_le32(b + 44);
}

void wire_encode_budget(const wire_budget *bu, void *buf)
{
    unsigned char *b = buf;
    htga_st_le32(b, bu->values);
    htga_st_le32(b + 4, bu->every);
    htga_st_le32(b + 8, bu->ranks);
    htga_st_le32(b + 12, bu->flags);
}

void wire_decode_budget(const void *buf, wire_budget *bu)
{
    const unsigned char *b = buf;
    bu->values = htga_ld_le32(b);
    bu->every = htga_ld_le32(b + 4);
    bu->ranks = htga_ld_le32(b + 8);
    bu->flags = htga_ld_le32(b + 12);
}
