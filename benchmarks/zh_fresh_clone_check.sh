#!/bin/bash
# Issue 12's fresh-clone check, after `llmline run recipes/chnsenticorp.yaml` and
# `recipes/resume-ner.yaml` in WORKSPACE: evaluate each on a file, serve both, send raw Chinese
# and check that every entity's text is text[start:end].  Usage: zh_fresh_clone_check.sh [WORKSPACE] [OUT]
set -u
cd "$(dirname "$0")/.."
WS=${1:-llmline-workspace}
OUT=${2:-/tmp/zh-check}
mkdir -p "$OUT"
L=.venv/bin/llmline
$L evaluate --model models:/resume-ner@champion --data ../shared/datasets/resume-ner/dev.char.bmes --workspace "$WS" > "$OUT"/eval-resume.json
$L evaluate --model models:/chnsenticorp@champion --data ../shared/datasets/chnsenticorp/dev.tsv --format tsv --text-col text_a --label-col label --workspace "$WS" > "$OUT"/eval-chn.json
$L serve --model models:/resume-ner@champion --port 8701 --workspace "$WS" --no-monitor > "$OUT"/serve-ner.log 2>&1 &
P1=$!
$L serve --model models:/chnsenticorp@champion --port 8702 --workspace "$WS" --no-monitor > "$OUT"/serve-cls.log 2>&1 &
P2=$!
for i in $(seq 1 90); do curl -sf localhost:8701/readyz >/dev/null && curl -sf localhost:8702/readyz >/dev/null && break; sleep 2; done
curl -s localhost:8701/v1/ner -H 'content-type: application/json' -d '{"texts": ["我叫王小明，2015年毕业于北京大学计算机系，现任华为技术有限公司高级工程师。", "患者张三在北京协和医院确诊糖尿病", "  李娜，女，汉族，本科学历。"]}' > "$OUT"/ner-response.json
curl -s localhost:8702/v1/classify -H 'content-type: application/json' -d '{"texts": ["房间干净，服务热情，下次还来！", "屏幕有坏点，客服也不理人，太失望了", "这本书内容一般，但是印刷质量还不错。"], "top_k": 2}' > "$OUT"/cls-response.json
kill $P1 $P2
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
texts = ["我叫王小明，2015年毕业于北京大学计算机系，现任华为技术有限公司高级工程师。", "患者张三在北京协和医院确诊糖尿病", "  李娜，女，汉族，本科学历。"]
r = json.load(open(f"{out}/ner-response.json"))
for t, res in zip(texts, r["results"]):
    for e in res["entities"]:
        ok = t[e["start"]:e["end"]] == e["text"]
        print(("OK " if ok else "BAD"), e["label"], e["start"], e["end"], e["text"])
print(json.dumps(json.load(open(f"{out}/cls-response.json")), ensure_ascii=False)[:600])
PY
