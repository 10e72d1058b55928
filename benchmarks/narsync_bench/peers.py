"""The tools narsync is compared with: the private Nix the workloads are built with, and the peers that publish them."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .measure import REPOSITORY, output_of


class Nix:
    """A private single-user Nix: its own nix.conf and cache directory, throwaway chroot stores."""

    def __init__(self, work):
        self.work = work
        configuration = work / "nix-conf"
        configuration.mkdir()
        (configuration / "nix.conf").write_text(
            "build-users-group =\nsandbox = false\nsubstituters =\nexperimental-features = nix-command\n"
            "narinfo-cache-negative-ttl = 0\nnarinfo-cache-positive-ttl = 0\n")
        (work / "xdg-cache").mkdir()
        self.env = dict(os.environ, NIX_CONF_DIR=str(configuration), XDG_CACHE_HOME=str(work / "xdg-cache"),
                        HOME=str(work), AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
        self.env.pop("NIX_REMOTE", None)
        self.key = work / "signing-key.sec"
        output_of(["nix-store", "--generate-binary-cache-key", "bench-1", str(self.key), str(work / "signing-key.pub")],
                  env=self.env)
        os.chmod(self.key, 0o600)

    def run(self, *arguments, **kwargs):
        return output_of(list(arguments), env=self.env, **kwargs)

    def add(self, store, path):
        return self.run("nix-store", "--store", str(store), "--add", str(path)).strip()

    def closure(self, store, paths):
        """(path, narSize) of every path in the closure of paths."""
        infos = json.loads(self.run("nix", "path-info", "--store", str(store), "--json", "--recursive", *paths))
        return [(info["path"], info["narSize"]) for info in infos]

    def version(self):
        return self.run("nix", "--version").strip()


@dataclass(frozen=True)
class Peer:
    """A Nix that publishes the workloads with `nix copy`, at its fastest settings."""
    key: str                 # its name in results.json, e.g. "nix226"
    label: str               # e.g. "Nix 2.26 (Debian 13)"
    modern: bool             # README's headline quotes only the modern peer
    url_options: str         # appended to the destination URL's query
    runs_in_trixie: bool = False

    def command(self, work: Path, arguments: list[str]) -> list[str]:
        """`nix ARGUMENTS...` as this peer runs it; `work` (stores, keys, caches) is visible to it."""
        if not self.runs_in_trixie:
            return ["nix", *arguments]
        return [str(REPOSITORY / "scripts/in-trixie"), "--bind", str(work), "--", "nix", *arguments]

    def copy(self, work: Path, store: Path, url: str, roots: list[str]) -> list[str]:
        return self.command(work, ["copy", "--store", str(store), "--to", url + self.url_options, *roots])

    def available(self) -> bool:
        return not self.runs_in_trixie or (REPOSITORY / "scripts/in-trixie").exists()

    def version(self, work: Path, env: dict[str, str]) -> str:
        return output_of(self.command(work, ["--version"]), env=env).strip()


# Debian 13's Nix compresses zstd on several threads with parallel-compression; it has no S3
# support (Debian builds it without the AWS SDK), so buckets get its http:// store, as Nix 2.8's.
MODERN_NIX = Peer("nix226", "Nix 2.26 (Debian 13)", modern=True, url_options="&parallel-compression=true",
                  runs_in_trixie=True)
# Debian 12's Nix: one thread for hashing and compressing; zstd is not parallel in it.
OLD_NIX = Peer("nix28", "Nix 2.8 (Debian 12)", modern=False, url_options="")
PEERS = [MODERN_NIX, OLD_NIX]


def trixie_overhead(work: Path, env: dict[str, str], runs: int = 5) -> float:
    """Seconds `scripts/in-trixie true` takes (namespaces and pivot_root, no Nix): subtracted
    from the modern peer's wall times, so that the ratio is Nix's own time against narsync's."""
    times = []
    for _ in range(runs):
        started = time.monotonic()
        output_of([str(REPOSITORY / "scripts/in-trixie"), "--bind", str(work), "--", "true"], env=env)
        times.append(time.monotonic() - started)
    return sorted(times)[len(times) // 2]
