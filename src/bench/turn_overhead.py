#!/usr/bin/env python3
"""Per-turn overhead of the session API: how much of a turn is model work, and how many turns per
second several sessions get from one engine.

Starts the packaged service (the embedded default: embedded PostgreSQL, CPU backend, the shipped
passkey model) on a fresh data directory, gives each of SESSIONS sessions the same document, then
runs TURNS greedy turns of 8 tokens per session: first one session at a time, then all sessions
concurrently. Reports wall time per turn at the client, the model time the service reports
(prefill + decode), and turns per second. Run it for two jars side by side to compare them:

    src/bench/turn_overhead.py service/target/headroom-service.jar [other.jar ...]
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SESSIONS = int(os.environ.get("SESSIONS", "8"))
TURNS = int(os.environ.get("TURNS", "20"))
JAVA = os.environ.get("JAVA", "/usr/lib/jvm/temurin-25-jdk-amd64/bin/java")
DOC = ("lindor muzo a pawimu wipako. the secret code of blue is 48213. sazofu vomolin elko dormuba hemtenpa "
       "wigarzo wifu the lumo mupa salinne furiel.")
QUESTION = "what is the secret code of blue? the secret code of blue is"


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def post(port, path, body):
    req = urllib.request.Request(f"http://localhost:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def turn(port, sid):
    t0 = time.perf_counter()
    r = post(port, f"/v1/sessions/{sid}/turns", {"message": QUESTION, "max_tokens": 8, "stream": False})
    wall = (time.perf_counter() - t0) * 1000
    return wall, r["timing"]["prefill_ms"] + r["timing"]["decode_ms"]


def measure(jar):
    data = tempfile.mkdtemp(prefix="hr-bench-")
    port = free_port()
    proc = subprocess.Popen([JAVA, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                             "-jar", jar, f"--server.port={port}",
                             f"--headroom.sessions.database.data-directory={data}/pg",
                             f"--headroom.sessions.tiers.spill-directory={data}/kv"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"http://localhost:{port}/actuator/health/readiness", timeout=2)
                break
            except Exception:
                time.sleep(0.5)
        sids = []
        for _ in range(SESSIONS):
            sid = post(port, "/v1/sessions", {})["id"]
            post(port, f"/v1/sessions/{sid}/context", {"text": DOC})
            sids.append(sid)
        for sid in sids:  # warm-up: JIT and first-touch
            turn(port, sid)
        alone = []
        t0 = time.perf_counter()
        for sid in sids:
            for _ in range(TURNS):
                alone.append(turn(port, sid))
        alone_s = time.perf_counter() - t0
        together = []
        lock = threading.Lock()

        def user(sid):
            for _ in range(TURNS):
                r = turn(port, sid)
                with lock:
                    together.append(r)
        threads = [threading.Thread(target=user, args=(s,)) for s in sids]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        together_s = time.perf_counter() - t0
        n = SESSIONS * TURNS
        return {
            "jar": jar, "sessions": SESSIONS, "turns_per_session": TURNS,
            "alone": {"wall_ms_p50": statistics.median(w for w, _ in alone),
                      "model_ms_p50": statistics.median(m for _, m in alone),
                      "turns_per_s": n / alone_s},
            "together": {"wall_ms_p50": statistics.median(w for w, _ in together),
                         "model_ms_p50": statistics.median(m for _, m in together),
                         "turns_per_s": n / together_s},
        }
    finally:
        proc.terminate()
        proc.wait(60)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    results = [measure(j) for j in sys.argv[1:]]
    print(json.dumps(results, indent=2))
