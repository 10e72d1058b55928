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
        add("large path to file:// >= 2x Nix's throughput", f"{large['ratio_median']:.2f}x", large["ratio_median"] >= 2)
        limit = results.get("ceiling")
        if limit:
            speed = large["narsync"]["mb_per_second"]
            applicable = limit["combined_all_cores_mb_per_second"]
            add(f"large path to file:// >= 75% of the compute ceiling (zstd -3 + both SHA-256 passes, {limit['cores']} cores)",
                f"{speed:.0f} MB/s = {speed / applicable:.0%} of {applicable:.0f} MB/s "
                f"({speed / limit['combined_single_core_mb_per_second']:.0%} of one core's)", speed >= 0.75 * applicable)
    large_s3 = by_key.get(("large", "s3 (moto)"))
    if large_s3:
        add("large path to s3 (moto) >= 2x Nix's throughput", f"{large_s3['ratio_median']:.2f}x", large_s3["ratio_median"] >= 2)
    for destination in ("file://", "s3 (moto)"):
        small = by_key.get(("small", destination))
        if small:
            add(f"small paths to {destination} >= 5x Nix's paths/s", f"{small['ratio_median']:.2f}x", small["ratio_median"] >= 5)
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
        rss = comparison["narsync"]["peak_rss_mib_max"]
        add(f"peak RSS < {allowance} MiB ({comparison['workload']} to {comparison['destination']})", f"{rss:.1f} MiB",
            rss < allowance)
    if results.get("memory"):
        rss = results["memory"]["peak_rss_mib"]
        add(f"peak RSS < 64 MiB (one {results['memory']['nar_bytes'] / MIB:.0f} MiB path to file://)", f"{rss:.1f} MiB", rss < 64)
    return rows


def number(value, digits=1):
    return "–" if value is None else f"{value:,.{digits}f}"


def markdown(results):
    m = results["machine"]
    lines = [f"# narsync benchmarks ({m['mode']} run, {m['date']})", "",
             f"Machine: {m['cores']} cores, {m['cpu']}, {m['memory_gib']} GiB, Linux {m['kernel']}. "
             f"{m['nix']}. narsync {m['narsync_commit']}"
             + (f" with {' '.join(m['narsync_arguments'])}" if m["narsync_arguments"] else " with default settings") + ".",
             "",
             f"Each workload was published {m['rounds']} times by each tool, alternately (the first tool alternates "
             "between rounds), each time into a fresh destination; a run counts only if the destination then holds a "
             "narinfo for every path of the closure. The peer compresses with zstd, as narsync does, and both sign. "
             "Wall time, CPU time (user + system, of the process and its children) and throughput are medians, peak RSS the largest of the rounds; the ratio is the peer's wall "
             "time over narsync's, per round (median and range). "
             f"Peak RSS comes from wait4; {m['peak_rss_floor_mib']:.1f} MiB (what `true` shows) is its floor here.", ""]
    comparisons = results.get("comparisons", [])
    for destination in dict.fromkeys(c["destination"] for c in comparisons):
        rows = [c for c in comparisons if c["destination"] == destination]
        lines += [f"## {destination}", "", f"Peer: `{rows[0]['peer_command']}`; narsync: `narsync backfill`.", "",
                  "| workload | paths | NAR MB | tool | wall s | CPU s | MB/s | paths/s | peak RSS MiB | narsync speed-up |",
                  "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
        for c in rows:
            for tool, label in (("peer", "nix copy"), ("narsync", "narsync")):
                s = c[tool]
                speedup = (f"**{c['ratio_median']:.2f}x** ({c['ratio_min']:.2f}-{c['ratio_max']:.2f})"
                           if tool == "narsync" else "")
                lines.append(f"| {c['workload']} | {c['closure_paths']} | {c['nar_bytes'] / 1e6:,.0f} | {label} | "
                             f"{number(s['wall_seconds_median'], 2)} | {number(s['cpu_seconds_median'], 2)} | {number(s['mb_per_second'])} | "
                             f"{number(s['paths_per_second'])} | {number(s['peak_rss_mib_max'])} | {speedup} |")
        lines.append("")
        lines += [f"- {c['workload']}: {c['description']}." + (f" Profile: [{c['profile']}]({c['profile']})." if c.get("profile") else "")
                  for c in rows] + [""]
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
                  "narsync hashes, compresses (libzstd workers, one per core up to 4) and hashes again on separate "
                  "threads, so the all-cores ceiling is the one that applies to it; Nix 2.8 does all three on one thread.", ""]
        large = next((c for c in comparisons if c["workload"] == "large" and c["destination"] == "file://"), None)
        if large:
            speed = large["narsync"]["mb_per_second"]
            lines += [f"narsync's large path to file:// ran at {speed:.0f} MB/s: {speed / limit['combined_all_cores_mb_per_second']:.0%} "
                      f"of the {limit['cores']}-core ceiling, {speed / limit['combined_single_core_mb_per_second']:.0%} of one "
                      f"core's; Nix at {large['peer']['mb_per_second']:.0f} MB/s.", ""]
    if results.get("targets"):
        lines += ["## Targets", "", "| target | measured | |", "| --- | --- | --- |"]
        lines += [f"| {t['target']} | {t['measured']} | {'met' if t['met'] else '**MISSED**'} |" for t in results["targets"]]
        lines.append("")
        if m["mode"] == "quick":
            lines += ["This was a --quick run: the workloads are smaller than the targets assume.", ""]
    return "\n".join(lines)
