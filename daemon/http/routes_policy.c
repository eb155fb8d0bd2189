/*
 * routes_policy: GET and PUT /api/v1/runs/{run}/policy, and the policy
 * object /runs/{run} shows.
 *
 * Design: a PUT body is merged over the run's current policy and checked
 * by the one policy validator (policy_validate, daemon/policy.c), then
 * handed to the daemon through cfg.on_policy; the server never writes to
 * the database. The policies handed over are remembered (srv->sent) so a
 * second PUT merges over the first even before the daemon's writer has
 * stored it. GET reads the stored changes (policy_changes), newest first,
 * or reports cfg.default_policy when a run has none.
 */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "queries.h"
#include "sql.h"

/* Reads the policy columns of a Q_POLICY row into *p (an unknown kind
 * reads as linear). */
static void policy_of_row(sqlite3_stmt *st, policy *p)
{
    if (policy_kind_of((const char *)sqlite3_column_text(st, 0), &p->kind) < 0)
        p->kind = POLICY_LINEAR;
    p->param = sqlite3_column_double(st, 1);
    p->lambda_min = sqlite3_column_double(st, 2);
    p->lambda_max = sqlite3_column_double(st, 3);
    p->ema = sqlite3_column_double(st, 4);
}

/* Appends p as the API shows a policy: "kind", "c" (linear) or "q"
 * (power), "lambda_min", "lambda_max", "ema"; members only, no braces. */
static void policy_members_json(hbuf *b, const policy *p)
{
    hbuf_printf(b, "\"kind\":\"%s\",\"%s\":", policy_kind_name(p->kind),
                p->kind == POLICY_POWER ? "q" : "c");
    hbuf_json_num(b, p->param);
    hbuf_puts(b, ",\"lambda_min\":");
    hbuf_json_num(b, p->lambda_min);
    hbuf_puts(b, ",\"lambda_max\":");
    hbuf_json_num(b, p->lambda_max);
    hbuf_puts(b, ",\"ema\":");
    hbuf_json_num(b, p->ema);
}

/* Appends a Q_POLICY row as a JSON object: the policy, its source and
 * when it changed. */
static void policy_row(hbuf *b, sqlite3_stmt *st)
{
    policy p;
    policy_of_row(st, &p);
    hbuf_put(b, "{", 1);
    policy_members_json(b, &p);
    hbuf_puts(b, ",\"source\":");
    sql_col_json(b, st, 5);
    hbuf_puts(b, ",\"changed_at\":");
    sql_col_json(b, st, 6);
    hbuf_put(b, "}", 1);
}

int policy_json(hbuf *b, sqlite3 *db, const struct http_server *s, int64_t run_id, int history)
{
    sqlite3_stmt *st = sql_prep(db, Q_POLICY);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == 0) {
            policy_row(b, st);
            if (!history) {
                n++;
                break;
            }
            b->len--; /* reopen the object */
            hbuf_puts(b, ",\"history\":[");
        } else {
            hbuf_put(b, ",", 1);
        }
        policy_row(b, st);
        n++;
    }
    sql_unprep(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return -1;
    if (n > 0) {
        if (history)
            hbuf_puts(b, "]}");
        return 0;
    }
    hbuf_put(b, "{", 1);
    policy_members_json(b, &s->cfg.default_policy);
    hbuf_puts(b, ",\"source\":\"default\",\"changed_at\":null");
    hbuf_puts(b, history ? ",\"history\":[]}" : "}");
    return 0;
}

int handle_policy_get(const struct request *r, struct reply *rep)
{
    sqlite3 *db;
    const char *run = r->route->run;
    int64_t rid;
    if (req_only_params(r, req_no_params, rep) || req_run_ids(r, rep, &db, &rid, NULL))
        return 0;
    hbuf b = {0};
    hbuf_puts(&b, "{\"run\":");
    hbuf_json_str(&b, run);
    hbuf_puts(&b, ",\"policy\":");
    if (policy_json(&b, db, r->srv, rid, 1) != 0) {
        hbuf_free(&b);
        return reply_sql_error(rep, db);
    }
    hbuf_puts(&b, "}\n");
    return reply_buf(rep, &b, "application/json");
}

/* Reads an optional finite number member; returns 0, or -1 when present
 * but not a number. */
static int opt_num(json_t *o, const char *key, double *out, int *present)
{
    json_t *v = json_object_get(o, key);
    *present = v != NULL;
    if (!v)
        return 0;
    if (!json_is_number(v))
        return -1;
    *out = json_number_value(v);
    return isfinite(*out) ? 0 : -1;
}

const char *http_parse_policy_body(const char *body, size_t len, policy *p)
{
    json_error_t jerr;
    json_t *o = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    const char *msg = NULL;
    if (!o || !json_is_object(o)) {
        msg = "body must be a JSON object";
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val)
    {
        static const char *const keys[] = {"kind", "c", "q", "lambda_min", "lambda_max", "ema"};
        int ok = 0;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            ok |= strcmp(key, keys[i]) == 0;
        if (!ok) {
            msg = "unknown member (allowed: kind, c, q, lambda_min, lambda_max, ema)";
            goto out;
        }
    }
    if (policy_kind_of(json_string_value(json_object_get(o, "kind")), &p->kind) < 0) {
        msg = "kind must be \"linear\" or \"power\"";
        goto out;
    }
    double c = 0, q = 0;
    int has_c, has_q, has;
    if (opt_num(o, "c", &c, &has_c) || opt_num(o, "q", &q, &has_q)) {
        msg = "c and q must be finite numbers";
        goto out;
    }
    if (p->kind == POLICY_LINEAR && (!has_c || has_q)) {
        msg = "linear policy needs c > 0 and no q";
        goto out;
    }
    if (p->kind == POLICY_POWER && (!has_q || has_c)) {
        msg = "power policy needs q > 1 and no c";
        goto out;
    }
    p->param = p->kind == POLICY_POWER ? q : c;
    if (opt_num(o, "lambda_min", &p->lambda_min, &has) ||
        opt_num(o, "lambda_max", &p->lambda_max, &has) || opt_num(o, "ema", &p->ema, &has)) {
        msg = "lambda_min, lambda_max and ema must be finite numbers";
        goto out;
    }
    policy_validate(p, POLICY_NAMES_JSON, &msg);
out:
    json_decref(o);
    return msg;
}

/* Overwrites *p with run id's latest stored policy, when there is one, so
 * members a PUT omits keep their current values. 0, or -1 on an SQL error. */
static int current_policy(sqlite3 *db, int64_t run_id, policy *p)
{
    sqlite3_stmt *st = sql_prep(db, Q_POLICY);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        policy_of_row(st, p);
    sql_unprep(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* The policy this server last handed to the daemon for run, if it still
 * remembers it: 1 with *p set, else 0. Under srv->pol_mu. */
static int sent_policy(const struct http_server *srv, const char *run, policy *p)
{
    for (unsigned i = 1; i <= HTTP_POLICY_RECENT; i++) {
        const struct policy_sent *e = &srv->sent[(srv->sent_next - i) % HTTP_POLICY_RECENT];
        if (e->run[0] != '\0' && strcmp(e->run, run) == 0) {
            *p = e->p;
            return 1;
        }
    }
    return 0;
}

/* Remembers that p was handed to the daemon for run. Under srv->pol_mu. */
static void remember_policy(struct http_server *srv, const char *run, const policy *p)
{
    struct policy_sent *e = &srv->sent[srv->sent_next++ % HTTP_POLICY_RECENT];
    snprintf(e->run, sizeof e->run, "%s", run);
    e->p = *p;
}

/* Merges the body over the run's current policy and hands the result to
 * the daemon. The current policy is the one this server last handed over
 * (the daemon applies it at once, its writer stores it later), else the
 * latest stored one, else the default: two quick partial PUTs then both
 * take effect. Returns 0, or an HTTP status with msg set. */
static int put_policy(struct http_server *srv, sqlite3 *db, int64_t rid, const struct request *r,
                      policy *p, char *err, size_t errlen, const char **msg)
{
    const char *run = r->route->run;
    *p = srv->cfg.default_policy;
    if (!sent_policy(srv, run, p) && current_policy(db, rid, p) != 0) {
        snprintf(err, errlen, "database error: %s", sqlite3_errmsg(db));
        return *msg = err, 500;
    }
    if ((*msg = http_parse_policy_body(r->body, r->body_len, p)) != NULL)
        return 400;
    if (!srv->cfg.on_policy)
        return *msg = "policy updates are not wired to the daemon", 503;
    int rc = srv->cfg.on_policy(srv->cfg.policy_ud, run, p, err, errlen);
    if (rc == HTTP_OK || rc == HTTP_PENDING) {
        remember_policy(srv, run, p);
        return rc == HTTP_OK ? 0 : 202;
    }
    if (rc == HTTP_ENOTFOUND)
        return *msg = *err ? err : "unknown run", 404;
    if (rc == HTTP_EINVAL)
        return *msg = *err ? err : "policy rejected", 400;
    if (rc == HTTP_EBUSY)
        return *msg = *err ? err : "htgad has no room for the change now; try again", 503;
    return *msg = *err ? err : "the daemon could not apply the policy", 500;
}

int handle_policy_put(const struct request *r, struct reply *rep)
{
    const char *run = r->route->run;
    if (req_only_params(r, req_no_params, rep))
        return 0;
    sqlite3 *db;
    int64_t rid;
    if (req_run_ids(r, rep, &db, &rid, NULL))
        return 0;
    policy p;
    char err[160] = "";
    const char *msg = NULL;
    pthread_mutex_lock(&r->srv->pol_mu);
    int status = put_policy(r->srv, db, rid, r, &p, err, sizeof err, &msg);
    pthread_mutex_unlock(&r->srv->pol_mu);
    if (status && status != 202) {
        reply_error(rep, status, msg);
        if (status == 503)
            rep->retry_after = "1"; /* no room this moment: a command or a slot frees soon */
        return 0;
    }
    hbuf b = {0};
    hbuf_puts(&b, "{\"run\":");
    hbuf_json_str(&b, run);
    hbuf_puts(&b, ",\"policy\":{");
    policy_members_json(&b, &p);
    /* 200: stored, with each group's lambda re-derived from its latest
     * block, stored and pushed; 202: taken, applies, not yet stored */
    hbuf_puts(&b, status == 202 ? "},\"applies\":\"taken; stored and pushed once htgad's writer "
                                  "catches up (GET policy shows it then)\"}\n"
                                : "},\"applies\":\"now: stored, and each group's lambda "
                                  "re-derived from its latest block, stored and pushed; later "
                                  "blocks use it\"}\n");
    reply_buf(rep, &b, "application/json");
    if (status == 202 && rep->status == 200)
        rep->status = 202;
    return 0;
}
