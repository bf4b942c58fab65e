#!/usr/bin/env python3
"""Checks Grafana dashboards and Prometheus rules against promtool and the agent's real /metrics output.

Usage:
    python3 dashboards/check.py --metrics METRICS_FILE [--rules RULES.yaml ...]
                                [--promtool PATH] [DASHBOARD.json ...]

With no dashboard given, checks every dashboards/*.json next to this script (the
per-app dashboard failover-agent.json and overview.json). Rules files are checked
only when given, e.g. --rules deploy/prometheus/alerts.yaml (repeatable).

For each dashboard it:
  * loads the JSON;
  * checks its shape: a uid (unique over the files checked), unique panel ids, and
    every panel and query using the dashboard's Prometheus datasource variable;
  * collects every PromQL `expr` of every panel (also panels nested in rows) and every
    PromQL template-variable query (for label_values(selector, label), the selector);
  * replaces Grafana variables ($__rate_interval, $__interval, $__range -> 5m; the
    dashboard's own variables -> .*) and has `promtool check rules` parse the lot;
  * checks that every failover_agent_* metric name the dashboard mentions is exported,
    i.e. appears in METRICS_FILE (Prometheus text exposition, e.g. `curl :9090/metrics`).

For each rules file it runs `promtool check rules` on the file as it is (every
expression and template parses, no lint problem such as duplicate rules); checks that
every failover_agent_* metric name in its rule expressions is exported (other metrics,
such as up, process_* or kube-state-metrics' kube_*, are not the agent's to export and
are not checked); and checks that each relative runbook_url (a path from the
repository root, then #anchor) names a heading of an existing file.

Exit status: 0 all good, 1 problems found (each one listed), 2 the check could not run.
Standard library only (Python 3.11).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Digits too (route53); a name going on with ':' is a recording rule's, not the agent's.
AGENT_METRIC = re.compile(r"(?<![A-Za-z0-9_:])failover_agent_[A-Za-z0-9_]+(?![A-Za-z0-9_:])")
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

# Grafana's built-in variables, as promtool should see them.
BUILTINS = {
    "__rate_interval": "5m",
    "__interval": "5m",
    "__range": "5m",
    "__rate_interval_ms": "300000",
    "__interval_ms": "300000",
    "__range_ms": "300000",
    "__range_s": "300",
}
# $name, ${name}, ${name:format}, ${name.field}, [[name]], [[name:format]]: the forms
# Grafana interpolates.
VARIABLE = re.compile(
    r"\$\{(?P<braced>\w+)(?:\.[^}:]*)?(?::[^}]*)?\}"
    r"|\[\[(?P<bracketed>\w+)(?::[^\]]*)?\]\]"
    r"|\$(?P<plain>\w+)"
)
LABEL_VALUES = re.compile(r"^\s*label_values\s*\((?P<args>.*)\)\s*$", re.S)
QUERY_RESULT = re.compile(r"^\s*query_result\s*\((?P<expr>.*)\)\s*$", re.S)
NOT_PROMQL = re.compile(r"^\s*(label_names|metrics)\s*\(", re.S)
PROMTOOL_RULE = re.compile(r'rule (\d+), "dashboard:expr_\d+": (.*)')


@dataclass
class Expr:
    file: str
    where: str  # e.g. panel "Verdict per app" (id 6), query B
    source: str  # as written in the dashboard
    promql: str  # after variable substitution


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def panel_label(panel: dict, parent: str | None) -> str:
    title = panel.get("title") or "(untitled)"
    label = f'panel "{title}"'
    if panel.get("id") is not None:
        label += f" (id {panel['id']})"
    return f'{parent} > {label}' if parent else label


def iter_panels(panels, parent: str | None = None):
    """Yields (label, panel) for every panel, descending into rows' nested panels."""
    for panel in panels or []:
        if not isinstance(panel, dict):
            continue
        label = panel_label(panel, parent)
        yield label, panel
        if panel.get("panels"):
            yield from iter_panels(panel["panels"], label)


def is_prometheus(ds) -> bool:
    """False only when a datasource is explicitly something other than Prometheus."""
    if isinstance(ds, dict):
        kind = ds.get("type")
        return kind in (None, "prometheus") or ds.get("uid") == "-- Mixed --"
    return True  # a variable reference such as "$datasource", a name, or nothing


def substitute(text: str, variables: set[str], problems: list[str], where: str) -> str:
    def repl(m: re.Match) -> str:
        name = m.group("braced") or m.group("bracketed") or m.group("plain")
        if name in BUILTINS:
            return BUILTINS[name]
        if name in variables:
            return ".*"
        if name[0].isdigit() or name.startswith("__"):
            return m.group(0)  # $1 in label_replace, or a built-in we do not model
        problems.append(f"{where}: uses ${name}, which is not a variable of this dashboard")
        return m.group(0)

    return VARIABLE.sub(repl, text)


def split_label_values(args: str) -> tuple[str | None, str]:
    """label_values(selector, label) -> (selector, label); label_values(label) -> (None, label)."""
    depth, quote, escaped, cut = 0, None, False, None
    for i, ch in enumerate(args):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'`":
            quote = ch
        elif ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        elif ch == "," and depth == 0:
            cut = i
    if cut is None:
        return None, args.strip()
    return args[:cut].strip(), args[cut + 1 :].strip()


def collect(path: Path, dash: dict, problems: list[str]) -> list[Expr]:
    name = str(path)
    templating = (dash.get("templating") or {}).get("list") or []
    variables = {v.get("name") for v in templating if isinstance(v, dict) and v.get("name")}
    exprs: list[Expr] = []

    def add(where: str, source: str):
        if not isinstance(source, str) or not source.strip():
            problems.append(f"{name}: {where}: empty expression")
            return
        promql = substitute(source, variables, problems, f"{name}: {where}")
        exprs.append(Expr(name, where, source, promql))

    for var in templating:
        if not isinstance(var, dict) or var.get("type") != "query":
            continue
        if not is_prometheus(var.get("datasource")):
            continue
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        query = query or var.get("definition") or ""
        where = f'variable "{var.get("name")}"'
        if not query.strip():
            problems.append(f"{name}: {where}: empty query")
            continue
        if m := LABEL_VALUES.match(query):
            selector, label = split_label_values(m.group("args"))
            if not LABEL_NAME.fullmatch(label):
                problems.append(f"{name}: {where}: {label!r} is not a label name in {query!r}")
            if selector:
                add(f"{where} selector", selector)
        elif m := QUERY_RESULT.match(query):
            add(where, m.group("expr"))
        elif NOT_PROMQL.match(query):
            continue
        else:  # Grafana sends anything else as a series selector
            add(where, query)

    for label, panel in iter_panels(dash.get("panels")):
        panel_ds = panel.get("datasource")
        for i, target in enumerate(panel.get("targets") or []):
            if not isinstance(target, dict) or "expr" not in target:
                continue
            if not is_prometheus(target.get("datasource", panel_ds)):
                continue
            add(f"{label}, query {target.get('refId') or i}", target["expr"])
    return exprs


def datasource_variables(dash: dict) -> set[str]:
    """Names of the dashboard's Prometheus datasource variables."""
    templating = (dash.get("templating") or {}).get("list") or []
    return {v.get("name") for v in templating
            if isinstance(v, dict) and v.get("type") == "datasource"
            and v.get("query") == "prometheus" and v.get("name")}


def uses_variable(ds, names: set[str]) -> bool:
    """True when a datasource reference is one of the variables `names` ($ds, ${ds})."""
    ref = ds.get("uid") if isinstance(ds, dict) else ds
    if not isinstance(ref, str):
        return False
    m = VARIABLE.fullmatch(ref.strip())
    return bool(m) and (m.group("braced") or m.group("bracketed") or m.group("plain")) in names


def check_shape(path: Path, dash: dict, uids: dict[str, Path], problems: list[str]):
    """The dashboard contract: a unique uid, unique panel ids, and every Prometheus panel,
    query and query variable on the datasource variable (so the dashboard imports into
    any Grafana and follows the data source picked at the top)."""
    uid = dash.get("uid")
    if not isinstance(uid, str) or not uid.strip():
        problems.append(f"{path}: no uid (links and provisioning need a stable one)")
    elif uid in uids:
        problems.append(f"{path}: uid {uid!r} is also the uid of {uids[uid]}")
    else:
        uids[uid] = path
    ds_vars = datasource_variables(dash)
    if not ds_vars:
        problems.append(f'{path}: no datasource variable (type "datasource", query "prometheus")')
    templating = (dash.get("templating") or {}).get("list") or []
    for var in templating:
        if isinstance(var, dict) and var.get("type") == "query" and ds_vars:
            ds = var.get("datasource")
            if is_prometheus(ds) and not uses_variable(ds, ds_vars):
                problems.append(f'{path}: variable "{var.get("name")}": datasource {ds!r} is not '
                                f"${'/$'.join(sorted(ds_vars))}")
    ids: dict[int, str] = {}
    for label, panel in iter_panels(dash.get("panels")):
        pid = panel.get("id")
        if pid is None:
            problems.append(f"{path}: {label}: no id")
        elif pid in ids:
            problems.append(f"{path}: {label}: id {pid} is also the id of {ids[pid]}")
        else:
            ids[pid] = label
        targets = [t for t in panel.get("targets") or [] if isinstance(t, dict)]
        if not targets or not ds_vars:
            continue
        if is_prometheus(panel.get("datasource")) and not uses_variable(panel.get("datasource"), ds_vars):
            problems.append(f"{path}: {label}: datasource {panel.get('datasource')!r} is not "
                            f"${'/$'.join(sorted(ds_vars))}")
        for i, t in enumerate(targets):
            if "datasource" in t and is_prometheus(t["datasource"]) \
                    and not uses_variable(t["datasource"], ds_vars):
                problems.append(f"{path}: {label}, query {t.get('refId') or i}: datasource "
                                f"{t['datasource']!r} is not ${'/$'.join(sorted(ds_vars))}")


def agent_metrics_used(dash) -> dict[str, set[str]]:
    """failover_agent_* names anywhere in the dashboard -> where (panel or JSON path)."""
    used: dict[str, set[str]] = {}

    def walk(node, path: str, where: str):
        if isinstance(node, dict):
            if path.startswith("panels") and "type" in node and "gridPos" in node:
                where = panel_label(node, where if where.startswith("panel") else None)
            elif path.startswith("templating") and "name" in node and "type" in node:
                where = f'variable "{node["name"]}"'
            for key, value in node.items():
                walk(value, f"{path}.{key}", where)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]", where)
        elif isinstance(node, str):
            for metric in AGENT_METRIC.findall(node):
                used.setdefault(metric, set()).add(where or path)

    for key in ("templating", "panels", "annotations"):
        walk(dash.get(key), key, "")
    return used


def exported_metrics(text: str) -> set[str]:
    """Metric names a text exposition exports, from its samples and its # TYPE lines."""
    names: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "TYPE":
                family, kind = parts[2], parts[3]
                names.add(family)
                if kind == "histogram":
                    names.update(family + s for s in ("_bucket", "_sum", "_count"))
                elif kind == "summary":
                    names.update(family + s for s in ("_sum", "_count"))
                elif kind == "counter" and not family.endswith("_total"):
                    names.add(family + "_total")  # OpenMetrics names the family without it
            continue
        m = METRIC_NAME.match(line)
        if m:
            name = m.group(0)
            names.add(name)
            for suffix in ("_bucket", "_sum", "_count"):
                if name.endswith(suffix):
                    names.add(name[: -len(suffix)])
    return names


def rules_yaml(exprs: list[Expr]) -> str:
    # json.dumps yields a double-quoted string, which is valid YAML.
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for n, e in enumerate(exprs, 1):
        lines.append(f"      - record: dashboard:expr_{n}")
        lines.append(f"        expr: {json.dumps(e.promql)}")
    return "\n".join(lines) + "\n"


def promtool_check(promtool: str, exprs: list[Expr]) -> list[str]:
    """Problems for the expressions promtool cannot parse."""
    if not exprs:
        return []

    def run(batch: list[Expr]) -> subprocess.CompletedProcess:
        with tempfile.NamedTemporaryFile("w", suffix=".rules.yml", prefix="dashboard-") as f:
            f.write(rules_yaml(batch))
            f.flush()
            return subprocess.run([promtool, "check", "rules", f.name],
                                  capture_output=True, text=True, timeout=120)

    res = run(exprs)
    if res.returncode == 0:
        return []
    output = res.stdout + res.stderr
    problems, seen = [], set()
    for m in PROMTOOL_RULE.finditer(output):
        n = int(m.group(1))
        if 1 <= n <= len(exprs) and n not in seen:
            seen.add(n)
            e = exprs[n - 1]
            problems.append(f"{e.file}: {e.where}: does not parse: {m.group(2).strip()}\n"
                            f"    expr: {e.source}")
    if problems:
        return problems
    # Output we could not map to rules: try the expressions one by one.
    for e in exprs:
        single = run([e])
        if single.returncode != 0:
            msg = " ".join((single.stdout + single.stderr).split())
            problems.append(f"{e.file}: {e.where}: promtool rejects it: {msg}\n    expr: {e.source}")
    return problems or [f"promtool check rules failed: {output.strip()}"]


RULE_KEY = re.compile(r"^(?P<indent>\s*)(?P<dash>-\s+)?(?P<key>alert|record|expr):\s*(?P<value>.*?)\s*$")
BLOCK_SCALAR = re.compile(r"^[|>][0-9+-]*(\s+#.*)?$")


def yaml_scalar(value: str, following: list[str], key_column: int) -> str:
    """The text of a YAML scalar: plain, quoted, or a block (| or >) on the lines after."""
    if BLOCK_SCALAR.match(value):
        lines = []
        for line in following:
            if line.strip() and len(line) - len(line.lstrip()) <= key_column:
                break
            lines.append(line)
        return "\n".join(lines).strip()
    if value.startswith('"'):
        try:
            return json.loads(value)  # a double-quoted YAML scalar is (nearly) JSON
        except json.JSONDecodeError:
            return value.strip('"')
    if value.startswith("'"):
        return value[1:-1].replace("''", "'")
    return value.split(" #")[0]


def rule_exprs(text: str) -> list[tuple[str, str]]:
    """(where, expr) for every rule of a Prometheus rules file. A small reader for the
    usual layout (one key per line, block or inline scalars), so no YAML library is
    needed; promtool checks the file itself."""
    lines = text.splitlines()
    items: list[dict] = []  # one per rule: key column, name, expr, line
    for n, line in enumerate(lines):
        m = RULE_KEY.match(line)
        if not m:
            continue
        column = len(m.group("indent")) + len(m.group("dash") or "")
        if m.group("dash") or not items or items[-1]["column"] != column:
            items.append({"column": column, "name": None, "expr": None, "line": n + 1})
        item = items[-1]
        value = yaml_scalar(m.group("value"), lines[n + 1:], column)
        if m.group("key") == "expr":
            item["expr"], item["expr_line"] = value, n + 1
        else:
            item["name"] = f'{m.group("key")} {value}'
    return [(f'{it["name"] or "rule"} (line {it["expr_line"]})', it["expr"])
            for it in items if it["expr"] is not None]


RUNBOOK_URL = re.compile(r"""^\s*runbook_url:\s*["']?(?P<file>[^"'#\s]+)#(?P<anchor>[^"'\s]+)""", re.M)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def check_runbooks(path: Path, text: str, problems: list[str]):
    """Every relative runbook_url (file#anchor, from the repository root) names an
    existing file and one of its headings."""
    root = Path(__file__).resolve().parent.parent
    anchors: dict[Path, set[str] | None] = {}
    for m in RUNBOOK_URL.finditer(text):
        if re.match(r"^[a-z]+://", m.group("file")):
            continue  # an absolute URL: not ours to check
        target = root / m.group("file")
        if target not in anchors:
            try:
                headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$",
                                      target.read_text(encoding="utf-8"), re.M)
                anchors[target] = {github_anchor(h) for h in headings}
            except (OSError, UnicodeDecodeError):
                anchors[target] = None
        if anchors[target] is None:
            problems.append(f"{path}: runbook_url {m.group('file')}#{m.group('anchor')}: "
                            f"no such file {target}")
        elif m.group("anchor") not in anchors[target]:
            problems.append(f"{path}: runbook_url {m.group('file')}#{m.group('anchor')}: "
                            f"no such heading in {m.group('file')}")


def check_rules(promtool: str, path: Path, exported: set[str], metrics_file: Path,
                problems: list[str]) -> int:
    """promtool check rules on the file, and the metric names of its expressions. Returns
    how many expressions it found."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        problems.append(f"{path}: cannot read: {e}")
        return 0
    res = subprocess.run([promtool, "check", "rules", str(path)],
                         capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        output = "\n    ".join(line for line in (res.stdout + res.stderr).strip().splitlines()
                               if line.strip())
        problems.append(f"{path}: promtool check rules failed:\n    {output}")
    check_runbooks(path, text, problems)
    exprs = rule_exprs(text)
    if not exprs:
        problems.append(f"{path}: no rule expressions found")
    for where, expr in exprs:
        for metric in sorted(set(AGENT_METRIC.findall(expr))):
            if metric not in exported:
                problems.append(f"{path}: {where}: metric {metric} is not exported "
                                f"(not in {metrics_file})")
    return len(exprs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--metrics", required=True, type=Path,
                    help="the agent's /metrics output (Prometheus text format)")
    ap.add_argument("--rules", action="append", default=[], type=Path, metavar="RULES.yaml",
                    help="also check this Prometheus rules file (repeatable), "
                         "e.g. deploy/prometheus/alerts.yaml")
    ap.add_argument("--promtool", default="promtool", help="promtool binary (default: from PATH)")
    ap.add_argument("dashboards", nargs="*", type=Path,
                    help="dashboard JSON files (default: every dashboards/*.json)")
    args = ap.parse_args(argv)

    files = args.dashboards or sorted(Path(__file__).resolve().parent.glob("*.json"))
    if not files:
        print("check.py: no dashboard files to check", file=sys.stderr)
        return 2
    promtool = shutil.which(args.promtool)
    if not promtool:
        print(f"check.py: promtool not found: {args.promtool}", file=sys.stderr)
        return 2
    try:
        exported = exported_metrics(args.metrics.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        print(f"check.py: cannot read metrics file: {e}", file=sys.stderr)
        return 2
    if not any(AGENT_METRIC.fullmatch(n) for n in exported):
        print(f"check.py: warning: {args.metrics} has no failover_agent_* metrics", file=sys.stderr)

    problems: list[str] = []
    exprs: list[Expr] = []
    uids: dict[str, Path] = {}
    for path in files:
        try:
            dash = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            problems.append(f"{path}: cannot read: {e}")
            continue
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            problems.append(f"{path}: invalid JSON: {e}")
            continue
        if not isinstance(dash, dict):
            problems.append(f"{path}: not a dashboard (top level is not an object)")
            continue
        if isinstance(dash.get("dashboard"), dict):  # the API's {"dashboard": ...} wrapper
            dash = dash["dashboard"]
        check_shape(path, dash, uids, problems)
        exprs += collect(path, dash, problems)
        for metric, wheres in sorted(agent_metrics_used(dash).items()):
            if metric not in exported:
                problems.append(f"{path}: metric {metric} is not exported (not in {args.metrics}); "
                                f"used in {', '.join(sorted(wheres))}")

    rule_count = 0
    try:
        problems += promtool_check(promtool, exprs)
        for path in args.rules:
            rule_count += check_rules(promtool, path, exported, args.metrics, problems)
    except (OSError, subprocess.SubprocessError) as e:
        print(f"check.py: running promtool failed: {e}", file=sys.stderr)
        return 2

    summary = f"dashboards: {plural(len(files), 'file')}, {plural(len(exprs), 'expression')}"
    if args.rules:
        summary += (f"; rules: {plural(len(args.rules), 'file')}, "
                    f"{plural(rule_count, 'expression')}")
    if problems:
        for p in problems:
            print(f"FAIL {p}")
        print(f"{summary}, {plural(len(problems), 'problem')}")
        return 1
    print(f"{summary}, all parse, all metrics exported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
