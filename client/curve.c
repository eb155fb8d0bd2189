/*
 * curve.c - libhtga's CURVE keys (docs/security.md): checking Z85 text,
 * reading a `htga keygen` file, taking them from the environment, and
 * handing them to the socket.
 *
 * DESIGN: the keys live in the handle under h->mu (htga_set_str may come
 * from any thread); only the I/O thread, which owns the socket, applies
 * them: at open, and when htga_set_str asked for a reconnect
 * (h->curve_reconnect).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "internal.h"

int curve_key_ok(const char *v)
{
    static const char z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              ".-:+=^!/*?&<>()[]{}@%$#";
    return v && strlen(v) == 40 && strspn(v, z85) == 40;
}

int curve_read_key_file(const char *path, char *pub, char *sec, char *srv)
{
    char line[256], word[16], key[64];
    FILE *f = fopen(path, "r");
    int rc = 0, lines = 0;
    if (!f)
        return -1;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        if (++lines > 64) { /* a key file is a few lines (a device never ends) */
            rc = -1;
            break;
        }
        if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
            continue;
        if (sscanf(line, "%15s %63s", word, key) != 2 || !curve_key_ok(key))
            rc = -1;
        else if (strcmp(word, "public") == 0)
            memcpy(pub, key, 41);
        else if (strcmp(word, "secret") == 0)
            memcpy(sec, key, 41);
        else if (strcmp(word, "server") == 0)
            memcpy(srv, key, 41);
        else
            rc = -1;
    }
    fclose(f);
    return rc;
}

int curve_from_env(htga *h)
{
    const char *file = getenv("HTGA_CURVE_KEY_FILE");
    const char *srv = getenv("HTGA_CURVE_SERVER_KEY");
    if (file && *file &&
        curve_read_key_file(file, h->curve_public, h->curve_secret, h->curve_server) != 0)
        return -1;
    if (srv && *srv) {
        if (!curve_key_ok(srv))
            return -1;
        memcpy(h->curve_server, srv, 41);
    }
    return 0;
}

int curve_apply(htga *h, void *sock)
{
    char pub[41], sec[41], srv[41];

    pthread_mutex_lock(&h->mu);
    if (h->curve_server[0] && (!h->curve_public[0] || !h->curve_secret[0]) &&
        zmq_curve_keypair(h->curve_public, h->curve_secret) != 0) {
        pthread_mutex_unlock(&h->mu);
        return -1;
    }
    memcpy(pub, h->curve_public, 41);
    memcpy(sec, h->curve_secret, 41);
    memcpy(srv, h->curve_server, 41);
    h->curve_reconnect = 0;
    pthread_mutex_unlock(&h->mu);
    if (!srv[0])
        return 0;
    return zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, srv, 40) ||
                   zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pub, 40) ||
                   zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, 40)
               ? -1
               : 0;
}

int htga_set_str(htga *h, htga_option opt, const char *value)
{
    char pub[41], sec[41], srv[41];
    int rc = HTGA_OK;
    if (!h || !value)
        return HTGA_EINVAL;
    if (opt < HTGA_OPT_CURVE_SERVER_KEY || opt > HTGA_OPT_CURVE_KEY_FILE || !zmq_has("curve"))
        return HTGA_ENOTSUP;
    pthread_mutex_lock(&h->mu);
    memcpy(pub, h->curve_public, 41);
    memcpy(sec, h->curve_secret, 41);
    memcpy(srv, h->curve_server, 41);
    pthread_mutex_unlock(&h->mu);
    if (opt == HTGA_OPT_CURVE_KEY_FILE) {
        if (curve_read_key_file(value, pub, sec, srv) != 0 || !pub[0] || !sec[0])
            rc = HTGA_EINVAL;
    } else if (!curve_key_ok(value)) {
        rc = HTGA_EINVAL;
    } else {
        memcpy(opt == HTGA_OPT_CURVE_SERVER_KEY   ? srv
               : opt == HTGA_OPT_CURVE_PUBLIC_KEY ? pub
                                                  : sec,
               value, 41);
    }
    if (rc != HTGA_OK)
        return rc;
    pthread_mutex_lock(&h->mu);
    memcpy(h->curve_public, pub, 41);
    memcpy(h->curve_secret, sec, 41);
    memcpy(h->curve_server, srv, 41);
    h->curve_reconnect = srv[0] != '\0'; /* the I/O thread reconnects with the keys */
    pthread_mutex_unlock(&h->mu);
    htga__wake(h);
    return HTGA_OK;
}
