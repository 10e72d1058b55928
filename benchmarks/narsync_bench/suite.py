"""narsync's benchmark suite: narsync against today's Nix (Debian 13's 2.26) and Nix 2.8, in the same run.

Builds its workloads in a throwaway chroot Nix store with the real Nix, then for each workload
and destination runs each peer (`nix copy`) and `narsync backfill` alternately, each round into
a fresh destination, and reports medians and the per-round ratios. Also times whole stores of
1k-100k paths (`backfill --all`, `watch --initial-backfill`, the progress bar on a terminal), an
upstream-heavy closure (`--skip-signed-by`), `narsync watch`'s latency from Nix's commit, the
post-build hook, peak memory and the CPU's compute ceiling (SHA-256, zstd), and checks the
targets of the project. Writes results.json and results.md.

    benchmarks/run [--quick] [--rounds N] [--peers nix226,nix28]
                   [--only large,small,system,few,scale,upstream,latency,hook,memory,ceiling]
                   [--narsync PATH] [--out DIR] [--keep] [--profile] [--narsync-arg ARG ...]

Needs root, Debian 12 with `scripts/install-dependencies --with-test-tools --with-bench-tools`
(Nix 2.8, the trixie tree with Nix 2.26, moto_server, zstd, openssl, tmux; perf for --profile).
Python standard library only.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .measure import Background, BenchmarkError, MIB, REPOSITORY, STARTED, launcher, log, median, output_of, percentile, remove_tree, tail, timed, wait_for
from .peers import PEERS, Nix, Peer, trixie_overhead
from .workloads import Workload, build_few, build_scale, build_upstream, FULL, QUICK, Sizes, WORKLOADS, add_valid_rows, build_large, build_small, build_system, real_binaries, warm_page_cache
from .destinations import DistantS3Destinations, FileDestinations, Moto, S3Destinations
from .report import markdown, targets


PARTS = WORKLOADS + ["scale", "upstream", "latency", "hook", "memory", "ceiling"]


def tool_summary(runs, workload):
    wall = median([run["wall_seconds"] for run in runs])
    return {"wall_seconds_median": wall, "cpu_seconds_median": median([run["cpu_seconds"] for run in runs]),
            "mb_per_second": workload.nar_bytes / wall / 1e6,
            "paths_per_second": len(workload.closure) / wall,
            "peak_rss_mib_max": max(run["peak_rss_kib"] for run in runs) / 1024}


def peers_for(context, destinations):
    """The peers that publish to these destinations: Nix 2.8 only to file:// (its runs to buckets
    take minutes and say nothing about today's Nix)."""
    return [peer for peer in context.peers if peer.modern or destinations.short == "file"]


def compare(context, workload, destinations):
    """Rounds of each peer and narsync into fresh destinations; the tool that goes first rotates
    from round to round. Ratios are per round: a peer's wall time over narsync's."""
    peers = peers_for(context, destinations)
    tools = [peer.key for peer in peers] + ["narsync"]
    rounds = []
    for number in range(1, context.arguments.rounds + 1):
        shift = (number - 1) % len(tools)
        order = tools[shift:] + tools[:shift]
        results = {}
        for tool in order:
            tag = f"{workload.name}-{destinations.short}-{tool}-r{number}"
            peer_url, narsync_url = destinations.urls(tag)
            peer = next((p for p in peers if p.key == tool), None)
            if peer:
                argv = peer.copy(context.work, workload.store, peer_url, workload.roots)
            else:
                argv = [context.narsync, "backfill", "--store-root", str(workload.store), "--to", narsync_url,
                        "--key-file", str(context.nix.key), *context.arguments.narsync_arg, *workload.roots]
            run = timed(argv, context.nix.env, context.work / f"{tag}.log").check(f"{tool} ({tag})")
            published = destinations.narinfos(tag)
            if published != len(workload.closure):
                raise BenchmarkError(f"{tool} ({tag}) exited 0 but the destination has {published} narinfos for a "
                                     f"closure of {len(workload.closure)} paths; its output: {run.log}")
            # The modern peer's namespaces and pivot_root are not Nix's work.
            wall = run.wall_seconds - (context.trixie_overhead if peer and peer.runs_in_trixie else 0)
            results[tool] = {"wall_seconds": wall, "cpu_seconds": run.cpu_seconds,
                             "peak_rss_kib": run.peak_rss_kib, "first": tool == order[0]}
            log(f"{workload.name} -> {destinations.label} round {number}: {tool} {wall:.2f} s, "
                f"{workload.nar_bytes / wall / 1e6:.1f} MB/s, peak RSS {run.peak_rss_kib / 1024:.1f} MiB")
        destinations.end_round()
        for peer in peers:
            results[f"ratio_{peer.key}"] = results[peer.key]["wall_seconds"] / results["narsync"]["wall_seconds"]
        rounds.append(results)
    destinations.finish()
    comparison = {"workload": workload.name, "destination": destinations.label, "description": workload.description,
                  "closure_paths": len(workload.closure), "nar_bytes": workload.nar_bytes, "rounds": rounds,
                  "narsync": tool_summary([r["narsync"] for r in rounds], workload), "peers": []}
    for peer in peers:
        ratios = [r[f"ratio_{peer.key}"] for r in rounds]
        comparison["peers"].append({
            "key": peer.key, "label": peer.label, "modern": peer.modern, "version": context.peer_versions[peer.key],
            "command": destinations.peer_note.replace("KEY'", f"KEY{peer.url_options}'"), "summary": tool_summary([r[peer.key] for r in rounds], workload),
            "ratios": ratios, "ratio_median": median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)})
    # The headline: against the modern peer when it ran.
    headline = next((p for p in comparison["peers"] if p["modern"]), comparison["peers"][0])
    comparison.update(peer=headline["summary"], peer_label=headline["label"], ratio_median=headline["ratio_median"],
                      ratio_min=headline["ratio_min"], ratio_max=headline["ratio_max"])
    return comparison


def profile(context, workload, destinations, comparison):
    """One more narsync run under `perf record`, its hottest functions next to the results."""
    if not shutil.which("perf"):
        log("profile: perf is not installed (scripts/install-dependencies --with-bench-tools), skipped")
        return
    tag = f"{workload.name}-{destinations.short}-profile"
    _, narsync_url = destinations.urls(tag)
    data = context.work / f"{tag}.perf.data"
    timed(["perf", "record", "-g", "-F", "499", "-o", str(data), "--", context.narsync, "backfill",
           "--store-root", str(workload.store), "--to", narsync_url, "--key-file", str(context.nix.key),
           *context.arguments.narsync_arg, *workload.roots], context.nix.env, context.work / f"{tag}.log").check("perf record")
    report = context.out / f"profile-{workload.name}-{destinations.short}.txt"
    with open(report, "w") as output:
        # By thread (its id: threads inherit their creator's name) and library first (libzstd has no
        # symbols on Debian), then the hottest symbols.
        for sort in ("pid,dso", "dso,symbol"):
            output.write(f"## perf report --sort {sort}\n")
            output.flush()
            subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", sort,
                            "--percent-limit", "1", "-g", "none", "--quiet"], stdout=output, stderr=subprocess.DEVNULL)
    destinations.end_round()
    destinations.finish()
    comparison["profile"] = report.name
    log(f"profile: {report}")


def watching(watch):
    """Whether `narsync watch` says it is watching; fails if it exited."""
    if not watch.running():
        raise BenchmarkError(f"narsync watch exited with {watch.run.status}:\n{tail(watch.log)}")
    return "watching" in watch.log.read_text(errors="replace")


def idle_cpu(pid, seconds):
    """CPU milliseconds the process uses over seconds of doing nothing (after 2 s to settle)."""
    def ticks():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime
    time.sleep(2)
    before = ticks()
    time.sleep(seconds)
    return (ticks() - before) * 1000 / os.sysconf("SC_CLK_TCK")


class CommitClock:
    """When Nix's commit of a new ValidPaths row becomes visible to a reader: polls max(id) every
    millisecond on a thread of its own, from just before `nix-store --add` starts."""

    def __init__(self, database):
        self.database = database
        self.connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30, check_same_thread=False)
        self.newest = self.connection.execute("SELECT max(id) FROM ValidPaths").fetchone()[0]
        self.seen = None
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()

    def poll(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.connection.execute("SELECT max(id) FROM ValidPaths").fetchone()[0] != self.newest:
                self.seen = time.monotonic()
                return
            time.sleep(0.001)

    def committed_at(self):
        self.thread.join()
        self.connection.close()
        if self.seen is None:
            raise BenchmarkError(f"no new row in {self.database} within 60 s")
        return self.seen


def watch_latency(context, extra_rows):
    """Latency from Nix's commit of a small path (`nix-store --add`) to its narinfo in `narsync
    watch`'s cache. Probes are isolated commits, as builds finishing now and then are: each
    starts half a second after the last narinfo appeared (a storm of commits is batched)."""
    nix, work = context.nix, context.work / f"latency-{extra_rows}"
    work.mkdir()
    store = work / "store"
    (work / "seed").write_text("seed\n")
    nix.add(store, work / "seed")
    database = store / "nix/var/nix/db/db.sqlite"
    if extra_rows:
        add_valid_rows(database, extra_rows)
    valid = sqlite3.connect(database).execute("SELECT count(*) FROM ValidPaths").fetchone()[0]
    cache = work / "cache"
    watch = Background([context.narsync, "watch", "--store-root", store, "--state-dir", work / "state",
                        "--hook-socket", "none", "--to", f"file://{cache}", "--key-file", nix.key,
                        *context.arguments.narsync_arg], nix.env, work / "watch.log")
    try:
        wait_for(lambda: watching(watch), "narsync watch to start")
        latencies, from_start, add_times = [], [], []
        for probe in range(context.sizes.latency_probes):
            time.sleep(0.5)
            source = work / f"probe-{probe}"
            source.write_text(f"latency probe {probe} {time.time_ns()}\n")
            commit = CommitClock(database)
            start = time.monotonic()
            path = nix.add(store, source)
            added = time.monotonic()
            narinfo = cache / (Path(path).name[:32] + ".narinfo")
            wait_for(narinfo.exists, f"{narinfo} (narsync watch log: {watch.log})", timeout=60, interval=0.001)
            published = time.monotonic()
            latencies.append((published - commit.committed_at()) * 1000)
            from_start.append((published - start) * 1000)
            add_times.append((added - start) * 1000)
        idle_cpu_ms = idle_cpu(watch.pid, context.sizes.idle_seconds)
    finally:
        rss = watch.stop().peak_rss_kib
    log(f"latency with {valid} valid paths: median {median(latencies):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms from the commit")
    return {"valid_paths": valid, "probes": len(latencies), "median_ms": median(latencies),
            "p95_ms": percentile(latencies, 0.95), "max_ms": max(latencies),
            "from_start_median_ms": median(from_start), "nix_store_add_median_ms": median(add_times),
            "watch_peak_rss_mib": rss / 1024, "idle_seconds": context.sizes.idle_seconds, "idle_cpu_ms": idle_cpu_ms,
            "latencies_ms": latencies}


def narinfo_count(directory: Path) -> int:
    try:
        return sum(1 for entry in os.scandir(directory) if entry.name.endswith(".narinfo"))
    except FileNotFoundError:
        return 0


def rate_by_quarter(samples: list[tuple[float, int]], total: int) -> tuple[float, float]:
    """Paths per second over the first and over the last quarter of the paths."""
    def time_at(fraction):
        return next((t for t, count in samples if count >= fraction * total), samples[-1][0])
    first, three_quarters, end = time_at(0.25), time_at(0.75), time_at(1.0)
    return 0.25 * total / max(first, 1e-3), 0.25 * total / max(end - three_quarters, 1e-3)


def watch_backfill(context, workload: Workload, tag: str) -> dict:
    """`narsync watch --initial-backfill` from a fresh state to the last narinfo: time, peak RSS
    and the rate over the first and the last quarter of the paths (flat if nothing grows)."""
    cache, total = context.work / f"{tag}-watch", len(workload.closure)
    watch = Background([context.narsync, "watch", "--initial-backfill", "--store-root", workload.store,
                        "--state-dir", context.work / f"{tag}-state", "--hook-socket", "none", "--to", f"file://{cache}",
                        "--key-file", context.nix.key, *context.arguments.narsync_arg], context.nix.env,
                       context.work / f"{tag}-watch.log")
    started, samples = time.monotonic(), [(0.0, 0)]
    try:
        while samples[-1][1] < total:
            if not watch.running():
                raise BenchmarkError(f"narsync watch exited with {watch.run.status}:\n{tail(watch.log)}")
            if time.monotonic() - started > 1200:
                raise BenchmarkError(f"narsync watch published {samples[-1][1]} of {total} paths in 20 minutes")
            # Counting 100,000 directory entries takes tens of milliseconds: sample less often then.
            time.sleep(0.02 if total <= 20_000 else 0.25)
            samples.append((time.monotonic() - started, narinfo_count(cache)))
    finally:
        run = watch.stop()
    wall = samples[-1][0]
    first, last = rate_by_quarter(samples, total)
    remove_tree(cache)
    return {"wall_seconds": wall, "paths_per_second": total / wall, "peak_rss_mib": run.peak_rss_kib / 1024,
            "first_quarter_paths_per_second": first, "last_quarter_paths_per_second": last}


def on_terminal(context, workload: Workload, tag: str) -> dict:
    """`narsync backfill --all` in a tmux window, a real terminal where the progress bar draws."""
    cache, done = context.work / f"{tag}-terminal", context.work / f"{tag}-terminal.time"
    done.unlink(missing_ok=True)  # the last round's
    command = (f"/usr/bin/time -f '%e %M' -o {done}.tmp {context.narsync} backfill --all --store-root {workload.store} "
               f"--to file://{cache} --key-file {context.nix.key} {' '.join(context.arguments.narsync_arg)}; mv {done}.tmp {done}")
    session = f"narsync-bench-{os.getpid()}"
    output_of(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40", command], env=context.nix.env)
    screen = context.work / f"{tag}-terminal.screen"
    try:
        wait_for(done.exists, "narsync backfill in tmux", timeout=1200, interval=0.2)
    finally:
        # What the terminal shows at the end (the last progress line, or an error).
        subprocess.run(["tmux", "capture-pane", "-p", "-t", session], stdout=open(screen, "w"), stderr=subprocess.DEVNULL)
        subprocess.run(["tmux", "kill-session", "-t", session], stderr=subprocess.DEVNULL)
    wall, rss_kib = done.read_text().split()[-2:]
    if narinfo_count(cache) != len(workload.closure):
        raise BenchmarkError(f"narsync backfill in tmux published {narinfo_count(cache)} of {len(workload.closure)} "
                             f"paths; the terminal showed:\n{tail(screen)}")
    remove_tree(cache)
    return {"wall_seconds": float(wall), "peak_rss_mib": int(rss_kib) / 1024}


def scale(context) -> list[dict]:
    """Whole stores of small paths at each of sizes.scale_counts: `backfill --all` and `watch
    --initial-backfill` (time, peak RSS, whether the rate holds), the modern peer's `nix copy
    --all`, and at the largest, the progress bar on a terminal against output to a file."""
    rows = []
    modern = next((peer for peer in context.peers if peer.modern), None)
    for count in context.sizes.scale_counts:
        log(f"scale: a store of {count:,} small paths")
        workload = build_scale(context.nix, context.work, count)
        total, tag = len(workload.closure), f"scale-{count}"
        row = {"paths": total, "nar_bytes": workload.nar_bytes}
        cache = context.work / f"{tag}-backfill"
        run = timed([context.narsync, "backfill", "--all", "--store-root", workload.store, "--to", f"file://{cache}",
                     "--key-file", context.nix.key, *context.arguments.narsync_arg], context.nix.env,
                    context.work / f"{tag}-backfill.log").check(f"narsync backfill --all ({tag})")
        if narinfo_count(cache) != total:
            raise BenchmarkError(f"narsync backfill --all published {narinfo_count(cache)} of {total} paths")
        remove_tree(cache)
        row["backfill"] = {"wall_seconds": run.wall_seconds, "paths_per_second": total / run.wall_seconds,
                           "peak_rss_mib": run.peak_rss_kib / 1024, "cpu_seconds": run.cpu_seconds}
        row["watch"] = watch_backfill(context, workload, tag)
        if count == max(context.sizes.scale_counts):
            # Alternating with the run to a file above: file, terminal, terminal, file.
            terminal = [on_terminal(context, workload, tag)["wall_seconds"] for _ in range(2)]
            run = timed([context.narsync, "backfill", "--all", "--store-root", workload.store, "--to", f"file://{cache}",
                         "--key-file", context.nix.key, *context.arguments.narsync_arg], context.nix.env,
                        context.work / f"{tag}-backfill-2.log").check(f"narsync backfill --all ({tag})")
            remove_tree(cache)
            to_file = [row["backfill"]["wall_seconds"], run.wall_seconds]
            row["terminal"] = {"wall_seconds": median(terminal), "rounds": terminal, "file_rounds": to_file,
                               "file_wall_seconds": median(to_file)}
        if modern:
            cache = context.work / f"{tag}-peer"
            run = timed(modern.copy(context.work, workload.store, f"file://{cache}?compression=zstd&secret-key={context.nix.key}",
                                    ["--all"]), context.nix.env, context.work / f"{tag}-peer.log").check(f"{modern.label} ({tag})")
            if narinfo_count(cache) != total:
                raise BenchmarkError(f"{modern.label} published {narinfo_count(cache)} of {total} paths")
            remove_tree(cache)
            wall = run.wall_seconds - context.trixie_overhead
            row["peer"] = {"label": modern.label, "wall_seconds": wall, "paths_per_second": total / wall,
                           "peak_rss_mib": run.peak_rss_kib / 1024}
        remove_tree(workload.store)
        log(f"scale {total:,}: backfill {row['backfill']['wall_seconds']:.1f} s ({row['backfill']['peak_rss_mib']:.0f} MiB), "
            f"watch {row['watch']['wall_seconds']:.1f} s ({row['watch']['peak_rss_mib']:.0f} MiB, "
            f"{row['watch']['first_quarter_paths_per_second']:.0f} -> {row['watch']['last_quarter_paths_per_second']:.0f} paths/s)")
        rows.append(row)
    return rows


def upstream(context) -> dict:
    """Target 7: a closure 90% of which carries cache.nixos.org-1's signature and is in an
    upstream cache. Time until a consumer of both caches can substitute everything: the modern
    peer's `nix copy` of the whole closure against `narsync watch --initial-backfill
    --skip-signed-by cache.nixos.org-1` publishing the rest (from its start to the last narinfo)."""
    built = build_upstream(context.nix, context.work, context.sizes)
    workload, total = built.workload, len(built.workload.closure)
    modern = next(peer for peer in context.peers if peer.modern)
    rounds, last_cache = [], None
    for number in range(1, context.arguments.rounds + 1):
        order = ["peer", "narsync"] if number % 2 else ["narsync", "peer"]
        result = {}
        for tool in order:
            cache = context.work / f"upstream-{tool}-r{number}"
            if tool == "peer":
                run = timed(modern.copy(context.work, workload.store, f"file://{cache}?compression=zstd&secret-key={context.nix.key}",
                                        workload.roots), context.nix.env, context.work / f"upstream-peer-r{number}.log").check(modern.label)
                if narinfo_count(cache) != total:
                    raise BenchmarkError(f"{modern.label} published {narinfo_count(cache)} of {total} paths")
                result["peer"] = run.wall_seconds - context.trixie_overhead
                remove_tree(cache)
                continue
            watch = Background([context.narsync, "watch", "--initial-backfill", "--skip-signed-by", "cache.nixos.org-1",
                                "--store-root", workload.store, "--state-dir", context.work / f"upstream-state-r{number}",
                                "--hook-socket", "none", "--to", f"file://{cache}", "--key-file", context.nix.key,
                                *context.arguments.narsync_arg], context.nix.env, context.work / f"upstream-narsync-r{number}.log")
            started = time.monotonic()
            try:
                wait_for(lambda: narinfo_count(cache) >= len(built.local) or not watch.running(),
                         "narsync to publish the paths built here", timeout=300, interval=0.01)
                result["narsync"] = time.monotonic() - started
            finally:
                watch.stop()
            names = {entry.name for directory in (cache, built.upstream_cache) for entry in os.scandir(directory)}
            missing = [path for path in workload.closure if Path(path).name[:32] + ".narinfo" not in names]
            if missing:
                raise BenchmarkError(f"neither cache has {len(missing)} paths of the closure, e.g. {missing[0]}")
            if last_cache:
                remove_tree(last_cache)
            last_cache = cache
        result["ratio"] = result["peer"] / result["narsync"]
        log(f"upstream round {number}: {modern.label} {result['peer']:.2f} s, narsync {result['narsync']:.2f} s")
        rounds.append(result)
    # A real consumer of both caches substitutes the whole closure into an empty store.
    consumer = context.work / "upstream-consumer"
    trusted = f"{(context.nix.key.parent / 'signing-key.pub').read_text().strip()} {built.upstream_public_key}"
    context.nix.run("nix-store", "--store", str(consumer), "--realise", *workload.roots, "--option", "substituters",
                    f"file://{last_cache} file://{built.upstream_cache}", "--option", "trusted-public-keys", trusted)
    remove_tree(last_cache)
    remove_tree(workload.store)
    ratios = [r["ratio"] for r in rounds]
    return {"paths": total, "upstream_paths": len(built.upstream), "local_paths": len(built.local),
            "peer_label": modern.label, "rounds": rounds, "peer_seconds_median": median([r["peer"] for r in rounds]),
            "narsync_seconds_median": median([r["narsync"] for r in rounds]), "ratio_median": median(ratios),
            "ratio_min": min(ratios), "ratio_max": max(ratios), "substituted": True}


SEED_HOOK = """#!/bin/sh
# The seed's post-build-hook (the Nix manual's upload-to-cache.sh), on the benchmark's store.
set -eu
set -f # disable globbing
export IFS=' '
echo "Signing paths" $OUT_PATHS
nix store sign --store "$BENCH_STORE" --key-file "$BENCH_KEY" $OUT_PATHS
echo "Uploading paths" $OUT_PATHS
exec nix copy --store "$BENCH_STORE" --to "file://$BENCH_CACHE?compression=zstd" $OUT_PATHS
"""


def hook_calls(argv, env, outputs, work, name):
    """One call per output path, as Nix makes them; the wall times."""
    times = []
    log_name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")
    for index, path in enumerate(outputs):
        run = timed(argv, dict(env, OUT_PATHS=path, DRV_PATH=""), work / f"{log_name}-{index}.log")
        run.check(name)
        times.append(run.wall_seconds * 1000)
    return {"variant": name, "calls": len(times), "median_ms": median(times), "p95_ms": percentile(times, 0.95),
            "times_ms": times}


def hook(context):
    """Wall time of one post-build-hook call, as Nix makes it after each build (OUT_PATHS set)."""
    nix, work = context.nix, context.work / "hook"
    work.mkdir()
    store = work / "store"
    outputs = []
    for index in range(context.sizes.hook_calls):
        source = work / f"output-{index}"
        source.write_text(f"build output {index} " + "x" * random.Random(index).randint(100, 20000) + "\n")
        outputs.append(nix.add(store, source))
    seed_hook = work / "upload-to-cache.sh"
    seed_hook.write_text(SEED_HOOK)
    seed_hook.chmod(0o755)
    hook_binary = Path(context.narsync).with_name("narsync-hook")
    env = dict(nix.env, BENCH_STORE=str(store), BENCH_KEY=str(nix.key), BENCH_CACHE=str(work / "seed-cache"),
               NARSYNC_HOOK_SOCKET=str(work / "hook.sock"), NARSYNC_SPOOL_DIR=str(work / "spool"))
    variants = [hook_calls(["/bin/true"], env, outputs, work, "/bin/true (starting any process)")]
    log("hook: the seed's blocking hook (nix store sign + nix copy to file://)")
    variants.append(hook_calls([str(seed_hook)], env, outputs, work, "seed: nix store sign + nix copy"))
    published = len(list((work / "seed-cache").glob("*.narinfo")))
    if published != len(outputs):
        raise BenchmarkError(f"the seed's hook published {published} of {len(outputs)} paths; see {work}/seed-*.log")
    programs = [("narsync-hook", [str(hook_binary)])] if hook_binary.exists() else []
    programs.append(("narsync hook", [context.narsync, "hook"]))
    log("hook: narsync's hooks with the service stopped (requests spooled)")
    for label, argv in programs:
        variants.append(hook_calls(argv, env, outputs, work, f"{label}, service stopped (spooled)"))
        spooled = len(os.listdir(work / "spool")) if (work / "spool").is_dir() else 0
        if spooled < len(outputs):
            raise BenchmarkError(f"{label} with the service stopped spooled {spooled} requests for {len(outputs)} calls")
        remove_tree(work / "spool")
    watch = Background([context.narsync, "watch", "--store-root", store, "--state-dir", work / "state",
                        "--hook-socket", work / "hook.sock", "--spool-dir", work / "spool",
                        "--to", f"file://{work / 'narsync-cache'}", "--key-file", nix.key], nix.env, work / "watch.log")
    try:
        wait_for(lambda: watching(watch) and (work / "hook.sock").exists(), "narsync watch to listen on its hook socket")
        log("hook: narsync's hooks with the service running")
        for label, argv in programs:
            variants.append(hook_calls(argv, env, outputs, work, f"{label}, service running"))
            spooled = [name for name in os.listdir(work / "spool") if not name.startswith(".")] if (work / "spool").is_dir() else []
            if spooled:
                raise BenchmarkError(f"{label} spooled {len(spooled)} requests although the service was listening")
    finally:
        watch.stop()
    for variant in variants:
        log(f"hook: {variant['variant']}: median {variant['median_ms']:.1f} ms")
    return variants


def write_base64_file(path, size):
    """size bytes of base64 text of random bytes: compresses by about a quarter, like real outputs."""
    with open(path, "wb") as output:
        written = 0
        while written < size:
            chunk = base64.encodebytes(os.urandom(min(48 * MIB, (size - written) * 3 // 4 + 3)))[: size - written]
            output.write(chunk)
            written += len(chunk)


def memory(context):
    """Peak RSS of narsync publishing one big path to file://."""
    nix, work = context.nix, context.work / "memory"
    work.mkdir()
    store, payload = work / "store", work / "payload"
    payload.mkdir()
    log(f"memory: a {context.sizes.memory_bytes / MIB:.0f} MiB path")
    write_base64_file(payload / "data", context.sizes.memory_bytes)
    path = nix.add(store, payload)
    remove_tree(payload)
    (nar_bytes,) = [size for _, size in nix.closure(store, [path])]
    cache = work / "cache"
    run = timed([context.narsync, "backfill", "--store-root", str(store), "--to", f"file://{cache}",
                 "--key-file", str(nix.key), *context.arguments.narsync_arg, path], nix.env, work / "narsync.log")
    run.check("narsync backfill of the big path")
    if not any(name.endswith(".narinfo") for name in os.listdir(cache)):
        raise BenchmarkError(f"narsync exited 0 but {cache} has no narinfo")
    remove_tree(store)
    log(f"memory: {nar_bytes / MIB:.0f} MiB path published in {run.wall_seconds:.1f} s, peak RSS {run.peak_rss_kib / 1024:.1f} MiB")
    return {"nar_bytes": nar_bytes, "destination": "file://", "wall_seconds": run.wall_seconds,
            "mb_per_second": nar_bytes / run.wall_seconds / 1e6, "peak_rss_mib": run.peak_rss_kib / 1024}


def ceiling(context):
    """Single-core SHA-256 and zstd -3 throughput (per CPU second), and what they allow narsync: every NAR byte is
    hashed (NAR hash) and compressed, and every compressed byte hashed again (FileHash)."""
    work = context.work / "ceiling"
    work.mkdir()
    out = output_of(["openssl", "speed", "-evp", "sha256", "-bytes", "1048576", "-seconds", str(context.sizes.ceiling_repeats)])
    rates = [line.split()[-1] for line in out.splitlines() if line.lower().startswith("sha256")]
    if not rates or not rates[-1].endswith("k"):
        raise BenchmarkError(f"cannot read openssl speed's output:\n{out}")
    sha256 = float(rates[-1][:-1]) * 1000 / 1e6
    joined = work / "sample.bin"
    with open(joined, "wb") as output:
        for _, path in real_binaries(context.sizes.ceiling_sample_bytes):
            if not os.path.islink(path):
                with open(path, "rb") as handle:
                    shutil.copyfileobj(handle, output)
    # `zstd -b` under-reports on a busy machine; the CPU time of one real compression does not.
    original, compressed, zstd = joined.stat().st_size, work / "sample.zst", 0.0
    for _ in range(context.sizes.ceiling_repeats):
        run = timed(["zstd", "-3", "-T1", "-q", "-f", "-o", str(compressed), str(joined)], None, work / "zstd.log")
        run.check("zstd -3")
        zstd = max(zstd, original / run.cpu_seconds / 1e6)
    ratio = compressed.stat().st_size / original
    joined.unlink()
    combined = 1 / (1 / sha256 + 1 / zstd + ratio / sha256)
    cores = os.cpu_count() or 1
    log(f"ceiling: sha256 {sha256:.0f} MB/s, zstd -3 {zstd:.0f} MB/s (compressed to {ratio:.0%}), combined {combined:.0f} MB/s per core")
    return {"sha256_mb_per_second": sha256, "zstd3_mb_per_second": zstd, "zstd3_sample_bytes": int(original),
            "zstd3_compressed_fraction": ratio, "combined_single_core_mb_per_second": combined,
            "cores": cores, "combined_all_cores_mb_per_second": min(cores * combined, sha256),
            "note": "combined = 1 / (1/sha256 + 1/zstd + compressed fraction/sha256); all cores = "
                    "min(cores x combined, sha256), since the NAR's SHA-256 is one sequential stream"}


def machine(context):
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    memory_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))
    commit = subprocess.run(["git", "-C", str(REPOSITORY), "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    return {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "cores": os.cpu_count(), "cpu": cpu,
            "memory_gib": round(memory_kib / 1024 / 1024, 1), "kernel": platform.release(),
            "nix": context.nix.version(), "peers": context.peer_versions, "trixie_overhead_seconds": context.trixie_overhead,
            "load_average": os.getloadavg(), "narsync_commit": commit, "narsync": context.narsync,
            "narsync_arguments": context.arguments.narsync_arg,
            "mode": "quick" if context.arguments.quick else "full", "rounds": context.arguments.rounds,
            "peak_rss_floor_mib": timed(["true"], None, context.work / "true.log").peak_rss_kib / 1024}


@dataclass
class Context:
    arguments: argparse.Namespace
    sizes: Sizes
    narsync: str
    work: Path
    out: Path
    nix: Nix = None
    peers: list[Peer] = field(default_factory=list)
    peer_versions: dict[str, str] = field(default_factory=dict)
    trixie_overhead: float = 0.0


def build_narsync():
    # As scripts/start and the .deb build it: the Swift runtime linked in.
    build = ["swift", "build", "-c", "release", "--static-swift-stdlib"]
    log(f"building narsync ({' '.join(build)})")
    for product in ("narsync", "narsync-hook"):
        subprocess.run(build + ["--product", product], cwd=REPOSITORY, check=True, stdout=sys.stderr)
    binaries = output_of(build + ["--show-bin-path"], cwd=REPOSITORY).strip()
    return str(Path(binaries) / "narsync")


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small workloads: the whole suite in under 3 minutes")
    parser.add_argument("--rounds", type=int, help="rounds per tool, workload and destination (default 3, 2 with --quick)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts to run (default all: {','.join(PARTS)})")
    parser.add_argument("--narsync", help="the narsync binary (default: build it with swift build -c release); "
                                          "narsync-hook is taken from the same directory")
    parser.add_argument("--out", default=str(REPOSITORY / "benchmarks/results"), help="where results.json and results.md go")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (stores, logs)")
    parser.add_argument("--profile", action="store_true",
                        help="also run narsync under perf record for the large and small workloads to file://")
    parser.add_argument("--narsync-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for narsync backfill/watch, e.g. --narsync-arg=--jobs=16 (repeatable)")
    parser.add_argument("--peers", default=",".join(peer.key for peer in PEERS),
                        help="comma-separated peers: nix226 (Debian 13's Nix, through scripts/in-trixie), nix28 (the host's)")
    parser.add_argument("--work-dir", default="/var/tmp", help="where the throwaway stores go (default /var/tmp)")
    arguments = parser.parse_args()
    arguments.only = [part.strip() for part in arguments.only.split(",") if part.strip()]
    arguments.peers = [peer.strip() for peer in arguments.peers.split(",") if peer.strip()]
    if not arguments.peers or set(arguments.peers) - {peer.key for peer in PEERS}:
        parser.error(f"--peers: choose from {', '.join(peer.key for peer in PEERS)}")
    unknown = set(arguments.only) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    if arguments.rounds is None:
        arguments.rounds = 2 if arguments.quick else 3
    if arguments.rounds < 1:
        parser.error("--rounds must be at least 1")
    return arguments


def main():
    arguments = parse_arguments()
    launcher()  # while this process is small
    missing = [tool for tool in ["nix", "nix-store", "nix-build", "nix-instantiate", "tar", "dpkg-query"]
               + (["moto_server"] if set(arguments.only) & set(WORKLOADS) else [])
               + (["openssl", "zstd"] if "ceiling" in arguments.only else []) if not shutil.which(tool)]
    if missing:
        sys.exit(f"benchmarks/run: missing {', '.join(missing)}; run scripts/install-dependencies --with-test-tools --with-bench-tools")
    narsync = str(Path(arguments.narsync).resolve()) if arguments.narsync else build_narsync()
    out = Path(arguments.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="narsync-bench.", dir=arguments.work_dir))
    context = Context(arguments, QUICK if arguments.quick else FULL, narsync, work, out.resolve())
    log(f"work directory {work}; narsync {narsync}")
    moto = distant = None
    results = {}
    try:
        context.nix = Nix(work)
        context.peers = [peer for peer in PEERS if peer.key in arguments.peers]
        for peer in context.peers:
            context.peer_versions[peer.key] = peer.version(work, context.nix.env)
        if any(peer.runs_in_trixie for peer in context.peers):
            context.trixie_overhead = trixie_overhead(work, context.nix.env)
        results["machine"] = machine(context)
        results["sizes"] = context.sizes.__dict__
        comparisons = results["comparisons"] = []
        builders = {"large": build_large, "small": build_small, "system": build_system, "few": build_few}
        selected = [name for name in WORKLOADS if name in arguments.only]
        if selected:
            moto = Moto(work)
            distant = DistantS3Destinations(moto, context.nix.key, work)
            destinations = [FileDestinations(context.nix, work), S3Destinations(moto, context.nix.key), distant]
        def save():
            results["elapsed_seconds"] = time.monotonic() - STARTED
            results["targets"] = targets(results)
            (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
            (out / "results.md").write_text(markdown(results))

        def part(name, measure):
            """Runs one part; a failure is reported with the results instead of losing the others."""
            try:
                measure()
            except BenchmarkError as error:
                log(f"{name} failed: {error}")
                results.setdefault("errors", {})[name] = str(error)
            save()

        def publish_workload(name):
            workload = builders[name](context.nix, work, context.sizes)
            log(f"{name}: {len(workload.closure)} paths, {workload.nar_bytes / 1e6:.0f} MB of NAR; warming the page cache")
            warm_page_cache(workload)
            try:
                for destination in (d for d in destinations if name in d.workloads):
                    comparison = compare(context, workload, destination)
                    comparisons.append(comparison)
                    if arguments.profile and destination.label == "file://" and name in ("large", "small"):
                        profile(context, workload, destination, comparison)
            finally:
                remove_tree(workload.store)

        for name in selected:
            part(name, lambda: publish_workload(name))
        # The longest and most fragile part (100,000 paths) last.
        measures = {"upstream": lambda: results.update(upstream=upstream(context)),
                    "latency": lambda: results.update(latency=[watch_latency(context, 0),
                                                               watch_latency(context, context.sizes.extra_valid_paths)]),
                    "hook": lambda: results.update(hook=hook(context)),
                    "memory": lambda: results.update(memory=memory(context)),
                    "ceiling": lambda: results.update(ceiling=ceiling(context)),
                    "scale": lambda: results.update(scale=scale(context))}
        for name, measure in measures.items():
            if name in arguments.only:
                part(name, measure)
    finally:
        if distant:
            distant.stop()
        if moto:
            moto.stop()
        if arguments.keep:
            log(f"kept {work}")
        else:
            remove_tree(work)
        launcher().close()
    log(f"done in {time.monotonic() - STARTED:.0f} s: {out / 'results.md'}, {out / 'results.json'}")
    print(markdown(results))


def interrupted(signal_number, frame):
    raise KeyboardInterrupt
