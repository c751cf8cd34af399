"""The checks of the Iceberg client sessions: one line per check (`ok NAME` /
`FAIL NAME: why`), counted, and a closing summary line "N passed, M failed"."""

import traceback

passed = failed = 0


def check(name, fn, *args):
    """Runs one check: `ok NAME` if `fn` returns, `FAIL NAME: why` if it raises."""
    global passed, failed
    try:
        fn(*args)
    except Exception as e:  # a failed check, whatever raised it
        failed += 1
        detail = str(e) if isinstance(e, AssertionError) else traceback.format_exc()
        print(f"FAIL {name}: {detail}".rstrip(), flush=True)
        return False
    passed += 1
    print(f"ok {name}", flush=True)
    return True


def fail(name):
    """Counts a failure outside any check (the session stopped early), with its trace."""
    global failed
    failed += 1
    print(f"FAIL {name}: {traceback.format_exc()}".rstrip(), flush=True)


def summary():
    """Prints the closing line; the exit code of the session."""
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0
