"""What is published: the workloads' sizes and the stores built for them."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from .measure import MIB, log, output_of, remove_tree


WORKLOADS = ["large", "small", "system", "few"]


@dataclass(frozen=True)
class Sizes:
    """How big each part is; FULL must finish in under 20 minutes on 2 cores, QUICK in 3."""
    large_bytes: int          # real binaries in the one large path
    small_count: int          # small paths, 1-64 KiB each
    system_bytes: int         # /usr split by Debian package, at most this much
    system_max_paths: int
    latency_probes: int       # paths added one by one while `narsync watch` runs
    extra_valid_paths: int    # rows in the large database of the latency test
    idle_seconds: int         # how long the idle watcher's CPU use is measured
    hook_calls: int
    memory_bytes: int         # the one path narsync publishes for the memory test
    ceiling_sample_bytes: int
    ceiling_repeats: int      # seconds of openssl speed, and zstd runs (the best counts)
    scale_counts: tuple[int, ...] = (1000, 10_000, 100_000)  # whole stores of small paths
    distant_small_count: int = 500  # small paths to the bucket a round trip away
    upstream_count: int = 300       # the upstream-heavy closure, 90% signed by cache.nixos.org-1


FULL = Sizes(large_bytes=1000 * 1000 * 1000, small_count=2000, system_bytes=512 * MIB, system_max_paths=400,
             latency_probes=50, extra_valid_paths=100_000, idle_seconds=10, hook_calls=50, memory_bytes=2048 * MIB,
             ceiling_sample_bytes=256 * MIB, ceiling_repeats=3)


QUICK = Sizes(large_bytes=96 * MIB, small_count=200, system_bytes=32 * MIB, system_max_paths=60,
              latency_probes=15, extra_valid_paths=100_000, idle_seconds=3, hook_calls=15, memory_bytes=128 * MIB,
              ceiling_sample_bytes=64 * MIB, ceiling_repeats=1, scale_counts=(1000, 3000), distant_small_count=50,
              upstream_count=100)


BINARY_DIRECTORIES = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/bin", "/usr/libexec",
                      "/opt/swift/usr/lib", "/usr/lib"]


@dataclass
class Workload:
    name: str
    description: str
    store: Path
    roots: list            # what both tools are given
    closure: list          # every path they must publish
    nar_bytes: int


def real_binaries(budget):
    """(directory of BINARY_DIRECTORIES, path) of its regular files and symlinks, in a fixed
    order, until their sizes add up to about budget bytes."""
    total, seen = 0, set()
    for source in BINARY_DIRECTORIES:
        if not os.path.isdir(source) or os.path.islink(source):
            continue
        for directory, subdirectories, files in os.walk(source):
            subdirectories[:] = sorted(d for d in subdirectories if os.path.join(directory, d) not in seen)
            seen.add(directory)
            for name in sorted(files):
                path = os.path.join(directory, name)
                info = os.lstat(path)
                if os.path.islink(path):
                    yield source, path
                elif (info.st_mode & 0o170000) == 0o100000 and (total == 0 or total + info.st_size <= budget):
                    yield source, path
                    total += info.st_size
                    if total >= budget * 0.995:
                        return


def copy_real_binaries(destination, budget):
    """Copies real_binaries(budget) into destination; returns the bytes copied."""
    total = 0
    for source, path in real_binaries(budget):
        target = destination / source.strip("/").replace("/", "_") / os.path.relpath(path, source)
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.islink(path):
            os.symlink(os.readlink(path), target)
        else:
            shutil.copyfile(path, target)
            os.chmod(target, 0o755 if os.stat(path).st_mode & 0o111 else 0o644)
            total += target.stat().st_size
    return total


def build_large(nix, work, sizes):
    store = work / "store-large"
    payload = work / "real-binaries"
    copied = copy_real_binaries(payload, sizes.large_bytes)
    log(f"large: adding {copied / 1e6:.0f} MB of real binaries to a chroot store with nix-store --add")
    path = nix.add(store, payload)
    remove_tree(payload)
    closure = nix.closure(store, [path])
    return Workload("large", f"one path of {copied / 1e6:.0f} MB of real binaries ({', '.join(d for d in BINARY_DIRECTORIES if os.path.isdir(d))})",
                    store, [path], [p for p, _ in closure], sum(s for _, s in closure))


def nix_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${").replace("\n", "\\n") + '"'


def build_small(nix, work, sizes, count: int | None = None, name: str = "small"):
    """`count` (sizes.small_count) builtins.toFile paths of 1-64 KiB (log-uniform); each
    interpolates 1-3 earlier ones, so it references them."""
    count = count or sizes.small_count
    store = work / f"store-{name}"
    generator = random.Random(8)
    padding = base64.b64encode(generator.randbytes(96 * 1024)).decode()
    lines = ["let", f"  pad = {nix_string(padding)};"]
    for index in range(count):
        size = int(2 ** generator.uniform(10, 16))
        references = sorted(generator.sample(range(max(0, index - 200), index), min(index, generator.randint(1, 3))))
        refs = " ".join(f"${{f{r}}}" for r in references)
        fill = max(0, size - 20 - 60 * len(references))
        offset = generator.randrange(0, len(padding) - fill) if fill < len(padding) else 0
        lines.append(f'  f{index} = builtins.toFile "small-{index}" ("small {index} {refs}\\n" + '
                     f"builtins.substring {offset} {fill} pad);")
    lines.append("in [ " + " ".join(f"f{index}" for index in range(count)) + " ]")
    expression = work / f"{name}.nix"
    expression.write_text("\n".join(lines) + "\n")
    log(f"{name}: writing {count} small paths with references (builtins.toFile)")
    paths = json.loads(nix.run("nix-instantiate", "--store", str(store), "--read-write-mode", "--eval", "--strict",
                               "--json", str(expression)))
    closure = nix.closure(store, paths)
    return Workload(name, f"{len(paths)} paths of 1-64 KiB, each referencing 1-3 others", store, paths,
                    [p for p, _ in closure], sum(s for _, s in closure))


def debian_packages():
    """Installed packages: name -> (files under /usr, bytes, names of installed dependencies)."""
    fields = "${binary:Package}\t${Package}\t${Depends}\t${Pre-Depends}\t${Provides}\t${db:Status-Abbrev}\n"
    rows = [line.split("\t") for line in output_of(["dpkg-query", "-W", "-f", fields]).splitlines()]
    installed = [row for row in rows if len(row) == 6 and row[5].startswith("ii")]
    providers = {}
    for _, name, _, _, provides, _ in installed:
        providers.setdefault(name, name)
        for provided in filter(None, (item.split("(")[0].strip() for item in provides.split(","))):
            providers.setdefault(provided, name)
    packages, owned = {}, set()
    merged = {top for top in ("bin", "sbin", "lib", "lib32", "lib64") if os.path.islink("/" + top)}
    for binary_name, name, depends, pre_depends, _, _ in installed:
        dependencies = []
        for group in filter(None, (g.strip() for g in f"{pre_depends},{depends}".split(","))):
            for alternative in group.split("|"):
                candidate = providers.get(alternative.split("(")[0].strip().split(":")[0])
                if candidate:
                    if candidate != name and candidate not in dependencies:
                        dependencies.append(candidate)
                    break
        files, size = [], 0
        list_file = Path(f"/var/lib/dpkg/info/{binary_name}.list")
        for entry in (list_file.read_text(errors="replace").splitlines() if list_file.exists() else []):
            parts = entry.split("/")
            if len(parts) > 2 and parts[1] in merged:
                entry = "/usr" + entry
            if not entry.startswith("/usr/") or entry in owned:
                continue
            try:
                info = os.lstat(entry)
            except OSError:
                continue
            if (info.st_mode & 0o170000) == 0o100000:
                size += info.st_size
            elif (info.st_mode & 0o170000) != 0o120000:
                continue
            owned.add(entry)
            files.append(entry[1:])
        packages[name] = (files, size, dependencies)
    return packages


def dependency_order(packages):
    """Dependencies first; a cycle is broken where the depth-first walk meets it."""
    order, state = [], {}
    for start in sorted(packages):
        if start in state:
            continue
        state[start] = "open"
        stack = [(start, iter(packages[start][2]))]
        while stack:
            name, dependencies = stack[-1]
            dependency = next(dependencies, None)
            if dependency is None:
                stack.pop()
                state[name] = "done"
                order.append(name)
            elif dependency in packages and dependency not in state:
                state[dependency] = "open"
                stack.append((dependency, iter(packages[dependency][2])))
    return order


SYSTEM_BUILDER = r"""set -e
mkdir -p $out/nix-support
if [ -s "$filesPath" ]; then
  tar -C / --no-recursion --verbatim-files-from -cf - -T "$filesPath" | tar -C $out --no-same-owner -xf -
  chmod -R u+w,ug-s $out
fi
printf '%s\n' $deps > $out/nix-support/depends
"""


def build_system(nix, work, sizes):
    """/usr split by Debian package: one derivation per package copies its files and records the
    packages it depends on (so its output references theirs); a last one references them all."""
    store = work / "store-system"
    packages = debian_packages()
    chosen, total = [], 0
    for name in dependency_order(packages):
        files, size, _ = packages[name]
        if size > sizes.system_bytes / 6 or total + size > sizes.system_bytes:
            continue
        chosen.append(name)
        total += size
        if len(chosen) >= sizes.system_max_paths - 1:
            break
    index = {name: position for position, name in enumerate(chosen)}
    lines = ["let", f"  builder = {nix_string(SYSTEM_BUILDER)};",
             '  package = name: files: deps: derivation { inherit name files deps; system = builtins.currentSystem; '
             'builder = "/bin/sh"; args = [ "-c" builder ]; PATH = "/bin:/usr/bin"; passAsFile = [ "files" ]; };']
    for position, name in enumerate(chosen):
        files, _, dependencies = packages[name]
        deps = " ".join(f"p{index[d]}" for d in dependencies if d in index and index[d] < position)
        store_name = re.sub(r"[^A-Za-z0-9+._?=-]", "-", name).lstrip(".")
        lines.append(f"  p{position} = package {nix_string(store_name)} {nix_string(chr(10).join(files))} [ {deps} ];")
    lines.append('in derivation { name = "system"; system = builtins.currentSystem; builder = "/bin/sh"; '
                 'PATH = "/bin:/usr/bin"; args = [ "-c" "printf \'%s\\\\n\' $packages > $out" ]; packages = [ '
                 + " ".join(f"p{i}" for i in range(len(chosen))) + " ]; }")
    expression = work / "system.nix"
    expression.write_text("\n".join(lines) + "\n")
    log(f"system: building {len(chosen)} packages' files ({total / 1e6:.0f} MB of /usr) as derivations")
    root = nix.run("nix-build", "--store", str(store), "--option", "sandbox-paths", "/bin /usr /lib /lib64",
                   "--max-jobs", str(os.cpu_count() or 1), "--no-out-link", str(expression)).strip()
    closure = nix.closure(store, [root])
    return Workload("system", f"/usr split by Debian package: {len(closure)} paths with the packages' dependencies as references",
                    store, [root], [p for p, _ in closure], sum(s for _, s in closure))


def warm_page_cache(workload):
    """Reads every file once, so neither tool pays for the first read from disk."""
    for path in workload.closure:
        for directory, _, files in os.walk(str(workload.store) + path):
            for name in files:
                full = os.path.join(directory, name)
                if not os.path.islink(full):
                    with open(full, "rb") as handle:
                        while handle.read(MIB):
                            pass
        if os.path.isfile(str(workload.store) + path):
            with open(str(workload.store) + path, "rb") as handle:
                while handle.read(MIB):
                    pass


def nix32_hash(seed):
    alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:20], "big")
    return "".join(alphabet[(digest >> (5 * i)) & 31] for i in range(32))


def add_valid_rows(database, count):
    """count more rows in ValidPaths, as Nix's own registration writes them (paths without files:
    what matters here is the size of the database the watcher reads)."""
    connection = sqlite3.connect(database, timeout=30)
    now = int(time.time())
    connection.executemany(
        "INSERT INTO ValidPaths (path, hash, registrationTime, narSize) VALUES (?, ?, ?, ?)",
        ((f"/nix/store/{nix32_hash(str(i))}-bulk-{i}", "sha256:" + hashlib.sha256(str(i).encode()).hexdigest(), now, 128)
         for i in range(count)))
    connection.commit()
    connection.close()


def nar_string(data: bytes) -> bytes:
    """A string in Nix's archive format: length, bytes, zero padding to 8."""
    return len(data).to_bytes(8, "little") + data + b"\0" * ((8 - len(data) % 8) % 8)


def nar_of_file(contents: bytes) -> bytes:
    """The NAR of a store path that is one regular file."""
    return b"".join(nar_string(s) for s in [b"nix-archive-1", b"(", b"type", b"regular", b"contents", contents, b")"])


def build_scale(nix, work: Path, count: int) -> Workload:
    """A whole store of `count` small paths (1-2 KiB files), each referencing 1-3 of the 200
    before it, registered straight into Nix's database with their true NAR hashes (Nix itself
    would take minutes to add 100,000 paths one by one; `nix-store --verify --check-contents`
    accepts the result)."""
    store = work / f"store-scale-{count}"
    seed = work / f"scale-seed-{count}"
    seed.write_text("seed\n")
    seed_path = nix.add(store, seed)
    generator = random.Random(15)
    connection = sqlite3.connect(store / "nix/var/nix/db/db.sqlite", timeout=60)
    first = connection.execute("SELECT max(id) FROM ValidPaths").fetchone()[0] + 1
    names, rows, references_rows, now, nar_bytes = [], [], [], int(time.time()), 0
    for index in range(count):
        name = f"{nix32_hash(f'scale-{count}-{index}')}-scale-{index}"
        references = sorted(generator.sample(range(max(0, index - 200), index), min(index, generator.randint(1, 3))))
        text = f"scale {index} " + " ".join(f"/nix/store/{names[r]}" for r in references) + "\n"
        contents = (text + "x" * generator.randint(0, 1024)).encode()
        (store / "nix/store" / name).write_bytes(contents)
        nar = nar_of_file(contents)
        nar_bytes += len(nar)
        rows.append((first + index, f"/nix/store/{name}", "sha256:" + hashlib.sha256(nar).hexdigest(), now, len(nar)))
        references_rows.extend((first + index, first + r) for r in references)
        names.append(name)
    connection.executemany("INSERT INTO ValidPaths (id, path, hash, registrationTime, narSize) VALUES (?, ?, ?, ?, ?)", rows)
    connection.executemany("INSERT INTO Refs (referrer, reference) VALUES (?, ?)", references_rows)
    connection.commit()
    connection.close()
    closure = [seed_path] + [f"/nix/store/{name}" for name in names]
    return Workload("scale", f"a whole store of {count + 1:,} small paths, each referencing 1-3 of the 200 before it",
                    store, closure, closure, nar_bytes)


def build_few(nix, work, sizes):
    """sizes.distant_small_count small paths: what goes to the bucket a round trip away."""
    return build_small(nix, work, sizes, count=sizes.distant_small_count, name="few")


@dataclass
class UpstreamWorkload:
    """A closure most of which came from cache.nixos.org, as on a real builder: its paths carry
    a signature of a key named cache.nixos.org-1 (made for the benchmark) and are in an
    "upstream" cache already; the rest were built here."""
    workload: Workload
    upstream: list[str]       # the paths signed by cache.nixos.org-1, in the upstream cache
    local: list[str]          # the paths built here
    upstream_cache: Path
    upstream_public_key: str


def build_upstream(nix, work, sizes) -> UpstreamWorkload:
    workload = build_small(nix, work, sizes, count=sizes.upstream_count, name="upstream")
    # References come first in a closure that Nix lists in dependency order: the lower 90% are
    # what a builder substitutes, the top 10% what it builds on them.
    ordered = nix.run("nix-store", "--store", str(workload.store), "--query", "--requisites", *workload.roots).split()
    cut = int(len(ordered) * 0.9)
    upstream, local = ordered[:cut], ordered[cut:]
    key, public = work / "cache.nixos.org-1.sec", work / "cache.nixos.org-1.pub"
    nix.run("nix-store", "--generate-binary-cache-key", "cache.nixos.org-1", str(key), str(public))
    nix.run("nix", "store", "sign", "--store", str(workload.store), "--key-file", str(key), *upstream)
    cache = work / "upstream-cache"
    nix.run("nix", "copy", "--store", str(workload.store), "--to", f"file://{cache}?compression=zstd", *upstream)
    return UpstreamWorkload(workload, upstream, local, cache, public.read_text().strip())
