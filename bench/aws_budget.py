#!/usr/bin/env python3
"""AWS budget benchmark: the static agent polling N target groups against moto with an
AWS-faithful ELBv2 account token bucket.

    .venv/bin/python bench/aws_budget.py [--seconds 120] [--tgs 500] [--apps 50] [--others 5]
                                         [--case quarter|full|both]

Design budget checked: "AWS: zero throttles with 500 target groups against a 40/10 token
bucket". Per case the script starts tests/aws/moto_server.py, creates one ALB with --tgs ip
target groups (one healthy target each), marks every target of the first --alb-down apps
unhealthy, arms the launcher's account bucket for DescribeTargetHealth (burst 40, 10/s, the
rest of the account taking --others calls/s from it), writes a static config of --apps apps
(app-0.. each owning tgs/apps target groups and probing one live local endpoint) and runs
target/release/failover-agent against it:

  * quarter: the agent's default ELBv2 budget (2.5 calls/s, burst 10: a quarter of AWS's);
  * full:    `aws: {elbv2CallsPerSecond: 10}`, the whole account limit, while the others
             still drain the bucket: AWS throttles, and the agent must count the throttles,
             back off and keep its verdicts (stale counts are kept).

It times "every app has an ALB view" (the app_targets{state="total"} series of every app
exists: one of its groups was read) and the first full round (every app's total equals its
target count: every group was read once), runs for at least --seconds and until that first
full round (at most --round-timeout), samples /health/<app> of every fully read app (200
expected, 503 for the --alb-down ones) and reports AWS's side (the launcher's `rate` and
`stats`), the agent's counters, RSS and CPU. The steady-state round is --tgs divided by the
agent's successful reads per second (attempts minus throttles) after the first 20 s: each group
is read once per round, so this holds whenever that window spans a good part of a round (true
at the defaults, where the poller is bucket-bound and reads at a constant rate). Times are
sampled once a second.

Nothing here asserts: the budget is printed beside the figures. Standard library only (the
launcher itself needs the moto venv). Logs and configs go to bench/out/ (git-ignored). The
script does not build the agent; it refuses to run a binary older than the sources.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import pathlib
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
OP = "DescribeTargetHealth"
API = (("api", OP),)  # label set of the agent's per-API counters
AWS_BURST, AWS_RATE = 40, 10  # ELBv2 Describe* account limit
STEADY_AFTER = 20.0  # seconds after agent start; both buckets' bursts are spent by then
CASES = {  # case -> (aws block of the config, description of the agent's budget)
    "quarter": ("{ targetHealthIntervalSeconds: 10 }", "2.5/s, burst 10 (default: ¼ of AWS's)"),
    "full": ("{ targetHealthIntervalSeconds: 10, elbv2CallsPerSecond: 10 }",
             "10/s, burst 10 (`elbv2CallsPerSecond: 10`: all of AWS's)"),
}


class BenchError(Exception):
    """A failure with a message fit for the user (no traceback)."""


def log(msg: str) -> None:
    sys.stderr.write(f"[aws_budget {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def tail(path: pathlib.Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as e:
        return f"(cannot read {path}: {e})"
    return "\n".join(text[-lines:]) if text else f"({path} is empty)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS/VmHWM in KiB from /proc/<pid>/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def stale_binary(binary: pathlib.Path) -> list[str]:
    built = binary.stat().st_mtime
    return [str(p.relative_to(ROOT)) for p in
            [ROOT / "Cargo.toml", ROOT / "Cargo.lock", ROOT / "build.rs", *(ROOT / "src").rglob("*")]
            if p.is_file() and p.stat().st_mtime > built]


def stop_process(p: subprocess.Popen | None, name: str) -> None:
    if p is None or p.poll() is not None:
        return
    try:
        if p.stdin:
            p.stdin.close()  # the launcher exits on EOF
            p.wait(timeout=5)
            return
    except (OSError, subprocess.TimeoutExpired):
        pass
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        log(f"{name} ignored SIGTERM for 5 s; killing it")
        p.kill()
        p.wait(timeout=5)


# ----------------------------------------------------------------------------------------------
# The pieces: moto launcher, a live endpoint for the apps' probes, the agent's HTTP ports


class Launcher:
    """tests/aws/moto_server.py, driven over stdin/stdout."""

    def __init__(self, errlog: pathlib.Path):
        with open(errlog, "wb") as err:
            self.p = subprocess.Popen([str(ROOT / ".venv/bin/python"), "tests/aws/moto_server.py"],
                                      cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=err, text=True)
        self.errlog = errlog
        line = self.read(60)
        if not line.startswith("READY "):
            raise BenchError(f"moto_server.py did not start: {line!r}\n--- {errlog} ---\n{tail(errlog)}")
        self.port = int(line.split()[1])

    def read(self, timeout: float) -> str:
        ready, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not ready:
            raise BenchError(f"moto_server.py did not answer within {timeout:.0f} s")
        return self.p.stdout.readline().rstrip("\n")

    def cmd(self, timeout: float = 30, **c):
        self.p.stdin.write(json.dumps(c) + "\n")
        self.p.stdin.flush()
        reply = self.read(timeout)
        if reply != "OK" and not reply.startswith("OK "):
            raise BenchError(f"moto_server.py: {c['cmd']} -> {reply!r}\n--- {self.errlog} ---\n{tail(self.errlog)}")
        return json.loads(reply[3:]) if reply != "OK" else None


class Ok(http.server.BaseHTTPRequestHandler):
    """The apps' one endpoint: always 200, so every verdict hinges on the ALB's view."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args):
        pass


class Conn:
    """One keep-alive HTTP/1.1 connection to the agent that reconnects after errors."""

    def __init__(self, port: int):
        self.port, self.c = port, None

    def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                self.c.request("GET", path)
                r = self.c.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


LINE = re.compile(r'^(\w+)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> dict[tuple, float]:
    """Prometheus text -> {(name, ((label, value), ...)): value}."""
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            out[(m[1], tuple(sorted(LABEL.findall(m[2] or ""))))] = float(m[3])
    return out


def successful_reads_per_s(samples: list[tuple[float, float, float]]) -> float:
    """Slope of attempts minus throttles over (t, attempts, throttles) samples."""
    if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
        return 0.0
    (t0, a0, th0), (t1, a1, th1) = samples[0], samples[-1]
    return ((a1 - th1) - (a0 - th0)) / (t1 - t0)


def split(items: list, parts: int) -> list[list]:
    """Contiguous chunks whose sizes differ by at most one."""
    q, r = divmod(len(items), parts)
    out, at = [], 0
    for i in range(parts):
        n = q + (i < r)
        out.append(items[at:at + n])
        at += n
    return out


# ----------------------------------------------------------------------------------------------
# One case


def run_case(case: str, args, binary: pathlib.Path, endpoint: str) -> dict:
    aws_block, _ = CASES[case]
    moto_log, agent_log = OUT / f"aws_budget.{case}.moto.log", OUT / f"aws_budget.{case}.agent.log"
    cfg_path = OUT / f"aws_budget.{case}.yaml"
    moto = agent = None
    try:
        moto = Launcher(moto_log)
        t = time.monotonic()
        alb = moto.cmd(timeout=900, cmd="create_alb", tg_count=args.tgs, targets=["10.0.1.10"])
        log(f"[{case}] moto on port {moto.port}: ALB with {args.tgs} target groups in {time.monotonic() - t:.1f} s")
        groups = split(alb["tg_arns"], args.apps)
        down = set(range(args.alb_down))
        for i in down:
            for arn in groups[i]:
                moto.cmd(cmd="target_health", arn=arn, targets={"10.0.1.10": "unhealthy"})
        apps = [f"app-{i}" for i in range(args.apps)]
        want_total = {a: len(g) for a, g in zip(apps, groups)}  # one target per group
        cfg_path.write_text(f"region: eu-west-1\naws: {aws_block}\napps:\n" + "".join(
            f'  - name: {a}\n    endpoints: ["{endpoint}"]\n    targetGroupArns: {json.dumps(g)}\n'
            for a, g in zip(apps, groups)))
        moto.cmd(cmd="aws_bucket", action=OP, burst=AWS_BURST, rate=AWS_RATE, others=args.others)
        moto.cmd(cmd="stats_reset")

        health_port, admin_port = free_port(), free_port()
        env = dict(os.environ, AWS_ENDPOINT_URL=f"http://127.0.0.1:{moto.port}", AWS_ACCESS_KEY_ID="test",
                   AWS_SECRET_ACCESS_KEY="test", AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null",
                   AWS_SHARED_CREDENTIALS_FILE="/dev/null", RUST_LOG="warn")
        for k in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"):
            env.pop(k, None)
        moto_cpu0 = cpu_seconds(moto.p.pid)
        with open(agent_log, "wb") as err:
            t0 = time.monotonic()
            agent = subprocess.Popen(
                [str(binary), "run", "--config", str(cfg_path), "--health-listen", f"127.0.0.1:{health_port}",
                 "--admin-listen", f"127.0.0.1:{admin_port}"],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        log(f"[{case}] agent pid {agent.pid} ({aws_block}); log -> {agent_log.relative_to(ROOT)}")
        pub, adm = Conn(health_port), Conn(admin_port)

        t_view = t_full = None
        samples = []  # (t, attempts, throttles)
        verdicts = wrong = 0
        wrong_examples = []
        next_verdicts = next_note = 0.0
        m = {}
        while True:
            time.sleep(1.0)
            now = time.monotonic() - t0
            if agent.poll() is not None:
                raise BenchError(f"the agent exited with status {agent.returncode}\n"
                                 f"--- {agent_log} ---\n{tail(agent_log)}")
            try:
                m = parse_metrics(adm.get("/metrics")[1].decode())
            except OSError:
                continue  # not listening yet
            samples.append((now, m.get(("failover_agent_aws_calls_total", API), 0.0),
                            m.get(("failover_agent_aws_throttles_total", API), 0.0)))
            totals = {a: m.get(("failover_agent_app_targets",
                                (("app", a), ("namespace", "static"), ("state", "total")))) for a in apps}
            full = [a for a in apps if totals[a] == want_total[a]]
            if t_view is None and all(v is not None for v in totals.values()):
                t_view = now
                log(f"[{case}] every app has an ALB view after {now:.1f} s")
            if t_full is None and len(full) == len(apps):
                t_full = now
                log(f"[{case}] first full round (all {args.tgs} groups read) after {now:.1f} s")
            if now >= next_verdicts:  # the verdict of every fully read app
                next_verdicts = now + args.verdict_every
                for i, a in enumerate(apps):
                    if a in full:
                        code, body = pub.get(f"/health/{a}")
                        verdicts += 1
                        if code != (503 if i in down else 200):
                            wrong += 1
                            if len(wrong_examples) < 3:
                                text = body[:160].decode(errors="replace").strip()
                                wrong_examples.append(f"{a} at {now:.0f} s: {code} {text}")
            if now >= next_note:
                next_note = now + 30
                log(f"[{case}] {now:.0f} s: {samples[-1][1]:.0f} attempts, {samples[-1][2]:.0f} throttles, "
                    f"{len(full)}/{len(apps)} apps fully read")
            if now >= args.seconds and (t_full is not None or now >= args.round_timeout):
                break

        wall = time.monotonic() - t0
        rss, cpu, moto_cpu = proc_status(agent.pid), cpu_seconds(agent.pid), cpu_seconds(moto.p.pid) - moto_cpu0
        rate, stats = moto.cmd(cmd="rate", action=OP), moto.cmd(cmd="stats")
        stale_apps = sum(1 for a in apps if json.loads(adm.get(f"/apps/{a}")[1]).get("targets", {}).get("stale"))
        reads_per_s = successful_reads_per_s([s for s in samples if s[0] >= STEADY_AFTER])
        return {
            "case": case, "wall": wall, "t_view": t_view, "t_full": t_full, "rate": rate, "stats": stats,
            "agent_calls": m.get(("failover_agent_aws_calls_total", API), 0.0),
            "agent_throttles": m.get(("failover_agent_aws_throttles_total", API), 0.0),
            "agent_errors": m.get(("failover_agent_aws_errors_total", API), 0.0),
            "reads_per_s": reads_per_s, "steady_round": args.tgs / reads_per_s if reads_per_s else None,
            "stale_apps": stale_apps, "verdicts": verdicts, "wrong": wrong, "wrong_examples": wrong_examples,
            "rss": rss, "cpu": cpu, "moto_cpu": moto_cpu,
            "other_ops": {k: v for k, v in stats.items() if k not in (OP, "throttled")},
        }
    finally:
        stop_process(agent, "agent")
        if moto is not None:
            stop_process(moto.p, "moto_server.py")


# ----------------------------------------------------------------------------------------------
# Output


def secs(x: float | None) -> str:
    return "not reached" if x is None else f"{x:.1f} s"


def table(results: list[dict], args) -> str:
    cols = [r["case"] for r in results]
    rows = [("agent's ELBv2 budget", [CASES[c][1] for c in cols], "–")]

    def row(name, f, budget="–"):
        rows.append((name, [f(r) for r in results], budget))

    row("run length (agent start → stop)", lambda r: secs(r["wall"]))
    row("every app has an ALB view (one of its groups read)", lambda r: secs(r["t_view"]))
    row(f"first full round (all {args.tgs} groups read once)", lambda r: secs(r["t_full"]))
    row("steady-state full round (groups ÷ successful reads/s after 20 s)",
        lambda r: f"{r['steady_round']:.1f} s ({r['reads_per_s']:.2f} reads/s)" if r["steady_round"] else "–")
    row(f"{OP} calls, AWS side (agent's attempts counter)",
        lambda r: f"{r['rate']['calls']} ({r['agent_calls']:.0f})")
    row("calls/s (first to last call)", lambda r: f"{r['rate']['per_second']:.2f}")
    row("max calls in any 1 s / any 10 s", lambda r: f"{r['rate']['max_in_any_1s']} / {r['rate']['max_in_any_10s']}",
        f"AWS: {AWS_RATE}/s, burst {AWS_BURST}")
    row("**throttles sent by AWS** (launcher stats)", lambda r: f"**{r['stats']['throttled']}**", "**0**")
    row("throttles counted by the agent", lambda r: f"{r['agent_throttles']:.0f}", "= AWS's")
    row("errors (calls failed after 5 attempts)", lambda r: f"{r['agent_errors']:.0f}")
    row("apps with stale ALB data at the end", lambda r: f"{r['stale_apps']}/{args.apps}")
    row(f"verdict samples of fully read apps (200, or 503 for the {args.alb_down} ALB-down apps): wrong",
        lambda r: f"{r['wrong']} of {r['verdicts']}", "0")
    row("agent RSS at the end (peak VmHWM)",
        lambda r: f"{r['rss']['VmRSS'] / 1024:.1f} MiB ({r['rss']['VmHWM'] / 1024:.1f} MiB)")
    row("agent CPU (utime+stime)", lambda r: f"{r['cpu']:.2f} s ({100 * r['cpu'] / r['wall']:.1f}% of one CPU)")
    row("moto CPU over the same run", lambda r: f"{r['moto_cpu']:.1f} s")
    out = ["| figure | " + " | ".join(cols) + " | budget |", "| --- |" + " --- |" * (len(cols) + 1)]
    out += [f"| {name} | " + " | ".join(vals) + f" | {budget} |" for name, vals, budget in rows]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120, help="minimum run per case, from agent start")
    ap.add_argument("--tgs", type=int, default=500, help="target groups")
    ap.add_argument("--apps", type=int, default=50, help="apps sharing them")
    ap.add_argument("--others", type=float, default=5, help="calls/s the rest of the account takes from the bucket")
    ap.add_argument("--case", choices=["quarter", "full", "both"], default="both")
    ap.add_argument("--alb-down", type=int, default=5, help="apps whose targets are all unhealthy")
    ap.add_argument("--round-timeout", type=float, default=600,
                    help="stop even without a first full round after this many seconds")
    ap.add_argument("--verdict-every", type=float, default=5, help="seconds between verdict samples")
    ap.add_argument("--binary", default=str(ROOT / "target/release/failover-agent"))
    ap.add_argument("--allow-stale", action="store_true", help="run a binary older than the sources (say so)")
    args = ap.parse_args()
    if not (1 <= args.apps <= args.tgs) or not 0 <= args.alb_down <= args.apps:
        ap.error("need 1 <= --apps <= --tgs and 0 <= --alb-down <= --apps")
    binary = pathlib.Path(args.binary)
    if not binary.is_file():
        raise BenchError(f"{binary} is missing: build it first (cargo build --release --locked)")
    if newer := stale_binary(binary):
        msg = f"{binary} is older than {len(newer)} source file(s), e.g. {', '.join(newer[:3])}"
        if not args.allow_stale:
            raise BenchError(f"{msg}; rebuild it (or pass --allow-stale)")
        log(f"warning: {msg}; running it anyway (--allow-stale)")
    if not (ROOT / ".venv/bin/python").exists():
        raise BenchError("no .venv: the moto launcher needs it (see tests/aws/README.md)")
    OUT.mkdir(parents=True, exist_ok=True)

    def on_term(signum, frame):
        raise SystemExit(128 + signum)  # runs the finally blocks: agent and moto stopped

    signal.signal(signal.SIGTERM, on_term)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/"
    load_before = os.getloadavg()
    results = [run_case(c, args, binary, endpoint)
               for c in (["quarter", "full"] if args.case == "both" else [args.case])]
    server.shutdown()

    built = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(binary.stat().st_mtime))
    if newer:
        built += f" (older than {len(newer)} source file(s): --allow-stale)"
    print(f"\n## failover-agent vs an ELBv2 account bucket: {args.tgs} target groups, {args.apps} apps\n")
    print(f"- AWS side: moto 5.2.5 (tests/aws/moto_server.py) with `aws_bucket` {OP}: burst {AWS_BURST}, "
          f"{AWS_RATE}/s, the rest of the account taking {args.others:g}/s of it (net {AWS_RATE - args.others:g}/s left)")
    print(f"- {args.tgs} ip target groups, one target each; {args.apps} apps own {args.tgs // args.apps}"
          f"{'+' if args.tgs % args.apps else ''} groups each; the first {args.alb_down} apps' targets are unhealthy; "
          f"`targetHealthIntervalSeconds: 10`; every app probes one local endpoint that always answers 200")
    print(f"- machine: {os.cpu_count()} CPUs; load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after; "
          f"agent, moto and this script share them; binary target/release/failover-agent built {built}; --seconds {args.seconds:g}\n")
    print(table(results, args))
    for r in results:
        if r["other_ops"]:
            print(f"\n{r['case']}: other AWS calls: {r['other_ops']}")
        for w in r["wrong_examples"]:
            print(f"\n{r['case']}: wrong verdict: {w}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log(f"error: {e}")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
