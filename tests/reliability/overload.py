"""Overload: a burst of call creations far beyond capacity (wrk with 20 times the connections that saturate the
server) for 10 s. With the in-flight bound (SWITCHBOARD_MAX_IN_FLIGHT), the requests beyond it are answered 503
with Retry-After at once; the requests that are served keep a p99 within 5 times the p99 at saturation, memory
stays bounded, and the server serves normally the moment the burst ends.

    python3 tests/reliability/overload.py [--seconds 10]       # needs wrk (Debian's package)
"""
import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402

BODY = json.dumps({"sector": "billing", "capabilities": ["french"]})


def probe_latencies(port, token_value, stop):
    """A client beside the load: milliseconds of each creation it got answered 201, and how many got 503."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token_value}", "Content-Type": "application/json"}
    served, refused = [], 0
    while not stop.is_set():
        started = time.perf_counter()
        connection.request("POST", "/api/calls", BODY, headers)
        response = connection.getresponse()
        response.read()
        if response.status == 201:
            served.append((time.perf_counter() - started) * 1000)
        elif response.status == 503:
            refused += 1
            assert response.getheader("retry-after"), "503 without Retry-After"
        else:
            raise AssertionError(f"unexpected {response.status}")
        time.sleep(0.005)
    return served, refused


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def rss_megabytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def load(port, token_value, connections, seconds):
    env = dict(os.environ, TOKEN=token_value)
    output = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", "bench/load/create_calls.lua",
                             f"http://127.0.0.1:{port}/api/calls"], cwd=harness.ROOT, env=env, capture_output=True,
                            text=True, check=True).stdout
    return {line.split("=")[0]: float(line.split("=")[1]) for line in output.splitlines() if "=" in line}


def measured(port, token_value, connections, seconds):
    stop = threading.Event()
    result = {}
    prober = threading.Thread(target=lambda: result.update(zip(("served", "refused"),
                                                               probe_latencies(port, token_value, stop))))
    prober.start()
    figures = load(port, token_value, connections, seconds)
    stop.set()
    prober.join()
    return figures, result["served"], result["refused"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed (apt-get install wrk)")
    workdir = tempfile.mkdtemp(prefix="switchboard-overload-")
    env = harness.server_env(sqlite_path=os.path.join(workdir, "overload.sqlite"))
    port = harness.free_port()
    process, base = harness.start(env, port, os.path.join(workdir, "server.log"))
    failures = []
    try:
        token_value = harness.token(env, f"overload-{random.randrange(10**9)}")
        for index in range(200):
            status, _ = harness.call(base, token_value, "POST", "/api/agents",
                                    {"name": f"Agent {index}", "sector": "billing", "max_concurrent": 100,
                                     "capabilities": ["french"]})
            assert status == 201, status

        saturated, saturated_served, _ = measured(port, token_value, 16, 5)
        baseline_p99 = percentile(saturated_served, 0.99)
        rss_before = rss_megabytes(process.pid)
        burst, burst_served, burst_refused = measured(port, token_value, 320, args.seconds)
        rss_after = rss_megabytes(process.pid)
        burst_p99 = percentile(burst_served, 0.99) if burst_served else float("inf")

        # The burst's last requests are still being answered for a moment after wrk stops.
        started = time.perf_counter()
        status = None
        while status != 201 and time.perf_counter() - started < 1:
            status, _ = harness.call(base, token_value, "POST", "/api/calls", json.loads(BODY))
        first_after = (time.perf_counter() - started) * 1000

        print(f"saturated (16 connections): {saturated['rps']:.0f} req/s; probe p99 {baseline_p99:.1f} ms "
              f"({len(saturated_served)} served)")
        print(f"burst (320 connections, {args.seconds} s): {burst['rps']:.0f} answers/s; probe p99 of served "
              f"{burst_p99:.1f} ms ({len(burst_served)} served, {burst_refused} refused with 503); "
              f"RSS {rss_before:.0f} -> {rss_after:.0f} MB; served again {first_after:.0f} ms after the burst")
        if burst_p99 > 5 * baseline_p99:
            failures.append(f"served p99 under the burst {burst_p99:.1f} ms is over 5x {baseline_p99:.1f} ms")
        if rss_after > rss_before + 200:
            failures.append(f"memory grew from {rss_before:.0f} to {rss_after:.0f} MB")
        if status != 201:
            failures.append(f"after the burst: still {status} after {first_after:.0f} ms")
        if not burst_served:
            failures.append("nothing was served during the burst")
    finally:
        process.terminate()
        process.wait(timeout=30)
    harness.report("overload", failures, "overload held")


if __name__ == "__main__":
    main()
