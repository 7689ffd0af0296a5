"""The benchmark runner: ``python -m benchmarks.run [--quick] [--reps N] [...]``
(``./scripts/bench`` sets up its venv and Kafka, then calls this).

For each scenario it pre-fills the input topic once with the raw producer, then
runs every implementation in a subprocess of its own, alternating their order
from one repetition to the next, and reports the median of the repetitions.
It prints a table of rates and ratios and, for a full run, writes it to
``benchmarks/RESULTS.md`` with the machine and the versions used.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
PROFILES = ROOT / ".cache" / "bench"
FRAMEWORKS = ("topicflow", "raw", "faststream")
LABELS = {
    "topicflow": "topicflow",
    "raw": "raw aiokafka",
    "faststream": "FastStream",
    "together": "all, in one process",
}
#: Publishes per turn when the implementations share one process (``together``).
TURN = 20
#: Partitions of the pre-filled input topics.
PARTITIONS = 3


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One row of the table."""

    #: "1" to "8"; a letter marks a variant of a scenario ("4a", "4b", "4i").
    number: str
    key: str  # the key of SCENARIOS in benchmarks/{tf,raw,fs}.py
    title: str
    count: int
    quick_count: int
    kind: str  # "consume", "publish", "latency" or "memory"
    target: str
    check: Callable[[dict[str, Any]], bool | None]
    frameworks: tuple[str, ...] = FRAMEWORKS
    #: At least this many repetitions (the broker's round trip time varies most).
    min_reps: int = 1
    #: All implementations in one process, taking turns (``benchmarks/together.py``).
    together: bool = False
    #: Passed to every implementation besides the usual ones (``{"idempotence": False}``).
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


def _ratio(results: dict[str, Any], other: str) -> float | None:
    tf, base = results.get("topicflow", {}).get("rate"), results.get(other, {}).get("rate")
    return tf / base if tf and base else None


def _at_least(other: str, bound: float) -> Callable[[dict[str, Any]], bool | None]:
    def check(results: dict[str, Any]) -> bool | None:
        ratio = _ratio(results, other)
        return None if ratio is None else ratio >= bound

    return check


def _consume_target(results: dict[str, Any]) -> bool | None:
    raw, fs = _ratio(results, "raw"), _ratio(results, "faststream")
    if raw is None:
        return None
    return raw >= 0.70 and (fs is None or fs >= 8)


def _otel_target(results: dict[str, Any]) -> bool | None:
    raw, fs = _ratio(results, "raw"), _ratio(results, "faststream")
    if raw is None:
        return None
    return raw >= 0.50 and (fs is None or fs >= 10)


def _prometheus_target(results: dict[str, Any]) -> bool | None:
    raw, fs = _ratio(results, "raw"), _ratio(results, "faststream")
    if raw is None:
        return None
    return raw >= 0.80 and (fs is None or fs >= 10)


def _latency_target(results: dict[str, Any]) -> bool | None:
    tf, raw = results.get("topicflow", {}).get("p50_ms"), results.get("raw", {}).get("p50_ms")
    return None if not tf or not raw else tf <= 1.5 * raw


def _memory_target(results: dict[str, Any]) -> bool | None:
    growth = results.get("topicflow", {}).get("rss_growth")
    return None if growth is None else growth < 0.05


SCENARIOS = (
    Scenario(
        "1",
        "consume_ack",
        "consume, single-message handler, typed body, AckPolicy.ACK",
        200_000,
        20_000,
        "consume",
        ">= 0.70x raw, >= 8x FastStream",
        _consume_target,
    ),
    # Scenario 1 with each framework's own OpenTelemetry middleware on the SDK (spans
    # and metrics exported nowhere); raw aiokafka traces nothing. FastStream on ACK in
    # 1o (topicflow's policy), on its Kafka default ACK_FIRST in 1of.
    Scenario(
        "1o",
        "consume_ack_otel",
        "scenario 1 with OpenTelemetry (FastStream on AckPolicy.ACK)",
        200_000,
        20_000,
        "consume",
        ">= 0.50x raw, >= 10x FastStream",
        _otel_target,
    ),
    Scenario(
        "1of",
        "consume_otel_fs_default",
        "scenario 1 with OpenTelemetry (FastStream on its default ACK_FIRST)",
        200_000,
        20_000,
        "consume",
        ">= 0.50x raw, >= 10x FastStream",
        _otel_target,
    ),
    # Scenario 1 with each framework's Prometheus middleware (raw: no metrics). The
    # topicflow side is the same in both rows; FastStream runs on ACK in 1p, on its
    # default (ACK_FIRST, at-most-once) in 1q.
    Scenario(
        "1p",
        "consume_prometheus",
        "scenario 1 + Prometheus middleware (FastStream on AckPolicy.ACK)",
        200_000,
        20_000,
        "consume",
        ">= 0.80x raw, >= 10x FastStream",
        _prometheus_target,
    ),
    Scenario(
        "1q",
        "consume_prometheus_default",
        "scenario 1 + Prometheus middleware (FastStream on its default ACK_FIRST)",
        200_000,
        20_000,
        "consume",
        ">= 0.80x raw, >= 10x FastStream",
        _prometheus_target,
    ),
    Scenario(
        "2",
        "consume_ack_first",
        "the same under ACK_FIRST",
        200_000,
        20_000,
        "consume",
        ">= 0.80x raw",
        _at_least("raw", 0.80),
    ),
    Scenario(
        "3",
        "consume_batch",
        "batch consume, list[Model], max_records=1000",
        200_000,
        20_000,
        "consume",
        ">= 0.90x raw",
        _at_least("raw", 0.90),
    ),
    Scenario(
        "4",
        "publish_no_confirm",
        "publish(no_confirm=True)",
        200_000,
        20_000,
        "publish",
        ">= 0.85x raw",
        _at_least("raw", 0.85),
    ),
    # Scenario 4's raw side writes topicflow's headers with a new uuid4 each; these
    # two measure against what a plain user of the client writes: no headers at all.
    Scenario(
        "4a",
        "publish_plain_dict",
        "publish(dict, no_confirm=True) vs plain json.dumps + send()",
        200_000,
        20_000,
        "publish",
        ">= 0.85x plain raw",
        _at_least("raw", 0.85),
    ),
    Scenario(
        "4b",
        "publish_plain_model",
        "publish(model, no_confirm=True) vs plain to_json + send()",
        200_000,
        20_000,
        "publish",
        ">= 0.85x plain raw",
        _at_least("raw", 0.85),
    ),
    # Scenarios 4 and 5 with every producer as it was before idempotence became
    # topicflow's default: what idempotence costs is the step from 4i to 4, 5i to 5.
    Scenario(
        "4i",
        "publish_no_confirm",
        "scenario 4, every producer with enable_idempotence=False",
        200_000,
        20_000,
        "publish",
        ">= 0.85x raw",
        _at_least("raw", 0.85),
        params={"idempotence": False},
    ),
    Scenario(
        "5",
        "publish_confirmed",
        "sequential confirmed publish()",
        5_000,
        500,
        "publish",
        ">= 0.95x raw",
        _at_least("raw", 0.95),
        # One broker round trip per message, and the round trip drifts by 30% over
        # seconds: the implementations share one process and take turns.
        min_reps=7,
        together=True,
    ),
    Scenario(
        "5i",
        "publish_confirmed",
        "scenario 5, every producer with enable_idempotence=False",
        5_000,
        500,
        "publish",
        ">= 0.95x raw",
        _at_least("raw", 0.95),
        min_reps=7,
        together=True,
        params={"idempotence": False},
    ),
    Scenario(
        "6",
        "pipeline",
        "consume -> transform -> @publisher",
        200_000,
        20_000,
        "consume",
        ">= 0.60x raw",
        _at_least("raw", 0.60),
    ),
    Scenario(
        "7",
        "request_reply",
        "request()/reply round trips",
        2_000,
        200,
        "latency",
        "p50 <= 1.5x raw",
        _latency_target,
        # Also one broker round trip after another: a run's p50 moves by up to 1.5x.
        min_reps=5,
    ),
    Scenario(
        "8",
        "memory",
        "memory: scenario 1 with 1M messages",
        1_000_000,
        100_000,
        "memory",
        "RSS growth 200k -> 1M < 5%",
        _memory_target,
        # FastStream at ~10k msg/s would need minutes for 1M messages.
        frameworks=("topicflow", "raw"),
    ),
)


# -- Kafka: topics and pre-filling -------------------------------------------------


async def create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    """Create ``{name: partitions}`` and wait until the cluster lists them."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, n, 1) for name, n in topics.items()])
        for _ in range(200):
            if set(topics) <= set(await admin.list_topics()):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"topics {sorted(topics)} were not created")
    finally:
        await admin.close()


async def prefill(bootstrap: str, topic: str, count: int) -> float:
    """Write ``count`` Order records with the raw producer, batched; returns seconds."""
    from aiokafka import AIOKafkaProducer

    from benchmarks.common import order_record

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024, acks=1
    )
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for i in range(count):
            value, headers = order_record(i)
            pending.append(await producer.send(topic, value, headers=headers))
            if len(pending) >= 50_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


# -- workers -----------------------------------------------------------------------


def run_worker(
    framework: str,
    scenario: str,
    params: dict[str, Any],
    *,
    python: str = sys.executable,
    timeout: float = 300,
    profile: Path | None = None,
) -> dict[str, Any]:
    """One measurement in a fresh process; its result, or ``{"error": ...}``."""
    command = [python, "-m", "benchmarks.worker", framework, scenario, json.dumps(params)]
    if profile is not None:
        command += ["--profile", str(profile)]
    try:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
    return {"error": f"exit {done.returncode}: " + " | ".join(tail)}


def _reachable(bootstrap: str) -> bool:
    """True when the first bootstrap address accepts a connection."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError):
        return False
    return True


def wait_for_kafka(bootstrap: str, timeout: float = 120) -> bool:
    """True once the broker accepts connections again (a shared one may restart)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _reachable(bootstrap):
            time.sleep(1)
            continue
        time.sleep(5)  # listening is not yet serving: let it load its partitions
        return True
    return False


def measure(framework: str, scenario: str, params: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """``run_worker``, once more after a failure (the shared broker may have restarted)."""
    result = run_worker(framework, scenario, params, **kw)
    if "error" in result and wait_for_kafka(params["bootstrap"]):
        print(f"   {LABELS[framework]} failed ({result['error'][:80]}...); once more", flush=True)
        params = {**params, "group": params["group"] + "-retry"}
        result = run_worker(framework, scenario, params, **kw)
    return result


def _params(
    scenario: Scenario, bootstrap: str, topic: str, count: int, cap: float
) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    params: dict[str, Any] = {
        "bootstrap": bootstrap,
        "topic": topic,
        "group": f"bench-{scenario.key}-{tag}",
        "count": count,
        "cap": cap,
    }
    if scenario.key == "consume_batch":
        params["max_records"] = 1000
    if scenario.key == "pipeline":
        params["out_topic"] = f"bench-out-{tag}"
    if scenario.key == "memory":
        params["rss_at"] = [count // 5, count]
    params.update(scenario.params)
    return params


def order_for(rep: int, frameworks: tuple[str, ...]) -> list[str]:
    """The frameworks rotated by ``rep``: each runs first, middle and last in turn."""
    shift = rep % len(frameworks)
    return list(frameworks[shift:] + frameworks[:shift])


def summarize(scenario: Scenario, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians of the repetitions per framework (errors and unsupported kept as text)."""
    summary: dict[str, Any] = {}
    for framework, results in runs.items():
        good = [r for r in results if "error" not in r and "unsupported" not in r]
        if not good:
            first = results[0] if results else {"error": "not run"}
            summary[framework] = {"note": first.get("unsupported") or first.get("error")}
            continue
        entry: dict[str, Any] = {"runs": len(good)}
        if scenario.kind == "latency":
            entry["p50_ms"] = statistics.median(r["p50_ms"] for r in good)
            entry["p99_ms"] = statistics.median(r["p99_ms"] for r in good)
        else:
            entry["rate"] = statistics.median(r["rate"] for r in good)
            entry["rates"] = [round(r["rate"]) for r in good]
            entry["count"] = min(r["count"] for r in good)
        if scenario.kind == "memory":
            low, high = (str(n) for n in (scenario_rss_points(good[0])))
            at_low = statistics.median(r["rss"][low] for r in good)
            at_high = statistics.median(r["rss"][high] for r in good)
            entry.update(
                rss_low=at_low,
                rss_high=at_high,
                rss_growth=(at_high - at_low) / at_low,
                peak_rss=statistics.median(r["peak_rss"] for r in good),
                points=(int(low), int(high)),
            )
        summary[framework] = entry
    return summary


def scenario_rss_points(result: dict[str, Any]) -> tuple[int, int]:
    points = sorted(int(k) for k in result["rss"])
    return points[0], points[-1]


# -- output ------------------------------------------------------------------------


def _rate(entry: dict[str, Any]) -> str:
    if "rate" in entry:
        text = f"{entry['rate']:,.0f}"
        return text
    if "p50_ms" in entry:
        return f"p50 {entry['p50_ms']:.2f} ms / p99 {entry['p99_ms']:.2f} ms"
    return entry.get("note", "—")


def _mib(value: float) -> str:
    return f"{value / 2**20:.1f} MiB"


def table(rows: list[tuple[Scenario, dict[str, Any]]], unit_note: bool = True) -> str:
    """The Markdown table of a run."""
    lines = [
        "| # | scenario | topicflow | raw aiokafka | FastStream | topicflow/raw "
        "| topicflow/FastStream | target | met |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for scenario, summary in rows:
        cells = [scenario.number, scenario.title]
        for framework in FRAMEWORKS:
            entry = summary.get(framework)
            if entry is None:
                cells.append("not run")
            elif scenario.kind == "memory" and "rss_low" in entry:
                low, high = entry["points"]
                cells.append(
                    f"{entry['rate']:,.0f} msg/s; RSS {_mib(entry['rss_low'])} at {low:,} -> "
                    f"{_mib(entry['rss_high'])} at {high:,} ({entry['rss_growth']:+.1%}); "
                    f"peak {_mib(entry['peak_rss'])}"
                )
            else:
                cells.append(_rate(entry))
        if scenario.kind == "latency":
            tf, raw = summary.get("topicflow", {}), summary.get("raw", {})
            ratio = (
                f"p50 {tf['p50_ms'] / raw['p50_ms']:.2f}x"
                if tf.get("p50_ms") and raw.get("p50_ms")
                else "—"
            )
            cells += [ratio, "—"]
        else:
            raw_ratio, fs_ratio = _ratio(summary, "raw"), _ratio(summary, "faststream")
            cells.append(f"{raw_ratio:.2f}x" if raw_ratio is not None else "—")
            cells.append(f"{fs_ratio:.1f}x" if fs_ratio is not None else "—")
        met = scenario.check(summary)
        cells += [scenario.target, {True: "yes", False: "**no**", None: "—"}[met]]
        lines.append("| " + " | ".join(cells) + " |")
    if unit_note:
        lines.append("")
        lines.append(
            "Rates are messages per second (median of the repetitions); scenario 7 is "
            "the latency of one request/reply round trip."
        )
    return "\n".join(lines)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    """CPU, cores, Python and the versions of what was measured."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    rev = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    pom = (ROOT / "scripts" / "kafka-pom.xml").read_text()
    kafka = re.search(r"<kafka.version>([^<]+)<", pom)
    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "topicflow": f"{_version('topicflow')} (git {rev or 'unknown'})",
        "aiokafka": _version("aiokafka"),
        "pydantic": f"{_version('pydantic')} (pydantic-core {_version('pydantic-core')})",
        "FastStream": _version("faststream"),
        "Kafka": f"Apache Kafka {kafka.group(1) if kafka else '?'} (scripts/kafka), one broker",
        "Load average at the start": _load(),
    }


def _load() -> str:
    """The 1, 5 and 15 minute load averages: how busy the machine was besides us."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg()) + " (1 / 5 / 15 min)"


def _more_reps(reps: int) -> str:
    """`` (7 for scenario 5, ...)``: the scenarios that ask for more than ``reps``."""
    more = [f"{s.min_reps} for scenario {s.number}" for s in SCENARIOS if s.min_reps > reps]
    return f" ({', '.join(more)})" if more else ""


def write_results(
    path: Path,
    rows: list[tuple[Scenario, dict[str, Any]]],
    args: argparse.Namespace,
    seconds: float,
    info: dict[str, str],
) -> None:
    """RESULTS.md: the table, the machine and versions, every repetition's numbers."""
    lines = [
        "# Benchmark results",
        "",
        f"Latest full run of `./scripts/bench`: {datetime.date.today().isoformat()}, "
        f"{args.reps} repetitions per implementation{_more_reps(args.reps)}, median reported; "
        f"{seconds / 60:.1f} minutes in all.",
        "",
        table(rows),
        "",
        "## Machine and versions",
        "",
    ]
    lines += [f"- {name}: {value}" for name, value in info.items()]
    lines += [
        f"- Load average at the end: {_load()}",
        "",
        "Kafka, the workers and anything else running share the machine's cores, so "
        "single runs vary (by 10-30% when other work runs beside them; the load "
        "averages above tell). The implementations alternate within each repetition "
        "so that they share the noise; compare the ratios rather than the absolute rates.",
        "",
        "## Every repetition",
        "",
    ]
    for scenario, summary in rows:
        parts = []
        for framework, entry in summary.items():
            if "rates" in entry:
                parts.append(f"{LABELS[framework]} {entry['rates']}")
            elif "note" in entry:
                parts.append(f"{LABELS[framework]}: {entry['note']}")
        if parts:
            lines.append(f"- {scenario.number}. " + "; ".join(parts))
    lines += ["", "How each scenario is written: [README.md](README.md).", ""]
    path.write_text("\n".join(lines))


# -- main --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./scripts/bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="a tenth of the messages; RESULTS.md kept"
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument(
        "--scenarios",
        default="1-8",
        help="e.g. 1,2,7 or 4,4a,4b or 1-3; a range takes the rows between, so 4-5 "
        "is 4, 4a, 4b, 5 (default: all, 1-8)",
    )
    parser.add_argument(
        "--frameworks", default=",".join(FRAMEWORKS), help="default: topicflow,raw,faststream"
    )
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument(
        "--results", type=Path, help="where to write the table (full run: RESULTS.md)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run topicflow's scenarios once under pyinstrument (.cache/bench/)",
    )
    args = parser.parse_args(argv)
    try:
        selected = select_scenarios(args.scenarios)
    except ValueError:
        parser.error(
            f"--scenarios {args.scenarios!r}: there are scenarios "
            f"{', '.join(s.number for s in SCENARIOS)}; e.g. 1,2,7 or 4,4a,4b or 1-3 "
            "(see benchmarks/README.md)"
        )
    frameworks = tuple(f for f in args.frameworks.split(",") if f)
    unknown = sorted(set(frameworks) - set(FRAMEWORKS))
    if unknown or not frameworks:
        parser.error(f"--frameworks {args.frameworks!r}: choose among {', '.join(FRAMEWORKS)}")
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    if not _reachable(args.bootstrap):
        parser.error(
            f"no Kafka answers at {args.bootstrap}: start one with scripts/kafka start, or "
            "unset KAFKA_BOOTSTRAP and let ./scripts/bench start it"
        )
    if "faststream" in frameworks and importlib.util.find_spec("faststream") is None:
        print("FastStream is not installed here; run ./scripts/bench (its venv has it)")
        frameworks = tuple(f for f in frameworks if f != "faststream")
    started = time.perf_counter()
    info = machine()  # now: the code measured, before anything else changes the tree
    rows: list[tuple[Scenario, dict[str, Any]]] = []
    run_tag = uuid.uuid4().hex[:8]
    for scenario in selected:
        rows.append((scenario, run_scenario(scenario, args, frameworks, run_tag)))
        print(table(rows[-1:], unit_note=False).splitlines()[-1], flush=True)
    seconds = time.perf_counter() - started
    print()
    print(table(rows))
    print(f"\n{seconds / 60:.1f} minutes")
    everything = len(selected) == len(SCENARIOS)
    target = args.results or (None if args.quick or not everything else RESULTS)
    if target is not None:
        write_results(target, rows, args, seconds, info)
        print(f"written to {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    return 0


def run_scenario(
    scenario: Scenario, args: argparse.Namespace, frameworks: tuple[str, ...], run_tag: str
) -> dict[str, Any]:
    """Pre-fill, then every framework ``args.reps`` times in alternating order."""
    count = scenario.quick_count if args.quick else scenario.count
    cap = 10.0 if args.quick else 30.0
    present = tuple(f for f in scenario.frameworks if f in frameworks)
    topic = f"bench-{scenario.key}-{run_tag}"
    print(f"== {scenario.number}. {scenario.title}: {count:,} messages", flush=True)
    if scenario.kind in ("consume", "memory"):
        for attempt in (1, 2):
            try:
                asyncio.run(create_topics(args.bootstrap, {topic: PARTITIONS}))
                took = asyncio.run(prefill(args.bootstrap, topic, count))
                break
            except Exception as exc:  # the shared broker restarted: once more, anew
                if attempt == 2 or not wait_for_kafka(args.bootstrap):
                    raise
                print(f"   pre-filling failed ({exc!r}); once more", flush=True)
                topic += "-retry"
        print(f"   pre-filled {topic} in {took:.1f}s", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {f: [] for f in present}
    for rep in range(max(args.reps, scenario.min_reps)):
        if scenario.together:
            run_together(scenario, args, present, rep, count, runs)
            continue
        for framework in order_for(rep, present):
            params = _params(scenario, args.bootstrap, topic, count, cap)
            if scenario.kind == "publish":
                params["topic"] = f"bench-pub-{uuid.uuid4().hex[:10]}"
                asyncio.run(create_topics(args.bootstrap, {params["topic"]: PARTITIONS}))
            if scenario.kind == "latency":
                params["topic"] = f"bench-rpc-{uuid.uuid4().hex[:10]}"
                params["reply_topic"] = f"bench-replies-{uuid.uuid4().hex[:10]}"
                params["warmup"] = 20
                asyncio.run(
                    create_topics(args.bootstrap, {params["topic"]: 1, params["reply_topic"]: 1})
                )
            result = measure(framework, scenario.key, params)
            if framework == "faststream" and "unsupported" in result:
                runs[framework].append(result)
                present = tuple(f for f in present if f != "faststream")  # once is enough
                print(f"   {LABELS[framework]}: {result['unsupported']}", flush=True)
                continue
            runs[framework].append(result)
            print(f"   rep {rep + 1} {LABELS[framework]:>12}: {_describe(result)}", flush=True)
    if args.profile and "topicflow" in present:
        PROFILES.mkdir(parents=True, exist_ok=True)
        out = PROFILES / f"profile-{scenario.number}-{scenario.key}-topicflow.txt"
        params = _params(scenario, args.bootstrap, topic, count, cap)
        if scenario.kind == "latency":
            params.update(
                topic=f"bench-rpc-{uuid.uuid4().hex[:10]}",
                reply_topic=f"bench-replies-{uuid.uuid4().hex[:10]}",
                warmup=20,
            )
        elif scenario.kind == "publish":
            params["topic"] = f"bench-pub-{uuid.uuid4().hex[:10]}"
        result = run_worker("topicflow", scenario.key, params, profile=out)
        print(f"   profile ({_describe(result)}, under pyinstrument): {out}", flush=True)
    return summarize(scenario, runs)


def run_together(
    scenario: Scenario,
    args: argparse.Namespace,
    present: tuple[str, ...],
    rep: int,
    count: int,
    runs: dict[str, list[dict[str, Any]]],
) -> None:
    """One repetition with every implementation in one worker, taking turns of ``TURN``."""
    topics = {f: f"bench-pub-{f}-{uuid.uuid4().hex[:10]}" for f in present}
    asyncio.run(create_topics(args.bootstrap, {topic: PARTITIONS for topic in topics.values()}))
    params = {
        "bootstrap": args.bootstrap,
        "frameworks": order_for(rep, present),
        "topics": topics,
        "count": count,
        "chunk": TURN,
        "group": "unused",
        **scenario.params,
    }
    result = measure("together", scenario.key, params)
    for framework in present:
        entry = result.get(framework) or {"error": result.get("error", "no result")}
        runs[framework].append(entry)
        print(f"   rep {rep + 1} {LABELS[framework]:>12}: {_describe(entry)}", flush=True)


def _describe(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"ERROR {result['error']}"
    if "p50_ms" in result:
        return f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms"
    text = f"{result['rate']:,.0f} msg/s ({result['count']:,} in {result['seconds']:.2f}s)"
    if result.get("rss"):
        text += ", RSS " + ", ".join(f"{int(k):,}: {_mib(v)}" for k, v in result["rss"].items())
    return text


def select_scenarios(spec: str) -> list[Scenario]:
    """The scenarios ``spec`` names (``1,7``, ``4a``, ``1-3``), in the table's order.

    A range runs from one row of the table to another, so ``4-5`` also takes 4a
    and 4b, and ``1-8`` is every row. Raises ``ValueError`` for a name that is no
    row, a range that runs backwards, or nothing selected.
    """
    rows = {scenario.number: index for index, scenario in enumerate(SCENARIOS)}
    chosen: set[int] = set()
    for part in spec.split(","):
        low, dash, high = part.strip().partition("-")
        if not low and not dash:
            continue  # "1,,2" and a trailing comma
        if low not in rows or (dash and high not in rows):
            raise ValueError(f"no scenario {part!r}")
        first, last = rows[low], rows[high] if dash else rows[low]
        if first > last:
            raise ValueError(f"{part!r} runs backwards")
        chosen.update(range(first, last + 1))
    if not chosen:
        raise ValueError("no scenario selected")
    return [SCENARIOS[index] for index in sorted(chosen)]


if __name__ == "__main__":
    sys.exit(main())
