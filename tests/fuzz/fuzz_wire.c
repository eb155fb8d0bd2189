/*
 * fuzz_wire.c - libFuzzer target for the wire decoder (proto/wire.c).
 *
 * Input layout: byte 0 is the frame count (0..3, taken mod 4); then, for every
 * frame but the last, a 2-byte little-endian length (cut to what is left);
 * the last frame takes the rest. Each frame is copied into its own exactly
 * sized heap buffer so that AddressSanitizer sees any read past a frame.
 * When a message decodes, it is re-encoded and must decode to the same
 * fields: the encoder and decoder agree on every valid header.
 * The seed corpus is tests/fuzz/corpus/wire/; tests/wire replays it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const wire_msg *m)
{
    unsigned char hdr[WIRE_HEADER_MAX];
    size_t len = wire_encode_header(m, hdr, sizeof hdr);
    const void *frames[2] = {hdr, m->body};
    size_t lens[2] = {len, m->body_len};
    wire_msg back;
    if (len == 0 ||
        wire_decode(frames, lens, wire_frames((wire_kind)m->kind), &back, NULL) != WIRE_OK)
        abort();
    if (back.kind != m->kind || back.rank != m->rank || back.step != m->step ||
        back.seq != m->seq || back.count != m->count || back.cluster != m->cluster ||
        back.dropped != m->dropped || back.run_len != m->run_len ||
        back.group_len != m->group_len || memcmp(back.run, m->run, m->run_len) != 0 ||
        (m->group_len && memcmp(back.group, m->group, m->group_len) != 0))
        abort();
    if (m->kind == WIRE_LAMBDA) {
        wire_lambda lam;
        unsigned char again[WIRE_LAMBDA_LEN];
        wire_decode_lambda(m->body, &lam);
        wire_encode_lambda(&lam, again);
        if (memcmp(again, m->body, WIRE_LAMBDA_LEN) != 0)
            abort();
    } else if (m->kind == WIRE_ACK) {
        wire_ack ack;
        unsigned char again[WIRE_ACK_LEN];
        wire_decode_ack(m->body, &ack);
        wire_encode_ack(&ack, again);
        if (memcmp(again, m->body, WIRE_ACK_LEN) != 0)
            abort();
    } else if (m->kind == WIRE_BUDGET) {
        wire_budget b;
        unsigned char again[WIRE_BUDGET_LEN];
        wire_decode_budget(m->body, &b);
        wire_encode_budget(&b, again);
        if (memcmp(again, m->body, WIRE_BUDGET_LEN) != 0 || b.values < 1 || b.every < 1)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *frames[3] = {NULL, NULL, NULL};
    size_t lens[3] = {0, 0, 0};
    size_t nframes, pos = 1;
    wire_msg m;
    wire_error e;

    if (size < 1)
        return 0;
    nframes = data[0] % 4;
    for (size_t i = 0; i < nframes; i++) {
        size_t len = size - pos;
        if (i + 1 < nframes) {
            size_t want = pos + 2 <= size ? (size_t)(data[pos] | data[pos + 1] << 8) : 0;
            pos = pos + 2 <= size ? pos + 2 : size;
            len = want < size - pos ? want : size - pos;
        }
        frames[i] = malloc(len ? len : 1);
        if (!frames[i])
            goto out;
        memcpy(frames[i], data + pos, len);
        lens[i] = len;
        pos += len;
    }
    for (int dir = WIRE_DIR_ANY; dir <= WIRE_DIR_TO_CLIENT; dir++) {
        wire_err rc =
            wire_decode_dir((const void *const *)frames, lens, nframes, (wire_dir)dir, &m, &e);
        if (rc != e.code || (unsigned)rc >= WIRE_E__COUNT || !e.text)
            abort();
        if (rc == WIRE_OK)
            check_round_trip(&m);
    }
out:
    for (size_t i = 0; i < 3; i++)
        free(frames[i]);
    return 0;
}
