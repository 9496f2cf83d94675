"""Probes a running server as the attacker in the security issue did, over real sockets, and checks what README's
Security section promises where only a real connection can show it: the cost of an unauthenticated flood,
worst-case bodies, slow clients, early refusals, odd static paths, and command-line mistakes.

    python3 tests/security/probe.py            # SWITCHBOARD_BINARY picks the build (default: the debug build)
"""
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reliability"))
from common import ROOT, binary, free_port, server_env, start, token  # noqa: E402

failures = []


def check(condition, message):
    print(("ok    " if condition else "FAIL  ") + message)
    if not condition:
        failures.append(message)


def request(connection, method, path, body=None, headers=None):
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    response.read()
    return response.status


def write_latencies(port, bearer, count, stop=None):
    """Milliseconds per team creation for one tenant, on one keep-alive connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
    latencies = []
    for index in range(count):
        if stop is not None and stop.is_set():
            break
        body = '{"name":"team %d %f","sector":"billing"}' % (index, time.time())
        started = time.perf_counter()
        status = request(connection, "POST", "/api/teams", body, headers)
        latencies.append((time.perf_counter() - started) * 1000)
        assert status == 201, status
    return latencies


def database_bytes(path):
    return sum(os.path.getsize(path + suffix) for suffix in ("", "-wal") if os.path.exists(path + suffix))


def flood_unauthenticated(port, total, threads=4, per_second=500):
    """`total` requests without a token, paced at `per_second`: the client shares this machine's two cores with
    the server, and an unpaced Python client would measure its own CPU use rather than the server's."""
    statuses = {}
    lock = threading.Lock()

    def worker(share):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        started = time.time()
        for index in range(share):
            pause = started + index * threads / per_second - time.time()
            if pause > 0:
                time.sleep(pause)
            path = "/api/teams/" + "x" * 900 + str(index)
            status = request(connection, "GET", path)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
    workers = [threading.Thread(target=worker, args=(total // threads,)) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return statuses


def probe_flood(port, env, sqlite_path):
    # What the flood writes, measured alone: nothing else writes meanwhile.
    size_before = database_bytes(sqlite_path)
    flood_started = time.time()
    statuses = flood_unauthenticated(port, 1000)
    flood_seconds = time.time() - flood_started
    time.sleep(1.5)  # the denial log writes once a second
    grown = database_bytes(sqlite_path) - size_before
    print(f"      flood answers {statuses} in {flood_seconds:.1f} s; the database grew {grown} bytes")
    allowed = 20 + 10 * (flood_seconds + 1)  # the default bucket: bursts of 20, 10 a second
    check(statuses.get(401, 0) <= allowed and statuses.get(429, 0) + statuses.get(401, 0) == 1000,
          "1,000 unauthenticated requests: all but the address's allowance refused before authentication (429)")
    check(grown < 1_000_000, "the database grows by less than 1 MB")

    # What it costs another tenant: its writes' median during a second flood against its median before.
    other = token(env, "probe-other")
    write_latencies(port, other, 50)  # warm up: the token is verified, the tenant's caches filled
    baseline = statistics.median(write_latencies(port, other, 300))
    stop = threading.Event()
    during = []
    measurer = threading.Thread(target=lambda: during.extend(write_latencies(port, other, 100_000, stop)))
    measurer.start()
    flood_unauthenticated(port, 1000)
    stop.set()
    measurer.join()
    p50 = statistics.median(during)
    print(f"      other tenant's write p50 {baseline:.2f} ms before, {p50:.2f} ms during a flood ({len(during)} writes)")
    check(p50 <= 2 * baseline + 0.5, "another tenant's write p50 stays within 2x its baseline")
    elapsed, answer = raw_exchange(port, b"GET /api/teams/" + b"x" * 60_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 2)
    check(answer.startswith(b"HTTP/1.1 414") and elapsed < 0.5, "a 60 KB path is refused with 414 before it is routed")


def health_latencies(port, seconds):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        started = time.perf_counter()
        assert request(connection, "GET", "/health") == 200
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.02)
    return latencies


def probe_bodies(port, env):
    manager = token(env, "probe-bodies", "manager")
    junk = '{"name":"x","sector":"y","junk":[' + ",".join(["[{}]"] * 3200) + "]}"
    assert len(junk) < 16 * 1024
    headers = {"Authorization": f"Bearer {manager}", "Content-Type": "application/json"}
    stop = threading.Event()
    statuses = {}
    lock = threading.Lock()

    def sender(large):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = ("{" + '"junk":"' + "x" * (1024 * 1024) + '"}') if large else junk
        while not stop.is_set():
            try:
                status = request(connection, "POST", "/api/teams", body, headers)
            except (ConnectionError, http.client.HTTPException):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = "closed"
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
    senders = [threading.Thread(target=sender, args=(index % 2 == 1,)) for index in range(16)]
    for thread in senders:
        thread.start()
    time.sleep(0.5)
    latencies = health_latencies(port, 3)
    stop.set()
    for thread in senders:
        thread.join()
    print(f"      16 senders of worst-case bodies: answers {statuses}; /health p50 {statistics.median(latencies):.2f} ms, "
          f"max {max(latencies):.2f} ms over {len(latencies)} requests")
    check(statuses.get(413, 0) > 0 and statuses.get(500, 0) == 0, "1 MiB bodies are refused with 413")
    check(statistics.median(latencies) < 50 and sorted(latencies)[int(len(latencies) * 0.95)] < 50,
          "/health answers in under 50 ms while 16 clients send worst-case bodies")


def raw_exchange(port, payload, wait):
    import socket
    connection = socket.create_connection(("127.0.0.1", port))
    connection.settimeout(wait)
    started = time.time()
    connection.sendall(payload)
    received = b""
    try:
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
    except OSError:
        pass
    return time.time() - started, received


def probe_connections(port):
    import socket
    elapsed, answer = raw_exchange(port, b"POST /api/teams HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                         b"Content-Length: 10000000000\r\n\r\n{", 5)
    check(answer.startswith(b"HTTP/1.1 413") and elapsed < 1, f"a declared 10 GB body gets 413 at once ({elapsed:.2f} s)")
    elapsed, answer = raw_exchange(port, b"POST /api/teams HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n"
                                         b"Expect: 100-continue\r\n\r\n", 0.5)
    check(answer.startswith(b"HTTP/1.1 100 Continue"), "Expect: 100-continue is answered with 100 Continue")
    elapsed, answer = raw_exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 3, 0.5)
    check(answer.count(b"HTTP/1.1 200 OK") == 3, "three pipelined requests get three answers, in order")
    elapsed, answer = raw_exchange(port, b"GET /css/app.css%00.html HTTP/1.1\r\nHost: x\r\n\r\n", 0.5)
    check(answer.startswith(b"HTTP/1.1 404") and b"text/css" not in answer and b"text/html" not in answer,
          "a NUL in a static path is a 404, not another file")

    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"GET /health HTTP/1.1\r\n")
    started = time.time()
    closed_after = None
    while time.time() - started < 30:
        try:
            slow.sendall(b"X-Slow: 1\r\n")
            slow.settimeout(1)
            if slow.recv(100) == b"":
                closed_after = time.time() - started
                break
        except socket.timeout:
            continue
        except OSError:
            closed_after = time.time() - started
            break
    check(closed_after is not None and closed_after < 15,
          f"a client trickling its request head is cut off ({closed_after and round(closed_after, 1)} s)")


def probe_command_line(env):
    cases = [
        (["foo"], {}),
        (["serve", "--port", "not-a-port"], {}),
        (["token", "--client-id", "acme corp", "--role", "admin"], {}),
        (["token", "--client-id", "acme", "--role", "admin", "--ttl", "999999"], {}),
        (["migrate"], {"DATABASE_URL": "postgres://nobody:secretword@127.0.0.1:1/none", "SWITCHBOARD_DATABASE_WAIT": "2"}),
    ]
    for arguments, extra in cases:
        result = subprocess.run([binary()] + arguments, cwd=ROOT, env=dict(env, **extra), capture_output=True, text=True,
                                timeout=60)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        clean = result.returncode == 1 and len(lines) == 1 and "Fatal" not in result.stderr and "Backtrace" not in result.stderr
        check(clean and "secretword" not in result.stderr + result.stdout,
              f"`switchboard {' '.join(arguments)}` ends in one line and exit 1 (exit {result.returncode}: {lines[:1]})")
        if "DATABASE_URL" in extra:
            check(result.stdout.count("is not reachable yet") >= 1 and "127.0.0.1" in lines[-1],
                  "an unreachable database is retried with a log line, then named (host, never the password)")


def main():
    workdir = tempfile.mkdtemp(prefix="switchboard-probe-")
    sqlite_path = os.path.join(workdir, "probe.sqlite")
    env = server_env(sqlite_path=sqlite_path, extra={"SWITCHBOARD_RATE_LIMIT": "off"})
    port = free_port()
    process, _ = start(env, port, os.path.join(workdir, "server.log"))
    try:
        print(f"probing {binary()} on port {port}")
        probe_flood(port, env, sqlite_path)
        probe_bodies(port, env)
        probe_connections(port)
    finally:
        process.terminate()
        process.wait(timeout=30)
    probe_command_line(server_env(sqlite_path=os.path.join(workdir, "cli.sqlite")))
    log = open(os.path.join(workdir, "server.log")).read()
    check(os.path.join(ROOT, "Public") not in log and "Fatal" not in log, "the server log shows no file paths and no crash")
    if failures:
        print(f"{len(failures)} failed")
        sys.exit(1)
    print("all probes passed")


if __name__ == "__main__":
    main()
