#!/usr/bin/env bash
# Fuzzes every parser and verifier (fuzz/fuzz_targets/) for SECONDS_PER_TARGET each
# (default 60) on the nightly toolchain, installing cargo-fuzz first if it is missing.
# Prints one summary line per target; exits non-zero when any target crashed, leaked, or
# timed out (the input is left in fuzz/artifacts/<target>/; reproduce it with
# `cargo +nightly fuzz run -a <target> <file>` in fuzz/).
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   bash scripts/fuzz.sh --install-only
#
# The seed corpora in fuzz/corpus/ are read, never written: what a run finds goes to
# fuzz/corpus-local/ (ignored by git), so a run does not grow the repository. To fold the
# finds back into the seeds, minimized: `cargo +nightly fuzz cmin -a <target>` after copying
# them in (docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."

ensure_cargo_fuzz() {
  if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
  fi
}

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: no nightly toolchain (rustup toolchain install nightly); not fuzzing" >&2
  exit 2
fi
ensure_cargo_fuzz
if [ "${1:-}" = "--install-only" ]; then
  exit 0
fi

seconds=${1:-60}
shift || true
cd fuzz
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

# -a: debug assertions and overflow checks on, as in the test builds: an overflow is a panic.
# PAYGLOT_FUZZ_SANITIZER (default address): CI uses `none`, which builds much faster; payglot is
# safe Rust, so a panic is what the fuzzer looks for and libFuzzer catches it without ASan.
fuzz_flags=(-a -s "${PAYGLOT_FUZZ_SANITIZER:-address}")
# Per input at most 10 s (else a "timeout" finding) and 2 GiB; inputs up to 16 KiB, which
# covers the seeds (at most 8 KiB) with room to grow.
libfuzzer_flags=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384
  -print_final_stats=1)

build_started=$SECONDS
cargo +nightly fuzz build "${fuzz_flags[@]}" >/dev/null
echo "fuzz: built ${#targets[@]} targets in $((SECONDS - build_started)) s"

log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT
summary=()
failed=0
for target in "${targets[@]}"; do
  mkdir -p "corpus-local/$target" "corpus/$target"
  log="$log_dir/$target.log"
  set +e
  cargo +nightly fuzz run "${fuzz_flags[@]}" "$target" "corpus-local/$target" "corpus/$target" \
    -- "${libfuzzer_flags[@]}" >"$log" 2>&1
  status=$?
  set -e
  # libFuzzer's closing lines: "#N DONE cov: C ft: F corp: K/..." and "stat::..." lines.
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -1)
  rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log" | tail -1)
  rss=$(sed -nE 's/^stat::peak_rss_mb: *([0-9]+)/\1/p' "$log" | tail -1)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$done_line")
  corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$done_line")
  if [ "$status" -eq 0 ]; then
    result="ok"
  else
    result="FAILED (exit $status)"
    failed=$((failed + 1))
    echo "---- $target: last lines of the libFuzzer log ----" >&2
    tail -40 "$log" >&2
  fi
  line=$(printf '%-16s %5ss  execs %10s  exec/s %7s  cov %5s  ft %6s  corpus %5s  rss %5s MB  %s' \
    "$target" "$seconds" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}" "$result")
  echo "$line"
  summary+=("$line")
done

echo
echo "fuzz summary (${seconds} s per target):"
printf '  %s\n' "${summary[@]}"
if [ "$failed" -gt 0 ]; then
  echo "fuzz: $failed target(s) failed; inputs in fuzz/artifacts/" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, no crashes"
