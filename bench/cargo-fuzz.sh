#!/usr/bin/env bash
# Coverage-guided fuzzing of the parser and of datetime/timespan text (fuzz/, libFuzzer via
# `cargo fuzz`, nightly toolchain). Seeds each target's corpus from the .slt queries and the
# samples' hunts, runs each for SECONDS, and prints libFuzzer's last status line. A crash
# leaves its input in fuzz/artifacts/TARGET/ and makes the script exit 1.
#
#   bench/cargo-fuzz.sh [SECONDS] [TARGET...]     (default: 300 s each, targets parse values)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(parse values)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q nightly || { echo "cargo fuzz needs a nightly toolchain: rustup toolchain install nightly" >&2; exit 2; }

# Seeds: every query body of the .slt files, every hunt, and datetime/timespan texts.
seed=fuzz/corpus/parse
mkdir -p "$seed" fuzz/corpus/values
python3 - "$seed" <<'PY'
import hashlib, pathlib, re, sys
out = pathlib.Path(sys.argv[1])
texts = []
for slt in pathlib.Path("tests/slt").rglob("*.slt"):
    blocks = re.split(r"\n\s*\n", slt.read_text())
    for b in blocks:
        lines = [l for l in b.splitlines() if not l.startswith("#")]
        if lines and lines[0].startswith(("query", "statement")):
            body = "\n".join(lines[1:]).split("\n----")[0]
            texts.append(body)
for hunt in pathlib.Path("samples/hunts").rglob("*.kql"):
    texts.append(hunt.read_text())
for t in texts:
    (out / hashlib.sha1(t.encode()).hexdigest()).write_text(t)
print(f"{len(texts)} parser seeds")
PY
i=0
for t in "2024-05-01" "2024-05-01T10:11:12.1234567Z" "Sat, 01 Jun 2024 10:00:00 GMT" "12/31/2024 11:59:59 PM" "1.02:03:04.5" "-00:00:01" "10675199.02:48:05.4775807"; do
    printf '%s' "$t" > "fuzz/corpus/values/seed$i"; i=$((i + 1))
done

status=0
for t in "${targets[@]}"; do
    echo "== $t ($seconds s)"
    log=$(mktemp)
    if ! cargo +nightly fuzz run "$t" -- -max_total_time="$seconds" -timeout=2 -rss_limit_mb=4096 >"$log" 2>&1; then
        status=1
        grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" | head -20
    fi
    grep -E "^#[0-9]+" "$log" | tail -1
    rm -f "$log"
done
exit $status
