"""The check harness shared by every client suite: named checks, their outcomes, and how an
outcome listed in expectations.py (a known payglot gap or a pending lookup) is judged."""

import re
import traceback

from expectations import KNOWN_PAYGLOT_GAPS, PENDING_LOOKUPS

# (name, verdict, detail); verdict is one of PASS, FAIL, XFAIL (an expected failure that failed
# the expected way) and XPASS (an expected failure that passed: the list is stale).
RESULTS = []


class CheckFailed(AssertionError):
    pass


def expect(cond, what, got=None):
    if not cond:
        raise CheckFailed(what if got is None else f"{what}; got {got!r}")


def expected_failure(name):
    """(pattern, why, list name) when `name` is listed as expected to fail, else None."""
    if name in PENDING_LOOKUPS:
        return PENDING_LOOKUPS[name], "lookup not implemented in payglot yet", "PENDING_LOOKUPS"
    if name in KNOWN_PAYGLOT_GAPS:
        pattern, why = KNOWN_PAYGLOT_GAPS[name]
        return pattern, why, "KNOWN_PAYGLOT_GAPS"
    return None


def record(name, ok, detail):
    """Judges one outcome against the expectation lists, prints it and keeps it."""
    listed = expected_failure(name)
    if listed is None:
        verdict = "PASS" if ok else "FAIL"
    elif ok:
        verdict = "XPASS"
        detail = f"listed in {listed[2]} but passed now: remove it from tests/sdk/expectations.py ({detail})"
    elif re.search(listed[0], detail):
        verdict = "XFAIL"
        detail = f"[{listed[2]}: {listed[1]}] {detail}"
    else:
        # Failing, but not the way the list says: a new failure is never absorbed by the list.
        verdict = "FAIL"
        detail = f"listed in {listed[2]} as failing with /{listed[0]}/, but failed otherwise: {detail}"
    RESULTS.append((name, verdict, detail))
    print(f"{verdict} {name}{': ' + detail if detail else ''}", flush=True)


def check(name):
    """Runs the decorated function at once as one named check and records its outcome."""

    def run(fn):
        try:
            detail = fn()
        except CheckFailed as e:
            record(name, False, str(e))
        except Exception as e:  # an SDK raising where it should not is a failure, not a crash
            tb = traceback.format_exc(limit=3).strip().splitlines()
            record(name, False, f"{type(e).__name__}: {e} [{tb[-3] if len(tb) > 2 else ''}]")
        else:
            record(name, True, detail or "")
        return fn

    return run


def suite_crashed(name, error):
    RESULTS.append((name, "FAIL", f"{type(error).__name__}: {error}"))
    print(f"FAIL {name}: {type(error).__name__}: {error}", flush=True)


def summary():
    """Prints the closing lines; returns the process exit code."""
    ran = {name for name, _, _ in RESULTS}
    for listed in (*PENDING_LOOKUPS, *KNOWN_PAYGLOT_GAPS):
        if listed not in ran:
            RESULTS.append((listed, "FAIL", "listed in tests/sdk/expectations.py but no such check ran"))
            print(f"FAIL {listed}: listed in tests/sdk/expectations.py but no such check ran", flush=True)
    count = {v: sum(1 for _, verdict, _ in RESULTS if verdict == v) for v in ("PASS", "FAIL", "XFAIL", "XPASS")}
    failed = count["FAIL"] + count["XPASS"]
    print(f"{count['XFAIL']} expected failures (tests/sdk/expectations.py)")
    print(f"{count['PASS']} passed, {failed} failed")
    return 0 if failed == 0 and count["PASS"] > 0 else 1
