"""Writes bench/run.sh's results into docs/benchmarks.md.

Only the parts between the BEGIN/END markers of the "## Load generator", "## Archive" and
"## Micro-benchmarks" sections are replaced, and only those a result was given for; every other line of the file (other sections,
the hand-written text of these two) is kept. A missing section is appended with its markers.

usage: write_doc.py RESULTS.jsonl DOC NOTE GIT_REV SERVER_ENV
"""

import datetime
import json
import re
import sys

LOAD = ("## Load generator", "load generator results")
MICRO = ("## Micro-benchmarks", "micro-benchmark results")
ARCHIVE = ("## Archive", "archive results")


def begin(tag):
    return f"<!-- BEGIN {tag}: written by bench/run.sh, do not edit by hand -->"


def end(tag):
    return f"<!-- END {tag} -->"


def num(value, digits=1):
    if value is None:
        return "–"
    if isinstance(value, (int, float)):
        if digits == 0:
            return f"{value:,.0f}"
        return f"{value:,.{digits}f}"
    return str(value)


def get(summary, path, default=None):
    value = summary
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


def load_avg(summary):
    la = get(summary, "setup.load_average_before")
    load = num(la[0], 1) if la else "–"
    # The machine's CPU that the hypervisor took during the window (absent from reports that
    # predate it): a run that is slower than the last on the same code usually had more.
    steal = get(summary, "machine.steal_pct")
    if steal is not None:
        load += f"; steal {num(steal, 1)} %"
    # How late the machine woke a sleeping thread just before the run, at its 99th percentile.
    late = get(summary, "setup.wakeup_late_ms_before.p99")
    if late is not None:
        load += f"; wake-up p99 +{num(late, 2)} ms"
    return load


def errors(summary):
    total = summary.get("errors_total", 0)
    if not total:
        return "0"
    codes = ", ".join(f"{k}: {v}" for k, v in summary.get("errors", {}).items())
    return f"{total} ({codes})"


def cpu_per_million(summary):
    return num(get(summary, "server.cpu_s_per_1m_messages"), 2)


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def machine(results):
    for r in results:
        m = get(r.get("summary", {}), "setup.machine") or r.get("machine")
        if m:
            return m
    return {}


def load_section(results, note, rev, server_env):
    m = machine(results)
    out = [
        f"Measured {datetime.date.today().isoformat()} at `{rev}` on {m.get('cores', '?')} cores "
        f"({m.get('cpu', 'unknown CPU')}); load generator and server on the same machine. "
        "*load* is the 1-minute load average just before each run (other work on the machine), "
        "then *steal*, the share of the machine's CPU time that the hypervisor gave to other "
        "guests during the measured window, then how late the machine woke a thread sleeping "
        "1 ms just before the run (99th percentile).",
    ]
    if note:
        out += ["", f"**Note:** {note}"]
    out += ["", f"Server: release build, `gamehall serve` with `{server_env}`."]
    by = lambda prefix: [r for r in results if r["name"].startswith(prefix)]

    startup = by("startup")
    if startup:
        s = startup[0]
        out += ["", "### Start-up", ""]
        out += table(
            ["figure", "value", "command"],
            [
                ["start to ready (`/health/ready` answers 200)", f"{s['ready_ms']} ms",
                 "`gamehall serve --no-migrate` on a migrated SQLite archive"],
                ["idle server RSS (1 s after ready)", f"{s['idle_rss_kb'] / 1024:.1f} MB", "`VmRSS` of the server"],
            ],
        )

    idle = by("idle")
    if idle:
        out += ["", "### idle: connected players", ""]
        rows = []
        for r in idle:
            if "skipped" in r:
                rows.append([r["name"].split("-")[1], "not run", r["skipped"], "", "", "", "", "", ""])
                continue
            s = r["summary"]
            rows.append([
                num(s.get("connections_requested"), 0),
                num(s.get("connections"), 0),
                num(s.get("server_rss_per_connection_kb"), 2) + " KB",
                num(get(s, "server_rss_mb.connected")) + " MB",
                f"{num(get(s, 'heartbeat_rtt_ms.p50'), 2)} / {num(get(s, 'heartbeat_rtt_ms.p99'), 2)}",
                num(s.get("connects_per_s"), 0),
                errors(s),
                load_avg(s),
                f"`{r['command']}`",
            ])
        out += table(
            ["connections", "held", "server RSS per connection", "server RSS", "heartbeat RTT p50 / p99 ms",
             "connects/s", "errors", "load", "command"],
            rows,
        )

    matches = by("matches")
    if matches:
        out += ["", "### matches: tic-tac-toe, move → broadcast latency by rate", ""]
        rows = []
        for r in matches:
            s = r["summary"]
            lat = lambda q: num(get(s, f"move_latency_ms.{q}"), 2)
            rows.append([
                num(s.get("target_moves_per_s"), 0) if s.get("target_moves_per_s") else "unpaced",
                num(s.get("moves_per_s"), 0),
                num(s.get("games_per_s"), 0),
                f"{lat('p50')} / {lat('p95')} / {lat('p99')} / {lat('max')}",
                num(get(s, "broadcast_latency_ms.p99"), 2),
                num(get(s, "server.cpu_cores_busy"), 2),
                cpu_per_million(s),
                errors(s),
                load_avg(s),
                f"`{r['command']}`",
            ])
        out += table(
            ["target moves/s", "moves/s", "games/s", "move p50 / p95 / p99 / max ms", "broadcast p99 ms",
             "server cores busy", "server CPU s per 1M msgs", "errors", "load", "command"],
            rows,
        )

    realtime = by("realtime")
    if realtime:
        out += ["", "### realtime: snake rooms at a fixed tick rate", ""]
        rows = []
        for r in realtime:
            s = r["summary"]
            ticks = s.get("server_ticks") or {}
            rows.append([
                f"{s.get('rooms')} × {s.get('players_per_room')} @ {s.get('tick_hz')} Hz",
                num(ticks.get("ticks_per_s"), 0),
                num(ticks.get("duration_p99_at_most_ms"), 3),
                num(ticks.get("overrun_fraction"), 5),
                f"{num(s.get('tick_frames_per_s'), 0)} ({num(s.get('tick_frames_expected_per_s'), 0)})",
                num(get(s, "tick_interval_ms.p99"), 1),
                num(get(s, "input_to_tick_ms.p99"), 1),
                cpu_per_million(s),
                errors(s),
                load_avg(s),
                f"`{r['command']}`",
            ])
        out += table(
            ["rooms × players @ rate", "ticks/s", "tick p99 ≤ ms", "overrun fraction",
             "tick frames/s (expected)", "tick spacing p99 ms", "input → tick p99 ms",
             "server CPU s per 1M msgs", "errors", "load", "command"],
            rows,
        )

    churn = by("churn")
    if churn:
        out += ["", "### churn: connect, join, play, disconnect", ""]
        rows = []
        for r in churn:
            s = r["summary"]
            rss = s.get("server_rss_mb") or {}
            heap = s.get("server_heap_mb") or {}
            rows.append([
                num(s.get("cycles"), 0),
                num(s.get("cycles_per_s"), 0),
                f"{num(rss.get('cold'))} / {num(rss.get('warm'))} / {num(rss.get('after'))}",
                num(s.get("rss_growth_vs_warm_pct"), 1) + " %",
                f"{num(rss.get('warm_rooms_gone'))} / {num(rss.get('after_rooms_gone'))} "
                f"({num(s.get('rss_growth_vs_warm_rooms_gone_pct'), 1)} %)",
                f"{num(heap.get('cold'))} / {num(heap.get('warm'))} / {num(heap.get('after'))}",
                num(s.get("heap_growth_vs_warm_pct"), 1) + " %",
                f"{num(get(s, 'settle_s.after'), 1)} / {num(get(s, 'settle_s.after_returned'), 1)}",
                cpu_per_million(s),
                errors(s),
                load_avg(s),
                f"`{r['command']}`",
            ])
        out += table(
            ["cycles", "cycles/s", "server RSS MB cold / warm / after", "after vs warm",
             "RSS MB warm / after the moment the last room went",
             "live heap MB cold / warm / after", "heap after vs warm",
             "settle s: rooms gone / pages returned",
             "server CPU s per 1M msgs", "errors", "load", "command"],
            rows,
        )
    return out


def archive_section(results, rev):
    writes = [r for r in results if r["name"].startswith("archive-") and not r["name"].startswith("archive-matches")]
    matches = [r for r in results if r["name"].startswith("archive-matches")]
    if not writes and not matches:
        return None
    m = machine(results)
    out = [
        f"Measured {datetime.date.today().isoformat()} at `{rev}` on {m.get('cores', '?')} cores "
        f"({m.get('cpu', 'unknown CPU')}), PostgreSQL on the same machine.",
    ]
    if writes:
        out += ["", "### Archive writes against raw COPY", ""]
        rows = []
        for r in writes:
            s = r["summary"]
            if s.get("failed"):
                rows.append(["failed", "", "", "", "", "", "", "", "", "", "", "", f"`{r['command']}`"])
                continue
            rows.append([
                s.get("backend", "postgres"),
                num(s.get("events_per_game"), 0),
                num(s.get("batch_size"), 0),
                num(s.get("writers", 1), 0),
                num(s.get("games"), 0),
                num(get(s, "gamehall.games_per_s"), 0),
                num(get(s, "gamehall.events_per_s"), 0),
                f"{num(get(s, 'gamehall.batch_ms.p50'), 1)} / {num(get(s, 'gamehall.batch_ms.p99'), 1)}",
                num(get(s, "gamehall.writer_cpu_us_per_game"), 1),
                num(get(s, "raw_copy.games_per_s"), 0) if "raw_copy" in s else "no COPY",
                f"{num(s.get('ratio_of_raw_copy'), 2)}" if "raw_copy" in s else "",
                num(get(s, "gamehall.machine.steal_pct"), 1),
                f"`{r['command']}`",
            ])
        out += table(
            ["database", "events/game", "batch", "writers", "games", "gamehall games/s",
             "gamehall events/s", "batch p50 / p99 ms", "writer CPU µs a game",
             "psql COPY games/s", "gamehall ÷ COPY", "steal % while gamehall wrote", "command"],
            rows,
        )
    if matches:
        out += ["", "### Move latency while batches are written", ""]
        rows = []
        for r in matches:
            s = r["summary"]
            lat = lambda q: num(get(s, f"move_latency_ms.{q}"), 2)
            archiving = "USE_GAME_ARCHIVAL=false" not in r.get("server_env", "")
            rows.append([
                f"`{r.get('server_env', '')}`",
                num(get(s, "postgres.cpu_shares"), 0) if archiving else "",
                num(s.get("moves_per_s"), 0),
                num(s.get("games_per_s"), 0),
                f"{lat('p50')} / {lat('p95')} / {lat('p99')} / {lat('max')}",
                num(get(s, "server_move_broadcast_ms.p99_at_most"), 2),
                (f"{num(get(s, 'server_move_broadcast_ms.during_archive_write.p99_at_most'), 2)}"
                 f" / {num(get(s, 'server_move_broadcast_ms.outside_archive_write.p99_at_most'), 2)}"
                 if archiving else ""),
                num(get(s, "server.cpu_cores_busy"), 2),
                num(get(s, "server.cpu_s_per_1m_messages"), 2),
                num(get(s, "postgres.cores_busy"), 2),
                errors(s),
                load_avg(s),
                f"`{r['command']}`",
            ])
        out += table(
            ["server settings", "PostgreSQL CPU shares (of 1024)", "moves/s", "games/s (archived)",
             "move p50 / p95 / p99 / max ms", "in the server p99 ≤ ms",
             "in the server p99 ≤ ms while a batch is written / otherwise", "server cores busy",
             "server CPU s per 1M msgs", "PostgreSQL cores busy (whole run)", "errors", "load",
             "command"],
            rows,
        )
    return out


def duration(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def micro_section(results, rev):
    micro = [r for r in results if r["name"] == "micro"]
    if not micro:
        return None
    m = machine(results)
    out = [
        f"Measured {datetime.date.today().isoformat()} at `{rev}` with "
        "`cargo bench --bench hot_paths` (release profile)"
        + (f" on {m.get('cores')} cores ({m.get('cpu')})" if m else "") + ".",
        "",
    ]
    rows = []
    for b in micro[0]["benches"]:
        tp = b.get("throughput") or {}
        per = ""
        if "Elements" in tp:
            per = f"{tp['Elements'] / (b['median_ns'] / 1e9):,.0f} receivers/s"
        elif "Bytes" in tp:
            per = f"{tp['Bytes'] / (b['median_ns'] / 1e9) / 1048576:,.0f} MiB/s"
        rows.append([f"`{b['id']}`", duration(b["median_ns"]), per])
    out += table(["benchmark", "median", "throughput"], rows)
    return out


def replace(text, heading, tag, body):
    """Puts `body` between the markers of `tag` under `heading`."""
    block = "\n".join([begin(tag), *body, end(tag)])
    pattern = re.compile(re.escape(begin(tag)) + r".*?" + re.escape(end(tag)), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    lines = text.split("\n")
    if heading in lines:
        start = lines.index(heading)
        stop = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        while stop > start + 1 and lines[stop - 1] == "":
            stop -= 1
        lines[stop:stop] = ["", block]
        return "\n".join(lines)
    return text.rstrip("\n") + f"\n\n{heading}\n\n{block}\n"


def main():
    results_path, doc_path, note, rev, server_env = sys.argv[1:6]
    server_env = re.sub(r"/tmp/gamehall-bench\.\w+", "$TMP", server_env)
    results = [json.loads(line) for line in open(results_path) if line.strip()]
    try:
        text = open(doc_path).read()
    except FileNotFoundError:
        text = "# Benchmarks\n"
    loads = [r for r in results if r["name"] != "micro" and not r["name"].startswith("archive")]
    if loads:
        text = replace(text, LOAD[0], LOAD[1], load_section(loads, note, rev, server_env))
    archive = archive_section(results, rev)
    if archive:
        text = replace(text, ARCHIVE[0], ARCHIVE[1], archive)
    micro = micro_section(results, rev)
    if micro:
        text = replace(text, MICRO[0], MICRO[1], micro)
    with open(doc_path, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")


if __name__ == "__main__":
    main()
