#!/usr/bin/env bash
# The customer-service assistant check of issue 13, scripted (like zh_fresh_clone_check.sh):
#   1. build the medical KB of recipes/medical-qa-zh.yaml (the tuned medical-embedding-zh, and
#      medical-rerank-zh as the confidence judge, when registered; else packaged:e5-small);
#   2. an unreadable PDF beside a good page is reported and skipped, the page indexed;
#   3. five held-out patient questions asked from the command line: answers with citations;
#   4. an off-topic question is handed off and its ticket listed (`llmline kb tickets`);
#   5. the same five over HTTP: POST /v1/assistant with curl, /v1/chat/completions with
#      `knowledge_base` with curl and with the official openai client (streamed too);
#      an empty message gets 422, an unknown KB 404, a body over the limit 413.
# Usage: benchmarks/assistant_check.sh [WORKSPACE]
#   env: DATA_DIR (default ../shared/datasets/cmedqa), PAIRS=N indexes only the answers of the
#        first N pairs (a quick run), PYTHON (default: python), PORT (default: a free one).
# Exit status 0 when every check passed; the last lines summarise them.
set -uo pipefail  # no -e: a failed check is counted, the rest still run
cd "$(dirname "$0")/.."
WS=${1:-$(mktemp -d)/ws}
DATA_DIR=${DATA_DIR:-../shared/datasets/cmedqa}
PY=${PYTHON:-python}
LL=("$PY" -m llmline)
TMP=$(mktemp -d)
SERVER=""
cleanup() { if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; fi; rm -rf "$TMP"; }
trap cleanup EXIT
FAILED=0
check() { if [ "$1" = 0 ]; then echo "PASS  $2"; else echo "FAIL  $2"; FAILED=1; fi; }
json() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

if [ -n "${PAIRS:-}" ]; then
  mkdir -p "$TMP/cmedqa" && head -n "$PAIRS" "$DATA_DIR/dev.txt" > "$TMP/cmedqa/dev.txt"
  DATA_DIR=$TMP/cmedqa
fi
echo "workspace: $WS   data: $DATA_DIR"

# --- which models: the tuned ones when registered, else the untuned E5 without rerank ---------
if "$PY" - "$WS" <<'EOF' 2>/dev/null
import sys
from llmline.models.resolve import resolve_model
from llmline.workspace import Workspace
ws = Workspace.resolve(sys.argv[1])
for ref in ("models:/medical-embedding-zh@champion", "models:/medical-rerank-zh@champion"):
    resolve_model(ref, ws)
EOF
then
  VARS=()
  printf 'assistant: {kb: medical-qa-zh, unsafe: flag, confidence: rerank, min_confidence: 0.5}\n' > "$TMP/assistant.yaml"
  echo "models: tuned medical-embedding-zh, medical-rerank-zh judging confidence (registered)"
else
  VARS=(--var encoder=packaged:e5-small --var retriever=hybrid --var confidence=dense
        --var min_confidence=0.83)
  printf 'assistant: {kb: medical-qa-zh, unsafe: flag, confidence: dense, min_confidence: 0.83}\n' > "$TMP/assistant.yaml"
  echo "models: packaged:e5-small, hybrid without rerank (no tuned models registered)"
fi

echo "== 1. build the medical KB"
start=$(date +%s)
"${LL[@]}" kb build medical-qa-zh --spec recipes/medical-qa-zh.yaml --var "data_dir=$DATA_DIR" \
  "${VARS[@]}" --workspace "$WS" > "$TMP/build.json" || { echo "FAIL  the KB build"; exit 1; }
json "$TMP/build.json" "f\"{d['counts']} in {d['seconds']} s\""
chunks=$(json "$TMP/build.json" "d['counts']['chunks']")
check "$([ "$chunks" -gt 0 ] && echo 0 || echo 1)" "medical KB built: $chunks chunks in $(( $(date +%s) - start )) s"

echo "== 2. an unreadable PDF is reported and skipped"
mkdir -p "$TMP/docs"
printf '%%PDF-1.4\n1 0 obj <</Type /Catalog>> broken' > "$TMP/docs/broken.pdf"
printf '# 门诊时间\n\n内科门诊周一至周五上午八点开诊，周末休息。\n' > "$TMP/docs/hours.md"
"${LL[@]}" kb build clinic-docs --input "$TMP/docs" --workspace "$WS" > "$TMP/docs.json"
json "$TMP/docs.json" "d['skipped']"
json "$TMP/docs.json" "'broken.pdf' in [s['path'] for s in d['skipped']] and 'hours.md' in d['added'] + d['unchanged']" \
  | grep -q True; check $? "unreadable PDF reported and skipped, the Markdown page indexed"

echo "== 3. five questions from the command line"
QUERIES="$WS/kb-inputs/medical-qa-zh/queries.csv"
"$PY" - "$QUERIES" > "$TMP/questions.txt" <<'EOF'
import csv, sys
seen = []
for row in csv.DictReader(open(sys.argv[1], encoding="utf-8")):
    if row["question"] not in seen:
        seen.append(row["question"])
print("\n".join(q.replace("\n", " ") for q in seen[:5]))
EOF
answered=0
while IFS= read -r question; do
  "${LL[@]}" kb ask medical-qa-zh "$question" --spec "$TMP/assistant.yaml" --json \
    --workspace "$WS" > "$TMP/ask.json"
  json "$TMP/ask.json" "f\"Q: {sys.argv[3][:40]}\n   -> {d['mode']} conf {d['confidence']} \
[{d['citations'][0]['doc_id'] if d['citations'] else '-'}] {d['answer'][:60]}\"" "$question"
  if json "$TMP/ask.json" "bool(d['citations']) and bool(d['answer'])" | grep -q True; then
    answered=$((answered + 1))
  fi
done < "$TMP/questions.txt"
check "$([ "$answered" = 5 ] && echo 0 || echo 1)" "five CLI questions answered with citations ($answered/5)"

echo "== 4. a low-confidence question is handed off and its ticket listed"
"${LL[@]}" kb ask medical-qa-zh "请问信用卡的年费怎么免除？" --spec "$TMP/assistant.yaml" --json \
  --workspace "$WS" > "$TMP/handoff.json"
json "$TMP/handoff.json" "f\"{d['answer']}  ({d['reason']})\""
ticket=$(json "$TMP/handoff.json" "(d['ticket'] or {}).get('id', 'none')")
"${LL[@]}" kb tickets --status open --workspace "$WS" | tee "$TMP/tickets.txt"
grep -q "$ticket" "$TMP/tickets.txt"; check $? "off-topic question handed off, ticket $ticket listed"

echo "== 5. over HTTP"
PORT=${PORT:-$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")}
# The shipped lexicons flag anatomy patients must name (包皮 is listed as profanity), and the chat
# route blocks flagged input by default: a medical service flags it instead (assistant.unsafe).
printf 'serve: {max_body_bytes: 100000, safety: {routes: {/v1/chat/completions: {input: flag, output: flag}}}}\n' \
  > "$TMP/serve.yaml"
cat "$TMP/assistant.yaml" >> "$TMP/serve.yaml"
"${LL[@]}" serve --model packaged:e5-small --config "$TMP/serve.yaml" --port "$PORT" \
  --workspace "$WS" > "$TMP/serve.log" 2>&1 &
SERVER=$!
URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 240); do
  curl -sf "$URL/readyz" > /dev/null 2>&1 && break
  sleep 1
done
served=0
while IFS= read -r question; do
  body=$("$PY" -c "import json,sys; print(json.dumps({'message': sys.argv[1]}))" "$question")
  curl -s -X POST "$URL/v1/assistant" -H 'Content-Type: application/json' -d "$body" > "$TMP/http.json"
  if json "$TMP/http.json" "bool(d['citations']) and bool(d['answer'])" | grep -q True; then
    served=$((served + 1))
  fi
done < "$TMP/questions.txt"
check "$([ "$served" = 5 ] && echo 0 || echo 1)" "five questions over POST /v1/assistant (curl): $served/5"
first=$(head -n 1 "$TMP/questions.txt")
chat=$("$PY" -c "import json,sys; print(json.dumps({'model': 'x', 'knowledge_base': 'medical-qa-zh',
  'messages': [{'role': 'user', 'content': sys.argv[1]}]}))" "$first")
curl -s -X POST "$URL/v1/chat/completions" -H 'Content-Type: application/json' -d "$chat" \
  > "$TMP/chat.json"
json "$TMP/chat.json" "len(d['choices'][0]['message']['citations']) > 0" | grep -q True
check $? "curl /v1/chat/completions with knowledge_base: message.citations present"
curl -sN -X POST "$URL/v1/assistant" -H 'Content-Type: application/json' \
  -d "$("$PY" -c "import json,sys; print(json.dumps({'message': sys.argv[1], 'stream': True}))" "$first")" \
  > "$TMP/stream.txt"
grep -v '^$' "$TMP/stream.txt" | tail -n 1 | grep -q '\[DONE\]' \
  && head -n 1 "$TMP/stream.txt" | grep -q '"citations"'
check $? "streamed /v1/assistant: citations first, [DONE] last"
"$PY" - "$URL" "$first" <<'EOF'
import sys
import openai
api = openai.OpenAI(api_key="none", base_url=sys.argv[1] + "/v1")
done = api.chat.completions.create(model="kb", messages=[{"role": "user", "content": sys.argv[2]}],
                                   extra_body={"knowledge_base": "medical-qa-zh"})
citations = done.choices[0].message.model_extra["citations"]
assert done.choices[0].message.content and citations, done
stream = api.chat.completions.create(model="kb", stream=True,
                                     messages=[{"role": "user", "content": sys.argv[2]}],
                                     extra_body={"knowledge_base": "medical-qa-zh"})
text = "".join(c.choices[0].delta.content or "" for c in stream)
assert text == done.choices[0].message.content
print(f"openai {openai.__version__}: {len(citations)} citations, streamed {len(text)} chars")
EOF
check $? "official openai client (plain and streamed) with extra_body knowledge_base"
code() { curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v1/assistant" -H 'Content-Type: application/json' "$@"; }
[ "$(code -d '{"message": "   "}')" = 422 ]; check $? "empty message: 422"
[ "$(code -d '{"message": "你好", "knowledge_base": "nope"}')" = 404 ]; check $? "unknown KB: 404"
"$PY" -c "import json; print(json.dumps({'message': '长' * 200000}))" > "$TMP/huge.json"
[ "$(code --data-binary "@$TMP/huge.json")" = 413 ]; check $? "body over the limit: 413"

echo "== summary"
if [ "$FAILED" = 0 ]; then echo "all assistant checks passed"; else echo "some checks FAILED"; fi
exit "$FAILED"
