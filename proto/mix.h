/*
 * mix.h - the small pure helpers the client, the daemon and the estimators
 * share (header-only, static inline): FNV-1a for the name tables, splitmix64
 * for seeding and reproducible draws (and a uniform double from it), the
 * bit casts between a double or a float and its IEEE 754 bits, and
 * little-endian loads and stores (the wire format, the rollup blobs, .npy
 * files). One copy of each, here in proto/, the module every side may
 * include.
 */
#ifndef HTGA_MIX_H
#define HTGA_MIX_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HTGA_FNV_SEED 14695981039346656037ull

/* FNV-1a of len bytes at data, continuing from h (HTGA_FNV_SEED to start). */
static inline uint64_t htga_fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* splitmix64 (Steele, Lea and Flood 2014): advances *x and returns the
 * next well-mixed 64-bit value. */
static inline uint64_t htga_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A uniform draw in the open interval (0, 1) from splitmix64: the top 53
 * bits, centred in their cell, so log() of it is always finite. */
static inline double htga_uniform01(uint64_t *x)
{
    return ((double)(htga_splitmix64(x) >> 11) + 0.5) * 0x1.0p-53;
}

static inline uint64_t htga_f64_bits(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof u);
    return u;
}

static inline double htga_bits_f64(uint64_t u)
{
    double d;

    memcpy(&d, &u, sizeof d);
    return d;
}

static inline uint32_t htga_f32_bits(float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float htga_bits_f32(uint32_t u)
{
    float f;

    memcpy(&f, &u, sizeof f);
    return f;
}

/* Little-endian loads and stores of p[0..4) or p[0..8), any alignment,
 * whatever the host's byte order (one load or store on little-endian). */
static inline uint32_t htga_ld_le32(const unsigned char *p)
{
    uint32_t u;

    memcpy(&u, p, sizeof u);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    u = __builtin_bswap32(u);
#endif
    return u;
}

static inline uint64_t htga_ld_le64(const unsigned char *p)
{
    uint64_t u;

    memcpy(&u, p, sizeof u);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    u = __builtin_bswap64(u);
#endif
    return u;
}

static inline void htga_st_le32(unsigned char *p, uint32_t u)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    u = __builtin_bswap32(u);
#endif
    memcpy(p, &u, sizeof u);
}

static inline void htga_st_le64(unsigned char *p, uint64_t u)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    u = __builtin_bswap64(u);
#endif
    memcpy(p, &u, sizeof u);
}

#endif /* HTGA_MIX_H */
