/*
 * store_fixture.h - the store and writer tests' shared fixture (a fresh
 * database path per test, removed after it) and helpers.
 */
#ifndef HTGAD_TEST_STORE_FIXTURE_H
#define HTGAD_TEST_STORE_FIXTURE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

extern char dbpath[64];

/* The suite's .init and .fini: a database path that does not exist yet,
 * and its files removed after. */
void setup(void);
void teardown(void);

/* A single integer (-1 when no row) or the first column as text (static
 * buffer) of a query. */
int64_t query_int(sqlite3 *db, const char *sql);
const char *query_text(sqlite3 *db, const char *sql);

/* A block item of (run, group) in slots run_slot / slot with Hill alpha
 * and lambda, a few top order statistics. */
store_item *block_item(uint32_t run_slot, uint32_t slot, const char *run, const char *group,
                       uint64_t block, double alpha, double lambda);

/* Makes the database of an older htgad: its first `migrations` migrations,
 * then sql (its rows and PRAGMA user_version). */
void old_database(int migrations, const char *sql);

/* Runs a writer over the items (taken), then stops it. */
void write_items(store_item **items, size_t n);

/* Runs a writer over count blocks of run/group numbered from first. */
void run_writer(const char *run, const char *group, uint64_t first, int count);

/* A block of group in slot whose fields vary with b. */
store_item *varied_block(uint32_t slot, const char *group, uint64_t b);

/* Pushes blocks [b0, b1) of group g through a new writer (slot `slot`,
 * as after a restart), except those in [skip0, skip1). */
void write_range(uint32_t slot, const char *g, uint64_t b0, uint64_t b1, uint64_t skip0,
                 uint64_t skip1);

/* Checks every series_rollup_agg blob against its row's columns; returns
 * how many rows were checked. */
int64_t check_agg_is_columns(sqlite3 *db);

#endif /* HTGAD_TEST_STORE_FIXTURE_H */
