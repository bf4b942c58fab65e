#!/usr/bin/env python3
"""Lists the functions each replica runs, for the linker to lay out together (`link/hot-symbols.txt`).

The kernel maps a binary's code in 64 KiB windows around each page a process touches. A
follower runs about 1.9 MiB of the agent's 10.6 MiB of code, but spread over all of it, so
it kept 9 MiB resident. `build.rs` hands this list to LLD (`--symbol-ordering-file`), which
puts the listed functions first in `.text`, in the listed order.

How the list is made: `bench/cluster_scale.py` runs once at 1,000 apps with both replicas
under valgrind's callgrind and talking TLS to the API server as on a real cluster, which records every function a process executes, from start to
SIGTERM. The follower runs as one of the bench's nodes, so it also probes. The follower's
functions come first (every node runs them), then the ones only the leader runs. Only
names the binary defines are kept.

    python3 bench/hot_symbols.py            # rewrite link/hot-symbols.txt (needs valgrind, about 3 min)
    python3 bench/hot_symbols.py --check    # how much of the list the current binary still has

A stale list is safe: LLD skips names it does not find. Regenerate after large changes,
when `--check` finds less than ~90% of the listed names or `cluster_scale.py` shows the
follower's file pages (RssFile) growing. Needs a release binary built from the sources.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
LIST = ROOT / "link" / "hot-symbols.txt"
FN = re.compile(r"^c?fn=\(\d+\)(?: (.+))?$")


def defined_functions(binary: pathlib.Path) -> dict[str, tuple[int, int]]:
    """Function symbols `binary` defines: name -> (address, size)."""
    out = subprocess.run(["nm", "-S", "--defined-only", str(binary)], capture_output=True, text=True, check=True).stdout
    funcs = {}
    for line in out.splitlines():
        p = line.split()
        if len(p) == 4 and p[2] in "tTwW":
            funcs[p[3]] = (int(p[0], 16), int(p[1], 16))
    return funcs


def executed(callgrind_out: pathlib.Path) -> list[str]:
    """Names of the functions a callgrind profile saw run, in the order it first named them."""
    seen: dict[str, None] = {}
    with open(callgrind_out) as f:
        for line in f:
            m = FN.match(line.rstrip("\n"))
            if m and m.group(1):
                seen.setdefault(m.group(1), None)
    return list(seen)


def check(binary: pathlib.Path) -> int:
    funcs = defined_functions(binary)
    listed = [n for n in LIST.read_text().split() if n]
    found = [funcs[n] for n in listed if n in funcs]
    if not found:
        print(f"{binary}: none of the {len(listed)} listed functions is defined; regenerate the list")
        return 1
    lo, hi = min(a for a, _ in found), max(a + s for a, s in found)
    size = sum(s for _, s in found)
    text = sum(s for _, s in funcs.values())
    print(f"{binary}: {len(found)} of {len(listed)} listed functions defined ({100 * len(found) / len(listed):.0f}%), "
          f"{size / 1024:.0f} KiB of {text / 1024:.0f} KiB of functions, laid out over {(hi - lo) / 1024:.0f} KiB")
    return 0


def generate(binary: pathlib.Path, apps: int) -> int:
    if not shutil.which("valgrind"):
        print("needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="hot-symbols-") as tmp:
        t = pathlib.Path(tmp)
        agent = t / "failover-agent"
        shutil.copy(binary, agent)
        wrapper = t / "agent-under-callgrind"
        # The bench names the follower's node bench-follower; as node-7 it is handed
        # endpoints to probe, as every real node is.
        wrapper.write_text(f"""#!/bin/sh
role=leader
if [ "$NODE_NAME" = bench-follower ]; then role=follower; export NODE_NAME=node-7; fi
exec valgrind --tool=callgrind --demangle=no --callgrind-out-file={t}/$role.out {agent} "$@"
""")
        wrapper.chmod(0o755)
        cmd = [sys.executable, str(ROOT / "bench" / "cluster_scale.py"), "--apps", str(apps), "--samples", "10",
               "--sample-timeout", "60", "--tls", "--binary", str(wrapper)]
        print("running:", " ".join(cmd), flush=True)
        run = subprocess.run(cmd, cwd=ROOT)
        if run.returncode != 0:
            print(f"cluster_scale.py failed ({run.returncode})", file=sys.stderr)
            return 1
        funcs = defined_functions(binary)
        order: dict[str, None] = {}
        counts = {}
        for role in ("follower", "leader"):
            names = [n for n in executed(t / f"{role}.out") if n in funcs]
            counts[role] = (len(names), sum(funcs[n][1] for n in names))
            for n in names:
                order.setdefault(n, None)
    LIST.parent.mkdir(exist_ok=True)
    LIST.write_text("".join(f"{n}\n" for n in order))
    for role, (n, size) in counts.items():
        print(f"{role}: ran {n} functions, {size / 1024:.0f} KiB")
    print(f"wrote {len(order)} names to {LIST.relative_to(ROOT)}; rebuild (cargo build --release) to apply")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / "target/release/failover-agent"))
    ap.add_argument("--apps", type=int, default=1000)
    ap.add_argument("--check", action="store_true", help="only report how much of the list the binary defines")
    args = ap.parse_args()
    binary = pathlib.Path(args.binary)
    if not binary.is_file():
        print(f"{binary}: no such binary (cargo build --release)", file=sys.stderr)
        return 1
    return check(binary) if args.check else generate(binary, args.apps)


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
