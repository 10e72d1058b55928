"""The tools narsync is compared with: the private Nix the workloads are built with, and the peers that publish them."""

from __future__ import annotations

import json
import os

from .measure import output_of


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
