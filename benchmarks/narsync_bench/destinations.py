"""Where the tools publish to: file:// directories, moto buckets, and buckets a round trip away."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree

from .measure import BenchmarkError, REPOSITORY, free_port, remove_tree, stop, tail, wait_for


class FileDestinations:
    label = "file://"
    short = "file"
    peer_note = "nix copy --to 'file://DIR?compression=zstd&secret-key=KEY'"
    workloads = ["large", "small", "system"]

    def __init__(self, nix, work):
        self.nix = nix
        self.root = work / "destinations"
        self.root.mkdir(exist_ok=True)

    def urls(self, tag):
        directory = self.root / tag
        return f"file://{directory}?compression=zstd&secret-key={self.nix.key}", f"file://{directory}"

    def narinfos(self, tag):
        directory = self.root / tag
        return sum(1 for entry in os.scandir(directory) if entry.name.endswith(".narinfo")) if directory.is_dir() else 0

    def end_round(self):
        pass

    def finish(self):
        """Deletes the caches once the workload is done: deleting files narsync has just fsynced
        takes seconds here, which must not land between two timed runs."""
        remove_tree(self.root)
        self.root.mkdir()


class Moto:
    """moto_server on a free loopback port: a real S3 endpoint, with signature checking off."""

    def __init__(self, work):
        self.log = work / "moto.log"
        for _ in range(3):
            self.port = free_port()
            with open(self.log, "ab") as output:
                self.process = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
                                                stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                wait_for(self.answers, "moto_server to answer", timeout=30, interval=0.2)
                return
            except BenchmarkError:
                stop(self.process)
        raise BenchmarkError(f"moto_server did not start; see {self.log}:\n{tail(self.log)}")

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def request(self, method, path, body=None, headers=None):
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()

    def answers(self):
        if self.process.poll() is not None:
            raise BenchmarkError(f"moto_server exited; see {self.log}:\n{tail(self.log)}")
        try:
            self.request("GET", "/")
            return True
        except (urllib.error.URLError, OSError):
            return False

    def create_bucket(self, bucket):
        """A bucket anyone may read and write, as Nix's unsigned HTTP PUTs need."""
        self.request("PUT", f"/{bucket}")
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:PutObject"],
             "Resource": f"arn:aws:s3:::{bucket}/*"},
            {"Effect": "Allow", "Principal": "*", "Action": ["s3:ListBucket"], "Resource": f"arn:aws:s3:::{bucket}"}]}
        self.request("PUT", f"/{bucket}?policy", json.dumps(policy).encode(), {"Content-Type": "application/json"})

    def keys(self, bucket):
        keys, token = [], None
        namespace = "{http://s3.amazonaws.com/doc/2006-03-01/}"
        while True:
            query = {"list-type": "2", "max-keys": "1000"}
            if token:
                query["continuation-token"] = token
            root = ElementTree.fromstring(self.request("GET", f"/{bucket}?{urllib.parse.urlencode(query)}"))
            keys += [element.text for element in root.iter(f"{namespace}Key")]
            token = root.findtext(f"{namespace}NextContinuationToken")
            if root.findtext(f"{namespace}IsTruncated") != "true" or not token:
                return keys

    def reset(self):
        """Forgets every bucket, so moto's memory does not grow round after round."""
        self.request("POST", "/moto-api/reset")

    def stop(self):
        stop(self.process)


class S3Destinations:
    label = "s3 (moto)"
    short = "s3"
    # Neither Nix here has an s3:// store for a local endpoint (2.8 has no endpoint option, Debian
    # builds 2.26 without S3): both PUT over HTTP, one request per object, no multipart upload.
    peer_note = "nix copy --to 'http://127.0.0.1:PORT/BUCKET?compression=zstd&secret-key=KEY'"
    # Not the 2,000 small paths: Nix 2.26 PUTs them one by one to moto at several minutes a round.
    workloads = ["large", "system"]

    def __init__(self, moto, key):
        self.moto = moto
        self.key = key
        self.port = moto.port

    @staticmethod
    def bucket(tag):
        return re.sub(r"[^a-z0-9-]", "-", tag.lower())[:63]

    def urls(self, tag):
        bucket = self.bucket(tag)
        self.moto.create_bucket(bucket)
        return (f"http://127.0.0.1:{self.port}/{bucket}?compression=zstd&secret-key={self.key}",
                f"s3://{bucket}?endpoint=127.0.0.1:{self.port}&scheme=http&region=us-east-1")

    def narinfos(self, tag):
        return sum(1 for key in self.moto.keys(self.bucket(tag)) if key.endswith(".narinfo"))

    def end_round(self):
        self.moto.reset()

    def finish(self):
        pass


class DistantS3Destinations(S3Destinations):
    """moto behind benchmarks/delay_proxy.py: a bucket a round trip of ROUND_TRIP_MS away, as a
    real one is, where an uploader that waits for each answer pays the round trip every time.
    Only the few hundred small paths of target 4: Nix takes minutes a round for more."""
    ROUND_TRIP_MS = 20
    label = f"s3 (moto, {ROUND_TRIP_MS} ms away)"
    short = "s3-far"
    workloads = ["few"]

    def __init__(self, moto, key, work):
        super().__init__(moto, key)
        self.port = free_port()
        self.log = work / "delay-proxy.log"
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, str(REPOSITORY / "benchmarks/delay_proxy.py"), str(self.port), str(moto.port),
                 str(self.ROUND_TRIP_MS / 2)], stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: b"ready" in self.log.read_bytes(), "the delay proxy to listen", timeout=10)

    def stop(self):
        stop(self.process)
