"""Two Switchboard nodes over one PostgreSQL behind HAProxy, configured by the repository's deploy/haproxy.cfg, checked
through the proxy as a centre would use it:

1. 500 agents signing in (500 distinct valid tokens, each new to the nodes) from one address within 10 s: no 429.
2. A client sending bad tokens is throttled by its own address (also when it forges X-Forwarded-For), while a
   bystander's bad token is still a plain 401 and valid tokens from the flooder's address pass.
3. Calls spread over both nodes hold every capacity exactly (loads equal active calls, never over a limit).
4. The event stream works through the proxy (WebSocket upgrade), with events from either node.
5. SIGTERM of one node under load loses nothing: every acknowledged call exists once, clients that retried with
   their Idempotency-Key got one call per key, and no client saw a 5xx it could not retry past.

    python3 tests/deployment/two_nodes.py --database-url postgres://…   (SWITCHBOARD_BINARY picks the build)
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import websocket  # websocket-client

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402

CONFIG = os.path.join(harness.ROOT, "deploy", "haproxy.cfg")


class Proxy:
    def __init__(self, port):
        self.port = port

    def request(self, method, path, token=None, body=None, source="127.0.0.1", headers=None, timeout=10):
        """(status, json) through the proxy, from the loopback address `source`."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout, source_address=(source, 0))
        try:
            sent = dict(headers or {})
            if token:
                sent["Authorization"] = f"Bearer {token}"
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                sent["Content-Type"] = "application/json"
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            raw = response.read()
            try:
                payload = json.loads(raw or b"null")
            except ValueError:
                payload = raw[:200]
            return response.status, payload
        finally:
            connection.close()


def start_haproxy(listen_port, node_ports, stats_port, log_path):
    env = dict(os.environ, SWITCHBOARD_LISTEN=f"127.0.0.1:{listen_port}", HAPROXY_STATS=f"127.0.0.1:{stats_port}",
               SWITCHBOARD_NODE1=f"127.0.0.1:{node_ports[0]}", SWITCHBOARD_NODE2=f"127.0.0.1:{node_ports[1]}")
    process = subprocess.Popen(["haproxy", "-db", "-f", CONFIG], env=env, stdout=open(log_path, "a"), stderr=subprocess.STDOUT)
    proxy = Proxy(listen_port)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            # Both nodes up (each answered its health checks).
            if server_stats(stats_port, "UP") >= 2:
                return process, proxy
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError("haproxy stopped:\n" + open(log_path).read())
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("haproxy did not see both nodes up:\n" + open(log_path).read())


def stats_rows(stats_port):
    connection = http.client.HTTPConnection("127.0.0.1", stats_port, timeout=5)
    connection.request("GET", "/stats;csv")
    text = connection.getresponse().read().decode()
    connection.close()
    lines = [line for line in text.splitlines() if line]
    header = lines[0].lstrip("# ").split(",")
    return [dict(zip(header, line.split(","))) for line in lines[1:]]


def server_stats(stats_port, status):
    return sum(1 for row in stats_rows(stats_port) if row["pxname"] == "nodes" and row["svname"].startswith("node")
               and row["status"].startswith(status))


def sessions_per_node(stats_port):
    return {row["svname"]: int(row["stot"]) for row in stats_rows(stats_port)
            if row["pxname"] == "nodes" and row["svname"].startswith("node")}


def check_sign_ins(proxy, tenant, failures):
    tokens = [harness.mint(tenant, f"agent-{index}") for index in range(500)]
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(lambda token: proxy.request("GET", "/api/teams", token)[0], tokens))
    elapsed = time.time() - started
    counts = {status: statuses.count(status) for status in set(statuses)}
    print(f"   500 new valid tokens from one address in {elapsed:.1f} s: {counts}")
    if counts.get(429):
        failures.append(f"{counts[429]} of 500 sign-ins were throttled")
    if counts.get(200) != 500:
        failures.append(f"sign-ins answered {counts}")
    if elapsed > 10:
        failures.append(f"500 sign-ins took {elapsed:.1f} s")


def check_bad_tokens(proxy, tenant, failures):
    # Each node keeps its own budget, so the flooder gets about twice the burst in all before every answer is 429.
    flood = [proxy.request("GET", "/api/teams", "not.a.token", source="127.0.0.2",
                           headers={"X-Forwarded-For": f"198.51.100.{index % 200}"})[0] for index in range(120)]
    throttled = flood.count(429)
    bystander = proxy.request("GET", "/api/teams", "not.a.token", source="127.0.0.3")[0]
    valid = proxy.request("GET", "/api/teams", harness.mint(tenant, "flooder-colleague"), source="127.0.0.2")[0]
    print(f"   a flooder's 120 bad tokens: {throttled} x 429, the rest 401; a bystander's bad token: {bystander}; "
          f"a valid token from the flooder's address: {valid}")
    if throttled < 60:
        failures.append(f"only {throttled} of the flooder's 120 bad tokens were throttled (X-Forwarded-For forged)")
    if set(flood) - {401, 429}:
        failures.append(f"the flood got {sorted(set(flood))}")
    if bystander != 401:
        failures.append(f"a bystander behind the same proxy got {bystander} for a bad token (expected 401)")
    if valid != 200:
        failures.append(f"a valid token from the flooder's address got {valid}")


def check_capacity(proxy, stats_port, admin, failures):
    for index in range(10):
        status, payload = proxy.request("POST", "/api/agents", admin, {
            "name": f"Agent {index}", "sector": "billing", "max_concurrent": 3, "channel_capacity": {"voice": 1}})
        if status != 201:
            failures.append(f"creating an agent: {status} {payload}")
            return
    before = sessions_per_node(stats_port)
    stop, errors = threading.Event(), []

    def worker():
        rng, active = random.Random(), []
        while not stop.is_set():
            if active and rng.random() < 0.45:
                status, payload = proxy.request("POST", f"/api/calls/{active.pop()}/complete", admin, {
                    "outcome": "successful", "resolved": True, "satisfaction": 4, "handling_time_seconds": 60})
            else:
                status, payload = proxy.request("POST", "/api/calls", admin,
                                                {"sector": "billing", "channel": rng.choice(["voice", "webchat"])})
                if status == 201 and payload["data"]["status"] == "active":
                    active.append(payload["data"]["id"])
            if status >= 500:
                errors.append((status, payload))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(5)
    stop.set()
    for thread in threads:
        thread.join()
    after = sessions_per_node(stats_port)
    spread = {node: after[node] - before.get(node, 0) for node in after}
    base = f"http://127.0.0.1:{proxy.port}"
    agents, active, problems = harness.check_loads(base, admin)
    print(f"   calls over both nodes for 5 s: requests per node {spread}, {len(active)} active at the end, "
          f"{len(problems)} capacity problems")
    failures += [f"5xx under load: {error}" for error in errors[:5]]
    failures += problems
    if min(spread.values()) < 50:
        failures.append(f"the load did not reach both nodes: {spread}")


def check_stream(proxy, admin, failures):
    socket = websocket.create_connection(f"ws://127.0.0.1:{proxy.port}/api/events/stream",
                                         header=[f"Authorization: Bearer {admin}"], timeout=10)
    try:
        ready = json.loads(socket.recv())
        if ready.get("type") != "ready":
            failures.append(f"the stream through the proxy began with {ready}")
            return
        created = []
        for index in range(4):  # round robin: calls made on both nodes
            status, payload = proxy.request("POST", "/api/calls", admin, {"sector": "billing", "external_ref": f"stream-{index}"})
            if status == 201:
                created.append(payload["data"]["id"])
        seen, deadline = set(), time.time() + 10
        while time.time() < deadline and not set(created) <= seen:
            message = json.loads(socket.recv())
            if message.get("type") == "call.created":
                seen.add(message["data"].get("call_id") or message["data"].get("id"))
        print(f"   the stream through the proxy: {len(seen & set(created))} of {len(created)} calls seen")
        if not set(created) <= seen:
            failures.append(f"the stream through the proxy missed calls: {set(created) - seen}")
    finally:
        socket.close()


def check_sigterm(proxy, nodes, admin, failures):
    stop = threading.Event()
    acknowledged, exhausted, lock = {}, [], threading.Lock()

    def worker(name):
        count = 0
        while not stop.is_set():
            key, ref = str(uuid.uuid4()), f"{name}-{count}"
            count += 1
            for attempt in range(20):
                try:
                    status, payload = proxy.request("POST", "/api/calls", admin, {"sector": "billing", "external_ref": ref},
                                                    headers={"Idempotency-Key": key}, timeout=10)
                except (OSError, http.client.HTTPException):
                    status, payload = None, None
                if status == 201:
                    with lock:
                        acknowledged[key] = (ref, payload["data"]["id"])
                    break
                if status is not None and status < 500 and status != 429:
                    with lock:
                        exhausted.append((ref, status, payload))
                    break
                time.sleep(0.1)
            else:
                with lock:
                    exhausted.append((ref, status, payload))

    threads = [threading.Thread(target=worker, args=(f"w{index}",)) for index in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    process, _ = nodes[0]
    process.send_signal(signal.SIGTERM)
    exit_code = process.wait(timeout=60)
    time.sleep(3)
    stop.set()
    for thread in threads:
        thread.join()
    base = f"http://127.0.0.1:{proxy.port}"
    stored = {}
    for item in harness.get_all(base, admin, "/api/calls"):
        if (item.get("external_ref") or "").startswith("w"):
            stored.setdefault(item["external_ref"], []).append(item["id"])
    lost = [ref for ref, call_id in acknowledged.values() if call_id not in stored.get(ref, [])]
    doubled = [ref for ref, ids in stored.items() if len(ids) > 1]
    print(f"   SIGTERM of node1 under load (exit {exit_code}): {len(acknowledged)} calls acknowledged, "
          f"{len(lost)} lost, {len(doubled)} made twice, {len(exhausted)} requests that never succeeded")
    if exit_code != 0:
        failures.append(f"node1 exited {exit_code} after SIGTERM")
    failures += [f"acknowledged call {ref} is missing" for ref in lost[:5]]
    failures += [f"call {ref} was made {len(stored[ref])} times under one Idempotency-Key" for ref in doubled[:5]]
    failures += [f"a client could not get past {status}: {payload}" for _, status, payload in exhausted[:5]]
    _, _, problems = harness.check_loads(base, admin)
    failures += problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="switchboard-two-nodes-")
    env = harness.server_env(database_url=args.database_url, extra={
        "SWITCHBOARD_TRUSTED_PROXIES": "127.0.0.1", "SWITCHBOARD_SHUTDOWN_GRACE": "5"})
    env.pop("SWITCHBOARD_UNAUTHENTICATED_RATE_LIMIT", None)
    node_ports = [harness.free_port(), harness.free_port()]
    nodes, haproxy = [], None
    tenant = f"floor-{random.randrange(10**9)}"
    admin = harness.mint(tenant, "supervisor", role="admin")
    failures = []
    try:
        for index, port in enumerate(node_ports):
            nodes.append(harness.start(env, port, os.path.join(workdir, f"node{index + 1}.log")))
        listen_port, stats_port = harness.free_port(), harness.free_port()
        haproxy, proxy = start_haproxy(listen_port, node_ports, stats_port, os.path.join(workdir, "haproxy.log"))
        print(f"== two nodes behind HAProxy ({os.path.relpath(CONFIG, harness.ROOT)}); logs in {workdir}")
        check_sign_ins(proxy, tenant, failures)
        check_bad_tokens(proxy, tenant, failures)
        check_capacity(proxy, stats_port, admin, failures)
        check_stream(proxy, admin, failures)
        check_sigterm(proxy, nodes, admin, failures)
    finally:
        if haproxy:
            haproxy.terminate()
            haproxy.wait(timeout=10)
        for process, _ in nodes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
    harness.report("two nodes behind a proxy", failures, "all checks passed")


if __name__ == "__main__":
    main()
