#!/usr/bin/env bash
# --retention-s in the real htgad: the writer drops old blocks to their
# rollups on its own (daemon/store/retention.c through the writer's hook), keeps
# storing what arrives meanwhile, and the file's pages go back.
# Usage: retention_daemon_test.sh HTGAD HTGA
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
htgad=$1
htga=$2
need_tools sqlite3 python3
test_tmp retention
q() { sqlite3 "$tmp/t.db" "$1"; }

endpoint=tcp://127.0.0.1:$(free_port)
"$htgad" --db "$tmp/t.db" --listen "$endpoint" --http 127.0.0.1:$(free_port) \
    --block-samples 64 --queue-blocks 1024 --retention-s 1 --log-level debug 2> "$tmp/log" &
pid=$!
pids+=("$pid")
python3 -c 'import struct, random; r = random.Random(1)
open("'"$tmp"'/x.f32", "wb").write(struct.pack("<12800f", *(r.gauss(0, 1) / max(r.random(), 1e-9) ** 0.5 for _ in range(12800))))'
# one message of 12800 values: 200 blocks of 64
"$htga" send --endpoint "$endpoint" --run r --group g --step 0 --max-samples 0 "$tmp/x.f32"
rows() { [ "$(q 'SELECT count(*) FROM blocks')" = "$1" ]; }
wait_for 20 rows 200 || { echo "not all 200 blocks stored"; tail "$tmp/log"; exit 1; }
[ "$(q 'PRAGMA auto_vacuum')" = 2 ] || { echo "new database without incremental auto_vacuum"; exit 1; }

# chunks 0-2 (blocks 0..191) are complete, summarised and, after a second, old;
# chunk 3 holds the latest block and stays
pruned() { [ "$(q 'SELECT min(block) FROM blocks')" = 192 ]; }
wait_for 30 pruned || { echo "retention did not run: first block $(q 'SELECT min(block) FROM blocks')"; tail "$tmp/log"; exit 1; }
[ "$(q 'SELECT count(*) FROM blocks')" = 8 ] || { echo "expected blocks 192..199 left"; exit 1; }
[ "$(q 'SELECT count(*) FROM series_rollup WHERE level = 64')" = 3 ] || { echo "rollups lost"; exit 1; }
[ "$(q 'PRAGMA freelist_count')" = 0 ] || { echo "freed pages not returned: $(q 'PRAGMA freelist_count')"; exit 1; }

# ingest carries on: 200 more blocks are stored
"$htga" send --endpoint "$endpoint" --run r --group g --step 200 --max-samples 0 "$tmp/x.f32"
latest() { [ "$(q 'SELECT max(block) FROM blocks')" = 399 ]; }
wait_for 20 latest || { echo "blocks after retention not stored"; tail "$tmp/log"; exit 1; }
stop_htgad "$pid" "$tmp/log"
echo "ok: blocks 0..191 dropped to 3 rollup rows, 0 free pages, ingest went on"
