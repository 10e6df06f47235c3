#!/usr/bin/env bash
# The financial opinion monitor's acceptance check (issue 14), scripted:
#   train both sentiment recipes (cached when already trained), start `llmline watch` on a
#   directory, drop one file of posts per simulated day into it (a calm week of real English and
#   Chinese sentences, then negative surges injected per entity), see the per-entity series and
#   the alerts for the injected surges, and write the daily brief of the surge day.
#
#   benchmarks/watch_check.sh [WORKSPACE]     (default ./llmline-workspace)
#
# Environment: LLMLINE (default .venv/bin/llmline), PYTHON (default .venv/bin/python),
# SKIP_TRAIN=1 (the models are there already), CALM_DAYS (default 7), MODEL_EN / MODEL_ZH (default models:/finance-sentiment-{en,zh}@champion; e.g. the ONNX int8
# variants that `llmline optimize` registers: models:/finance-sentiment-en-onnx-int8@candidate).
# Needs ../shared/datasets (the posts are Financial PhraseBank, FiQA and FinFE sentences).
set -euo pipefail
cd "$(dirname "$0")/.."
WS=${1:-./llmline-workspace}
LLMLINE=${LLMLINE:-.venv/bin/llmline}
PYTHON=${PYTHON:-.venv/bin/python}
MODEL_EN=${MODEL_EN:-models:/finance-sentiment-en@champion}
MODEL_ZH=${MODEL_ZH:-models:/finance-sentiment-zh@champion}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/watch-check-XXXXXX")
echo "== workspace $WS, scratch $WORK"

echo "== 1. the sentiment judges (each at most 25 minutes of training; reused when trained)"
if [ -z "${SKIP_TRAIN:-}" ]; then
  "$LLMLINE" run recipes/finance-sentiment-en.yaml --workspace "$WS"
  "$LLMLINE" run recipes/finance-sentiment-zh.yaml --workspace "$WS"
fi

echo "== 2. posts: one JSONL file per simulated day, English and Chinese mixed"
"$PYTHON" benchmarks/bench_watch.py --write-days "$WORK/days" --seed 0 \
  --calm-days "${CALM_DAYS:-7}" >/dev/null
# one malformed line, to see it counted with its file and line number
printf '{"text": "truncated line\n' >>"$WORK/days/posts-2025-11-30.jsonl"
ls "$WORK/days"

echo "== 3. the watch: recipes/finance-watch.yaml on a fresh inbox and a fresh store"
mkdir -p "$WORK/inbox"
"$PYTHON" - "$WORK" <<'EOF'
import sys
from pathlib import Path

import yaml

work = Path(sys.argv[1])
raw = yaml.safe_load(Path("recipes/finance-watch.yaml").read_text(encoding="utf-8"))
watch = raw["watch"]
watch["store_url"] = f"sqlite:///{work / 'monitor.db'}"
watch["sources"] = [{"kind": "directory", "path": "${inbox}", "poll_s": 1}]  # no HTTP port
(work / "watch.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
EOF
VARS=(--var "inbox=$WORK/inbox" --var "model_en=$MODEL_EN" --var "model_zh=$MODEL_ZH")
"$LLMLINE" watch "$WORK/watch.yaml" "${VARS[@]}" --workspace "$WS" >"$WORK/watch.log" 2>&1 &
WATCHER=$!
trap 'kill -TERM $WATCHER 2>/dev/null || true' EXIT

files_read() {
  "$PYTHON" -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute('select count(*) from watch_files').fetchone()[0])" \
    "$WORK/monitor.db" 2>/dev/null || echo 0
}
n=0
for day in "$WORK"/days/posts-*.jsonl; do
  n=$((n + 1))
  cp "$day" "$WORK/inbox/$(basename "$day").part" # written under a name the watcher skips,
  mv "$WORK/inbox/$(basename "$day").part" "$WORK/inbox/$(basename "$day")" # then renamed
  for _ in $(seq 1 600); do
    [ "$(files_read)" -ge "$n" ] && break
    kill -0 $WATCHER 2>/dev/null || { cat "$WORK/watch.log"; echo "watcher died"; exit 1; }
    sleep 1
  done
  echo "dropped $(basename "$day"): $(files_read) file(s) read"
done
kill -TERM $WATCHER; wait $WATCHER 2>/dev/null || true  # a background job of a script ignores SIGINT
trap - EXIT
grep -E "malformed|ALERT" "$WORK/watch.log" | head -20 || true

echo "== 4. alerts (llmline watch alerts --json), checked against the injected surges"
"$LLMLINE" watch alerts "$WORK/watch.yaml" "${VARS[@]}" --workspace "$WS" --json >"$WORK/alerts.json"
"$PYTHON" - "$WORK" <<'EOF'
import json
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

work = Path(sys.argv[1])
alerts = json.loads((work / "alerts.json").read_text(encoding="utf-8"))
surges = json.loads((work / "days" / "surges.json").read_text(encoding="utf-8"))
hits, false = set(), []
for alert in alerts:
    ts = datetime.fromisoformat(alert["time"].replace("Z", "+00:00")).timestamp()
    match = [s for s in surges if s["entity"] == alert["entity"] and s["start"] <= ts <= s["end"] + 3600]
    if match:
        hits.add(alert["entity"])
    else:
        false.append(alert)
    print(f"{alert['time']}  {alert['entity']:<10} {alert['rule']:<13} "
          f"{alert['metric']}={alert['value']:.3f} (baseline {alert['baseline']:.3f}, "
          f"p={alert['p_value']:.1e}, {alert['window_posts']} posts, {len(alert['posts'])} shown)"
          f"  {'surge' if match else 'FALSE ALERT'}")
print(f"surges alerted: {len(hits)} of {len(surges)}; false alerts: {len(false)}")

print("\nper-entity series around the first alerted surge (hourly: posts, negative share):")
first = min((s for s in surges if s["entity"] in hits), key=lambda s: s["start"], default=None)
if first is not None:
    db = sqlite3.connect(work / "monitor.db")
    rows = db.execute(
        "select min(bucket), sum(volume), sum(negative) from watch_series where entity = ? and "
        "bucket >= ? and bucket < ? group by cast(bucket / 3600 as int) order by bucket",
        (first["entity"], first["start"] - 6 * 3600, first["end"] + 3 * 3600),
    ).fetchall()
    for bucket, volume, negative in rows:
        when = datetime.fromtimestamp(bucket, UTC).strftime("%m-%d %H:00")
        mark = " <- surge" if first["start"] <= bucket < first["end"] else ""
        print(f"  {first['entity']} {when}  {volume:4d} posts  {negative / volume:5.0%} negative{mark}")
if not hits:
    sys.exit("no alert for any injected surge")
EOF

echo "== 5. the daily brief of the surge day"
SURGE_DAY=$("$PYTHON" -c "import json,sys,datetime as d; s=json.load(open(sys.argv[1])); print(d.datetime.fromtimestamp(min(x['start'] for x in s), d.UTC).date())" "$WORK/days/surges.json")
"$LLMLINE" watch report "$WORK/watch.yaml" "${VARS[@]}" --workspace "$WS" --date "$SURGE_DAY" \
  --out "$WORK/brief"
ls "$WORK/brief"
echo "open $WORK/brief/brief.html"
