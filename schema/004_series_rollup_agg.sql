-- 004_series_rollup_agg.sql: every series_rollup row's aggregates also
-- packed into one BLOB, in a narrow table of their own, series_rollup_agg,
-- which the HTTP series query reads instead of the wide rows (issue 4: p99
-- under full-rate ingest). A series_rollup row is ~950 bytes, 4 a 4 KiB
-- page; a series_rollup_agg row ~490, 8 a page. Under ingest SQLite drops
-- a reader's page cache whenever the WAL changed, so every request re-reads
-- the pages of its ~1000-2000 rows: half the pages, half that work. Reading
-- one BLOB also spares SQLite parsing a 63-column record header (the column
-- reads of a ~1000-row answer were half its CPU).
--
-- agg, all little-endian: block_first, n_blocks, step_first, step_last as
-- signed 64-bit integers, then ROLLUP_NFIELDS (14) fields in the order of
-- daemon/rollup.h, each F_min, F_max, F_sum as IEEE-754 doubles and F_cnt
-- as a signed 64-bit integer: 480 bytes. F_min and F_max are 0 where F_cnt
-- is 0 (the columns hold NULL). series_rollup keeps its columns: they are
-- what sqlite3, pandas or another process read, and agg always equals them.
--
-- SQL cannot pack doubles, so a series_rollup row written or changed by SQL
-- (this migration's existing rows, 003's statements run by hand or by a
-- benchmark) loses its agg row and gets a row in series_rollup_unpacked
-- instead, through the triggers below. htgad packs those when it opens the
-- database (store_open), its writer packs every row it writes (in the same
-- transaction, leaving no mark), and the HTTP query reads the columns of a
-- range where it finds a mark. In steady state series_rollup_unpacked is
-- empty and every series_rollup row has exactly one series_rollup_agg row.

CREATE TABLE series_rollup_agg (
    group_id INTEGER NOT NULL,
    level    INTEGER NOT NULL,
    chunk    INTEGER NOT NULL,
    agg      BLOB NOT NULL,     -- daemon/rollup.h: ROLLUP_AGG_BYTES
    PRIMARY KEY (group_id, level, chunk)
) WITHOUT ROWID;

-- series_rollup rows whose agg is missing (empty in steady state).
CREATE TABLE series_rollup_unpacked (
    group_id INTEGER NOT NULL,
    level    INTEGER NOT NULL,
    chunk    INTEGER NOT NULL,
    PRIMARY KEY (group_id, level, chunk)
) WITHOUT ROWID;

INSERT INTO series_rollup_unpacked (group_id, level, chunk)
SELECT group_id, level, chunk FROM series_rollup;

CREATE TRIGGER series_rollup_insert AFTER INSERT ON series_rollup BEGIN
    DELETE FROM series_rollup_agg
        WHERE group_id = new.group_id AND level = new.level AND chunk = new.chunk;
    INSERT OR IGNORE INTO series_rollup_unpacked (group_id, level, chunk)
        VALUES (new.group_id, new.level, new.chunk);
END;

CREATE TRIGGER series_rollup_update AFTER UPDATE ON series_rollup BEGIN
    DELETE FROM series_rollup_agg
        WHERE group_id = old.group_id AND level = old.level AND chunk = old.chunk;
    DELETE FROM series_rollup_unpacked
        WHERE group_id = old.group_id AND level = old.level AND chunk = old.chunk;
    DELETE FROM series_rollup_agg
        WHERE group_id = new.group_id AND level = new.level AND chunk = new.chunk;
    INSERT OR IGNORE INTO series_rollup_unpacked (group_id, level, chunk)
        VALUES (new.group_id, new.level, new.chunk);
END;

CREATE TRIGGER series_rollup_delete AFTER DELETE ON series_rollup BEGIN
    DELETE FROM series_rollup_agg
        WHERE group_id = old.group_id AND level = old.level AND chunk = old.chunk;
    DELETE FROM series_rollup_unpacked
        WHERE group_id = old.group_id AND level = old.level AND chunk = old.chunk;
END;
