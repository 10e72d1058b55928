"""The results as targets met or missed and as Markdown."""

from __future__ import annotations


from .measure import MIB


def targets(results):
    """Each target of the project, the measured value and whether it is met."""
    rows = []

    def add(target, measured, met):
        rows.append({"target": target, "measured": measured, "met": bool(met)})

    by_key = {(c["workload"], c["destination"]): c for c in results.get("comparisons", [])}
    large = by_key.get(("large", "file://"))
    if large:
        add(f"large path to file:// never slower than {large['peer_label']}", f"{large['ratio_min']:.2f}x (slowest round)",
            large["ratio_min"] >= 1)
        limit = results.get("ceiling")
        if limit:
            speed = large["narsync"]["mb_per_second"]
            applicable = limit["combined_all_cores_mb_per_second"]
            add(f"large path to file:// >= 95% of the compute ceiling (zstd -3 + both SHA-256 passes, {limit['cores']} cores)",
                f"{speed:.0f} MB/s = {speed / applicable:.0%} of {applicable:.0f} MB/s "
                f"({speed / limit['combined_single_core_mb_per_second']:.0%} of one core's)", speed >= 0.95 * applicable)
    distant = by_key.get(("few", "s3 (moto, 20 ms away)"))
    if distant:
        wall = distant["narsync"]["wall_seconds_median"]
        add(f"{distant['closure_paths']} small paths to a bucket 20 ms away in < 1.5 s", f"{wall:.2f} s", wall < 1.5)
        add(f"the same >= 10x {distant['peer_label']}", f"{distant['ratio_median']:.1f}x", distant["ratio_median"] >= 10)
    for row in results.get("scale", []):
        backfill, watch = row["backfill"], row["watch"]
        add(f"watch --initial-backfill at backfill's rate ({row['paths']:,} paths, within 20%)",
            f"{watch['paths_per_second']:,.0f} vs {backfill['paths_per_second']:,.0f} paths/s",
            watch["paths_per_second"] >= 0.8 * backfill["paths_per_second"])
        add(f"watch --initial-backfill flat ({row['paths']:,} paths: last quarter >= 80% of the first's rate)",
            f"{watch['first_quarter_paths_per_second']:,.0f} -> {watch['last_quarter_paths_per_second']:,.0f} paths/s",
            watch["last_quarter_paths_per_second"] >= 0.8 * watch["first_quarter_paths_per_second"])
        if row["paths"] >= 100_000:
            for name, measured in (("backfill --all", backfill), ("watch", watch)):
                add(f"{name} peak RSS <= 100 MiB ({row['paths']:,} paths)", f"{measured['peak_rss_mib']:.0f} MiB",
                    measured["peak_rss_mib"] <= 100)
        if "terminal" in row:
            terminal, to_file = row["terminal"]["wall_seconds"], row["terminal"]["file_wall_seconds"]
            add(f"progress bar costs nothing ({row['paths']:,} paths on a terminal vs to a file, medians within 10%)",
                f"{terminal:.1f} s vs {to_file:.1f} s", terminal <= 1.1 * to_file)
    latencies = results.get("latency", [])
    for latency in latencies:
        add(f"watch latency from the commit, median <= 30 ms ({latency['valid_paths']:,} valid paths)",
            f"{latency['median_ms']:.0f} ms", latency["median_ms"] <= 30)
        add(f"watch latency from the commit, p95 <= 100 ms ({latency['valid_paths']:,} valid paths)",
            f"{latency['p95_ms']:.0f} ms", latency["p95_ms"] <= 100)
    if len(latencies) == 2:
        small_db, big_db = latencies
        add("watch latency unchanged with the large database (median within +25% or +20 ms)",
            f"{small_db['median_ms']:.0f} ms -> {big_db['median_ms']:.0f} ms",
            big_db["median_ms"] <= max(small_db["median_ms"] * 1.25, small_db["median_ms"] + 20))
    for variant in results.get("hook", []):
        if variant["variant"].startswith("narsync"):
            add(f"hook < 10 ms median: {variant['variant']}", f"{variant['median_ms']:.1f} ms", variant["median_ms"] < 10)
    # In flight: file:// streams through small buffers; S3 multipart uploads hold up to
    # --parts-in-flight parts (4) plus the one each job (4) is filling, of 8 MiB by default.
    for comparison in results.get("comparisons", []):
        allowance = 64 + ((4 + 4) * 8 if comparison["destination"].startswith("s3") else 0)
        if comparison["workload"] == "large" and comparison["destination"] == "file://":
            allowance += 2 * 5  # one libzstd worker per core, about 5 MiB each
        rss = comparison["narsync"]["peak_rss_mib_max"]
        add(f"peak RSS < {allowance} MiB ({comparison['workload']} to {comparison['destination']})", f"{rss:.1f} MiB",
            rss < allowance)
    if results.get("memory"):
        rss = results["memory"]["peak_rss_mib"]
        add(f"peak RSS < 64 MiB (one {results['memory']['nar_bytes'] / MIB:.0f} MiB path to file://)", f"{rss:.1f} MiB", rss < 64)
    return rows


def per_round(rounds: list[dict], key: str, digits: int) -> str:
    return ", ".join(f"{r[key]:.{digits}f}" for r in rounds)


def number(value, digits=1):
    return "–" if value is None else f"{value:,.{digits}f}"


def markdown(results):
    m = results["machine"]
    lines = [f"# narsync benchmarks ({m['mode']} run, {m['date']})", "",
             f"Machine: {m['cores']} cores, {m['cpu']}, {m['memory_gib']} GiB, Linux {m['kernel']}. "
             + "Peers: " + ", ".join(f"{key}: {version}" for key, version in m.get("peers", {}).items()) + ". "
             + f"Load average at the start: {', '.join(f'{v:.1f}' for v in m.get('load_average', []))}. "
             f"narsync {m['narsync_commit']}"
             + (f" with {' '.join(m['narsync_arguments'])}" if m["narsync_arguments"] else " with default settings") + ".",
             "",
             f"Each workload was published {m['rounds']} times by each tool, alternately (the first tool alternates "
             "between rounds), each time into a fresh destination; a run counts only if the destination then holds a "
             "narinfo for every path of the closure. The peers compress with zstd, as narsync does, and all sign; "
             "Nix 2.26 with `parallel-compression=true` (its fastest), run through `scripts/in-trixie`, whose own "
             f"{m.get('trixie_overhead_seconds', 0):.2f} s (namespaces, pivot_root; `in-trixie true`) is subtracted from its times. "
             "Wall time, CPU time (user + system, of the process and its children) and throughput are medians, peak RSS the largest of the rounds; the ratio is the peer's wall "
             "time over narsync's, per round (median and range). "
             f"Peak RSS comes from wait4; {m['peak_rss_floor_mib']:.1f} MiB (what `true` shows) is its floor here.", ""]
    comparisons = results.get("comparisons", [])
    for destination in dict.fromkeys(c["destination"] for c in comparisons):
        rows = [c for c in comparisons if c["destination"] == destination]
        commands = dict.fromkeys(p["command"] for c in rows for p in c["peers"])
        lines += [f"## {destination}", "", "Peers: " + "; ".join(f"`{command}`" for command in commands)
                  + "; narsync: `narsync backfill`.", "",
                  "| workload | paths | NAR MB | tool | wall s | CPU s | MB/s | paths/s | peak RSS MiB | narsync speed-up: median (per round) |",
                  "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
        for c in rows:
            tools = [(p["label"], p["summary"], f"**{p['ratio_median']:.2f}x** ({', '.join(f'{r:.2f}' for r in p['ratios'])})")
                     for p in c["peers"]] + [("narsync", c["narsync"], "")]
            for label, s, speedup in tools:
                lines.append(f"| {c['workload']} | {c['closure_paths']} | {c['nar_bytes'] / 1e6:,.0f} | {label} | "
                             f"{number(s['wall_seconds_median'], 2)} | {number(s['cpu_seconds_median'], 2)} | {number(s['mb_per_second'])} | "
                             f"{number(s['paths_per_second'])} | {number(s['peak_rss_mib_max'])} | {speedup} |")
        lines.append("")
        lines += [f"- {c['workload']}: {c['description']}." + (f" Profile: [{c['profile']}]({c['profile']})." if c.get("profile") else "")
                  for c in rows] + [""]
    if results.get("upstream"):
        u = results["upstream"]
        lines += ["## An upstream-heavy closure", "",
                  f"{u['paths']} small paths, {u['upstream_paths']} of them signed by a key named cache.nixos.org-1 (made for "
                  "the benchmark) and already in an upstream file:// cache, as a builder's substituted paths are. Time until a "
                  f"consumer of both caches can substitute everything: {u['peer_label']}'s `nix copy` of the whole closure "
                  "against `narsync watch --initial-backfill --skip-signed-by cache.nixos.org-1` (from its start to the last "
                  "narinfo). A real `nix-store --realise` from both caches into an empty store then substituted the whole "
                  "closure.", "",
                  "| tool | median s | per round s |", "| --- | ---: | --- |",
                  f"| {u['peer_label']} | {u['peer_seconds_median']:.2f} | {per_round(u['rounds'], 'peer', 2)} |",
                  f"| narsync | {u['narsync_seconds_median']:.2f} | {per_round(u['rounds'], 'narsync', 2)} |",
                  "", f"narsync speed-up: **{u['ratio_median']:.1f}x** (per round: {per_round(u['rounds'], 'ratio', 1)}).", ""]
    if results.get("scale"):
        lines += ["## Whole stores of small paths", "",
                  "`narsync backfill --all` and `narsync watch --initial-backfill` (from a fresh state to the last "
                  "narinfo) into file://, and the modern peer's `nix copy --all`; the watch's rate over the first and "
                  "the last quarter of the paths shows whether anything grows with the paths published.", "",
                  "| paths | backfill s | paths/s | peak RSS MiB | watch s | paths/s | first → last quarter, paths/s | peak RSS MiB | peer s | peer peak RSS MiB |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
        for row in results["scale"]:
            b, w, peer = row["backfill"], row["watch"], row.get("peer", {})
            lines.append(f"| {row['paths']:,} | {b['wall_seconds']:.1f} | {b['paths_per_second']:,.0f} | {b['peak_rss_mib']:.0f} | "
                         f"{w['wall_seconds']:.1f} | {w['paths_per_second']:,.0f} | {w['first_quarter_paths_per_second']:,.0f} → "
                         f"{w['last_quarter_paths_per_second']:,.0f} | {w['peak_rss_mib']:.0f} | {number(peer.get('wall_seconds'))} | "
                         f"{number(peer.get('peak_rss_mib'))} |")
        terminal = next((row for row in results["scale"] if "terminal" in row), None)
        if terminal:
            t = terminal["terminal"]
            lines += ["", f"The progress bar: `backfill --all` of {terminal['paths']:,} paths, alternately to a file and on a "
                      f"terminal (tmux; file, terminal, terminal, file): {', '.join(f'{x:.1f}' for x in t['rounds'])} s on the "
                      f"terminal, {', '.join(f'{x:.1f}' for x in t['file_rounds'])} s to a file."]
        lines.append("")
    if results.get("latency"):
        lines += ["## narsync watch latency", "",
                  "From Nix's commit of a small path (`nix-store --add`; the moment a reader of the database sees "
                  "its row, polled every millisecond) to its narinfo being in the file:// cache. Each probe is an "
                  "isolated commit, half a second after the last: the case that wakes at once. From the start of "
                  "`nix-store --add` is given too, and Nix's own time to add the path.", "",
                  "| valid paths in the database | probes | median ms | p95 ms | max ms | from the start of nix-store --add, median ms | nix-store --add alone, median ms | watch peak RSS MiB | idle CPU |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for latency in results["latency"]:
            lines.append(f"| {latency['valid_paths']:,} | {latency['probes']} | {latency['median_ms']:.0f} | "
                         f"{latency['p95_ms']:.0f} | {latency['max_ms']:.0f} | {latency.get('from_start_median_ms', 0):.0f} | "
                         f"{latency['nix_store_add_median_ms']:.0f} | "
                         f"{latency['watch_peak_rss_mib']:.1f} | {latency['idle_cpu_ms']:.0f} ms in {latency['idle_seconds']} s |")
        lines += ["", "The large database's extra rows are inserted with sqlite3 in Nix's schema (paths without files).", ""]
    if results.get("hook"):
        lines += ["## Post-build hook", "", "Wall time of one hook call as Nix makes it after a build (OUT_PATHS = one "
                  "small output path), against the seed's blocking hook, the Nix manual's `nix store sign` + "
                  "`nix copy --to file://...` script.", "",
                  "| hook | calls | median ms | p95 ms |", "| --- | ---: | ---: | ---: |"]
        for variant in results["hook"]:
            lines.append(f"| {variant['variant']} | {variant['calls']} | {variant['median_ms']:.1f} | {variant['p95_ms']:.1f} |")
        lines.append("")
    if results.get("memory"):
        memory_result = results["memory"]
        lines += ["## Memory", "", "Peak RSS of every run is in the tables above. One big path (base64 of random bytes):", "",
                  "| NAR MiB | destination | wall s | MB/s | narsync peak RSS MiB |", "| ---: | --- | ---: | ---: | ---: |",
                  f"| {memory_result['nar_bytes'] / MIB:,.0f} | {memory_result['destination']} | {memory_result['wall_seconds']:.1f} | "
                  f"{memory_result['mb_per_second']:.0f} | {memory_result['peak_rss_mib']:.1f} |", ""]
    if results.get("ceiling"):
        limit = results["ceiling"]
        lines += ["## Compute ceiling", "",
                  "| measure | MB/s |", "| --- | ---: |",
                  f"| SHA-256, one core (`openssl speed -evp sha256 -bytes 1048576`) | {limit['sha256_mb_per_second']:,.0f} |",
                  f"| zstd -3, one core (`zstd -3 -T1`, per CPU second, on {limit['zstd3_sample_bytes'] / 1e6:.0f} MB of the large workload's binaries, "
                  f"compressed to {limit['zstd3_compressed_fraction']:.0%}) | {limit['zstd3_mb_per_second']:,.0f} |",
                  f"| NAR SHA-256 + zstd -3 + SHA-256 of the compressed bytes, one core | {limit['combined_single_core_mb_per_second']:,.0f} |",
                  f"| the same on {limit['cores']} cores (at most the SHA-256 speed: the NAR hash is one stream) | "
                  f"{limit['combined_all_cores_mb_per_second']:,.0f} |", "",
                  "narsync hashes, compresses (libzstd workers, one per core) and hashes again on separate "
                  "threads, so the all-cores ceiling is the one that applies to it; Nix 2.8 does all three on one thread, "
                  "Nix 2.26 compresses on several with parallel-compression.", ""]
        large = next((c for c in comparisons if c["workload"] == "large" and c["destination"] == "file://"), None)
        if large:
            speed = large["narsync"]["mb_per_second"]
            lines += [f"narsync's large path to file:// ran at {speed:.0f} MB/s: {speed / limit['combined_all_cores_mb_per_second']:.0%} "
                      f"of the {limit['cores']}-core ceiling, {speed / limit['combined_single_core_mb_per_second']:.0%} of one "
                      f"core's; {large['peer_label']} at {large['peer']['mb_per_second']:.0f} MB/s.", ""]
    if results.get("errors"):
        lines += ["## Parts that failed", ""] + [f"- {name}: {message.splitlines()[0]}" for name, message in results["errors"].items()] + [""]
    if results.get("targets"):
        lines += ["## Targets", "", "| target | measured | |", "| --- | --- | --- |"]
        lines += [f"| {t['target']} | {t['measured']} | {'met' if t['met'] else '**MISSED**'} |" for t in results["targets"]]
        lines.append("")
        if m["mode"] == "quick":
            lines += ["This was a --quick run: the workloads are smaller than the targets assume.", ""]
    return "\n".join(lines)
