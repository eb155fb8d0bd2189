#!/usr/bin/env bash
# docs/scaling.md's set-up, for real: two htgad instances, each with its own
# run (fed by `htga send`, as a trainer's samples), and one real Prometheus
# scraping both. Prometheus's HTTP API must return both runs' alpha, each
# with the value its htgad stored, under that htgad's instance label; and
# every query of the Grafana dashboard (deploy/grafana) must answer.
# Loopback only, ports chosen by the kernel, every wait bounded.
# Usage: prometheus_cluster_test.sh HTGAD HTGA SOURCE_ROOT
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
htgad=$1
htga=$2
root=$3
need_tools prometheus curl sqlite3 python3
test_tmp cluster

# start_htgad NAME: htgad on free ports (its log names them), temp DB.
start_htgad() {
    "$htgad" --db "$tmp/$1.db" --listen 'tcp://127.0.0.1:*' --http 127.0.0.1:$(free_port) \
        --block-samples 4096 --web-root "$root/web" 2> "$tmp/$1.log" &
    pids+=($!)
    wait_for 20 grep -q 'http API on' "$tmp/$1.log" || { echo "htgad $1 did not start"; cat "$tmp/$1.log"; exit 1; }
    sed -n 's/.*listening on \(tcp:[^,]*\),.*/\1/p' "$tmp/$1.log" > "$tmp/$1.zmq"
    sed -n 's/.*http API on [^ ]* (port \([0-9]*\)).*/\1/p' "$tmp/$1.log" > "$tmp/$1.port"
}
start_htgad a
start_htgad b

# Student-t(3) values for run-a, Pareto(1.5)-like for run-b: different alphas.
python3 - "$tmp" <<'PY'
import random, struct, sys
r = random.Random(7)
def t3():
    z = r.gauss(0, 1)
    return z / ((r.gammavariate(1.5, 2.0) / 3) ** 0.5)
with open(sys.argv[1] + "/a.f32", "wb") as f:
    f.write(struct.pack("<%df" % 16384, *(t3() for _ in range(16384))))
with open(sys.argv[1] + "/b.f32", "wb") as f:
    f.write(struct.pack("<%df" % 16384, *(r.choice((-1, 1)) * r.random() ** (-1 / 1.5) for _ in range(16384))))
PY
"$htga" send --endpoint "$(cat "$tmp/a.zmq")" --run run-a --group fc1 --step 0 --chunk 4096 --max-samples 0 "$tmp/a.f32"
"$htga" send --endpoint "$(cat "$tmp/b.zmq")" --run run-b --group conv1 --step 0 --chunk 4096 --max-samples 0 "$tmp/b.f32"
stored() { [ "$(sqlite3 "$tmp/$1.db" "SELECT count(*) FROM estimates" 2>/dev/null)" = 4 ]; }
wait_for 20 stored a || { echo "htgad a stored no blocks"; cat "$tmp/a.log"; exit 1; }
wait_for 20 stored b || { echo "htgad b stored no blocks"; cat "$tmp/b.log"; exit 1; }

pa=$(cat "$tmp/a.port")
pb=$(cat "$tmp/b.port")
pport=$(free_port)
cat > "$tmp/prometheus.yml" <<YML
global:
  scrape_interval: 1s
rule_files:
  - $root/deploy/prometheus/htga.rules.yml
scrape_configs:
  - job_name: htgad
    static_configs:
      - targets: ['127.0.0.1:$pa', '127.0.0.1:$pb']
YML
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
    --web.listen-address="127.0.0.1:$pport" > "$tmp/prometheus.log" 2>&1 &
pids+=($!)
api="http://127.0.0.1:$pport/api/v1"

# query PROMQL: the JSON answer of an instant query.
query() { curl -sf --get --data-urlencode "query=$1" "$api/query"; }
# Both runs' alpha, and enough scrapes for rate() over the dashboard's window.
both() {
    query 'count(htga_alpha) == 2 and on() count_over_time(up{job="htgad"}[1m]) >= 3' | grep -q '"result":\[{'
}
wait_for 60 both || { echo "Prometheus never had both runs' alpha"; query htga_alpha || true; tail -20 "$tmp/prometheus.log"; exit 1; }

out=$(query htga_alpha)
echo "htga_alpha via Prometheus: $out"
python3 - "$out" "$tmp" "$pa" "$pb" <<'PY'
import json, sqlite3, sys
res = json.loads(sys.argv[1])["data"]["result"]
tmp, pa, pb = sys.argv[2:5]
got = {m["metric"]["run"]: (m["metric"]["group"], m["metric"]["instance"], float(m["value"][1])) for m in res}
for run, group, name, port in (("run-a", "fc1", "a", pa), ("run-b", "conv1", "b", pb)):
    db = sqlite3.connect(f"{tmp}/{name}.db")
    want = db.execute("SELECT alpha FROM estimates WHERE run = ? ORDER BY block DESC LIMIT 1", (run,)).fetchone()[0]
    g, inst, v = got[run]
    assert (g, inst) == (group, f"127.0.0.1:{port}"), (run, g, inst)
    assert abs(v - want) <= 1e-12 * abs(want), (run, v, want)
    print(f"{run}: alpha {v:.4f} from {inst}, as its htgad stored it")
assert got["run-a"][2] > got["run-b"][2], "Student-t(3) must have the larger alpha than the Pareto(1.5) tail"
PY

# Every Grafana panel's query answers, with the dashboard's variables at "All".
python3 - "$root/deploy/grafana/htga-dashboard.json" > "$tmp/exprs" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for p in d["panels"]:
    for t in p["targets"]:
        e = t["expr"]
        for var, val in (("$job", ".*"), ("$instance", ".*"), ("$run", ".*"), ("$group", ".*"), ("$__rate_interval", "1m")):
            e = e.replace(var, val)
        print(p["title"] + "\t" + e)
PY
n=0
while IFS=$'\t' read -r title expr; do
    query "$expr" | grep -q '"result":\[{' || { echo "dashboard panel '$title': no data for $expr"; exit 1; }
    n=$((n + 1))
done < "$tmp/exprs"
echo "$n dashboard queries answered"
# The rules loaded and are evaluated against the real series.
curl -sf "$api/rules" | grep -q '"name":"HtgaHeavyTail"' || { echo "alerting rules not loaded"; exit 1; }
echo "ok: two htgad, two runs, one Prometheus"
