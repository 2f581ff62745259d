"""Markdown tables from the JSON lines of ``python -m bench --out FILE``: ``python -m bench.report FILE``.

Repeated fan-out sizes are shown run by run (``run 1 / run 2``), as in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from typing import Any


def cells(values: list[Any], digits: int = 1) -> str:
    def one(v: Any) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:,.{digits}f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    return " / ".join(one(v) for v in values)


def get(d: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(key)  # type: ignore[assignment]
    return d


FANOUT_ROWS = [
    ("flood deliveries/s", "flood.deliveries_per_s", 0, "flood_deliveries_per_s"),
    ("flood server µs/delivery", "flood.server_us_per_delivery", 2, None),
    ("flood client µs/delivery", "flood.client_us_per_delivery", 2, None),
    ("flood limit (≥ 90 % CPU)", "flood.limit", 0, None),
    ("paced last-listener p50 ms", "paced.last_listener_ms.p50", 1, "paced_last_listener_p50"),
    ("paced last-listener p99 ms", "paced.last_listener_ms.p99", 1, "paced_last_listener_p99"),
    ("paced last-listener max ms", "paced.last_listener_ms.max", 1, None),
    ("paced per-delivery p50 ms", "paced.delivery_ms.p50", 1, None),
    ("paced per-delivery p95 ms", "paced.delivery_ms.p95", 1, None),
    ("paced per-delivery p99 ms", "paced.delivery_ms.p99", 1, "paced_delivery_p99"),
    ("paced server CPU %", "paced.server_cpu_pct", 1, None),
    ("paced server µs/delivery", "paced.server_us_per_delivery", 2, "paced_server_us_per_delivery"),
    ("paced client µs/delivery", "paced.client_us_per_delivery", 2, None),
    ("KB RSS per idle socket", "kb_per_idle_conn", 1, "kb_per_idle_conn"),
    ("connect N sockets, s", "connect_s", 2, None),
    ("gaps / closed sockets", "flood.gaps", 0, None),
]


def fanout(rows: list[dict[str, Any]]) -> str:
    by_n: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_n[r["listeners"]].append(r)
    out = []
    for n, runs in sorted(by_n.items()):
        out.append(f"\n**N = {n} listeners** ({len(runs)} run{'s' if len(runs) > 1 else ''})\n")
        out.append("| measure | ours | reference | ratio ours / reference |")
        out.append("|---|---|---|---|")
        for label, path, digits, ratio_key in FANOUT_ROWS:
            ours = [get(r["ours"], path) for r in runs]
            ref = [get(r["reference"], path) for r in runs]
            rat = [r["ratio"].get(ratio_key) for r in runs] if ratio_key else []
            out.append(f"| {label} | {cells(ours, digits)} | {cells(ref, digits)} | {cells(rat, 2) if rat else ''} |")
        bare = [get(r, "bare_starlette.kb_per_idle_conn") for r in runs]
        out.append(f"| KB per idle socket, bare Starlette/uvicorn | {cells(bare, 1)} | | |")
    return "\n".join(out)


def commands(rows: list[dict[str, Any]]) -> str:
    out = ["| database | groups | acked skips/s | ack p50 / p99 / max ms | server CPU % | server µs/skip | errors |"]
    out.append("|---|---|---|---|---|---|---|")
    for r in rows:
        if "skipped" in r or "error" in r:
            out.append(f"| {r.get('database')} | {r.get('groups')} | {r.get('skipped') or r.get('error')} | | | | |")
            continue
        ack = r["ack_ms"]
        out.append(
            f"| {r['database']} | {r['groups']} | {r['acked_per_s']:,} | {ack['p50']:.1f} / {ack['p99']:.1f} / "
            f"{ack['max']:.1f} | {r['server_cpu_pct']} | {r['server_us_per_command']} | {r['errors'] or 0} |"
        )
    return "\n".join(out)


def scaleout(rows: list[dict[str, Any]]) -> str:
    out = [
        "| processes | listeners | paced delivery p99 ms, by process | last-listener p50 / p99 ms | ack p50 / p99 ms "
        "| flood deliveries/s | flood server CPU % (all) | gaps / closed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "paced" not in r:
            out.append(f"| {r.get('processes')} | {r.get('skipped') or r.get('error')} | | | | | | |")
            continue
        p, f = r["paced"], r["flood"]
        by = p.get("delivery_ms_by_process") or {"0": p["delivery_ms"]}
        per = ", ".join(f"{k}: {v['p99']:.1f}" for k, v in sorted(by.items()))
        ll, ack = p["last_listener_ms"], p["ack_ms"]
        out.append(
            f"| {r['processes']} | {r['listeners_open']} | {per} | {ll['p50']:.1f} / {ll['p99']:.1f} | "
            f"{ack['p50']:.1f} / {ack['p99']:.1f} | {f['deliveries_per_s']:,} | {f['server_cpu_pct']} | "
            f"{p['gaps'] + f['gaps']} / {sum(p['closed'].values()) + sum(f['closed'].values())} |"
        )
    return "\n".join(out)


def main(path: str) -> None:
    results = [json.loads(line) for line in open(path) if line.startswith("{")]
    kinds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        kinds[r.get("scenario", "?")].append(r)
    print("### Fan-out\n" + fanout([r for r in kinds["fanout"] if "ours" in r]))
    print("\n### Join storm\n")
    for r in kinds["joinstorm"]:
        print("```json\n" + json.dumps({k: v for k, v in r.items() if k != "machine"}) + "\n```")
    print("\n### Command throughput\n" + commands(kinds["commands"]))
    print("\n### Scale-out\n" + scaleout(kinds["scaleout"]))
    for r in kinds["crossproc"]:
        print("\n```json\n" + json.dumps({k: v for k, v in r.items() if k != "machine"}) + "\n```")
    for r in kinds["targets"]:
        print("\n### Targets\n\n| target | value | limit | met |\n|---|---|---|---|")
        for name, t in r.items():
            if name == "scenario":
                continue
            limit = f"≤ {t['max']}" if "max" in t else f"≥ {t['min']}"
            print(f"| {name} | {t['value']} | {limit} | {t['met']} |")


if __name__ == "__main__":
    main(sys.argv[1])
