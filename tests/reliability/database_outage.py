"""PostgreSQL outage: clients create and complete calls while PostgreSQL is stopped for 10 s and started again.
During the outage every request is answered within 2 s with a 503 envelope (no hang, no 500, no driver text) and
/health answers 503; within 5 s of PostgreSQL's return calls succeed again with no restart; afterwards every
acknowledged call is in its acknowledged state and loads equal active calls.

The script runs its own PostgreSQL 15 cluster (`outage`, on port 5440) so that stopping it disturbs nothing else.
Needs root and Debian's postgresql package (as CI has).

    python3 tests/reliability/database_outage.py [--outage 10]
"""
import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402

CLUSTER, PORT = "outage", 5440
URL = f"postgres://switchboard:switchboard@127.0.0.1:{PORT}/switchboard_outage"


def cluster(action):
    subprocess.run(["pg_ctlcluster", "15", CLUSTER, action] + (["-m", "fast"] if action == "stop" else []),
                   check=True, capture_output=True)


def prepare_cluster():
    listed = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout
    if not any(line.split()[:2] == ["15", CLUSTER] for line in listed.splitlines()):
        subprocess.run(["pg_createcluster", "15", CLUSTER, "--port", str(PORT)], check=True, capture_output=True)
    subprocess.run(["sed", "-i", "s/^#\\?listen_addresses.*/listen_addresses = '127.0.0.1'/",
                    f"/etc/postgresql/15/{CLUSTER}/postgresql.conf"], check=True)
    if "online" not in subprocess.run(["pg_lsclusters", "-h", "15", CLUSTER], capture_output=True, text=True).stdout:
        cluster("start")
    sql = ("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'switchboard') THEN "
           "CREATE ROLE switchboard LOGIN CREATEDB PASSWORD 'switchboard'; END IF; END $$;\n"
           "DROP DATABASE IF EXISTS switchboard_outage;\nCREATE DATABASE switchboard_outage OWNER switchboard;\n")
    subprocess.run(["su", "postgres", "-c", f"psql -qAt -p {PORT}"], input=sql, text=True, check=True,
                   capture_output=True)


class Client:
    def __init__(self, port, token_value):
        self.port = port
        self.headers = {"Authorization": f"Bearer {token_value}", "Content-Type": "application/json"}
        self.connection = None
        self.log = []           # (started_at, seconds, status, error text)
        self.acknowledged = {}  # call id -> state
        self.gone = []          # transport failures (the process must stay up: there should be none)

    def send(self, method, path, body):
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        started = time.time()
        self.connection.request(method, path, json.dumps(body), self.headers)
        response = self.connection.getresponse()
        payload = json.loads(response.read() or b"null")
        self.log.append((started, time.time() - started, response.status,
                         payload.get("error", "") if isinstance(payload, dict) else ""))
        return response.status, payload

    def run(self, stop):
        rng = random.Random()
        active = []
        while not stop.is_set():
            try:
                if active and rng.random() < 0.45:
                    call_id = active.pop(rng.randrange(len(active)))
                    status, _ = self.send("POST", f"/api/calls/{call_id}/complete",
                                          {"outcome": "successful", "resolved": True, "handling_time_seconds": 30})
                    if status == 200:
                        self.acknowledged[call_id] = "completed"
                    elif status == 503:
                        active.append(call_id)  # try again later
                else:
                    status, payload = self.send("POST", "/api/calls", {"sector": "billing"})
                    if status == 201:
                        self.acknowledged[payload["data"]["id"]] = payload["data"]["status"]
                        if payload["data"]["status"] == "active":
                            active.append(payload["data"]["id"])
            except (OSError, http.client.HTTPException) as error:
                self.gone.append(repr(error))
                self.connection = None
            time.sleep(0.01)


def health_during(port, stop, results):
    while not stop.is_set():
        started = time.time()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/health")
            response = connection.getresponse()
            body = response.read().decode()
            status = response.status if response.status != 503 or "database unreachable" in body else f"503 {body}"
            results.append((started, time.time() - started, status))
        except OSError as error:
            results.append((started, time.time() - started, repr(error)))
        time.sleep(0.25)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--outage", type=float, default=10)
    args = parser.parse_args()
    prepare_cluster()
    workdir = tempfile.mkdtemp(prefix="switchboard-outage-")
    env = harness.server_env(database_url=URL)
    port = harness.free_port()
    process, base = harness.start(env, port, os.path.join(workdir, "server.log"))
    # A second process on the same database: after the outage, it must hear the first one's changes again
    # (its LISTEN connection re-subscribed).
    other_port = harness.free_port()
    other, other_base = harness.start(env, other_port, os.path.join(workdir, "other.log"))
    failures = []
    try:
        token_value = harness.token(env, f"outage-{random.randrange(10**9)}")
        for index in range(10):
            assert harness.call(base, token_value, "POST", "/api/agents",
                               {"name": f"Agent {index}", "sector": "billing", "max_concurrent": 10})[0] == 201

        stop = threading.Event()
        clients = [Client(port, token_value) for _ in range(4)]
        health = []
        threads = [threading.Thread(target=client.run, args=(stop,)) for client in clients]
        threads.append(threading.Thread(target=health_during, args=(port, stop, health)))
        for thread in threads:
            thread.start()
        time.sleep(3)
        down_at = time.time()
        cluster("stop")
        time.sleep(args.outage)
        up_at = time.time()
        cluster("start")
        deadline = up_at + 20
        recovered_at = None
        while time.time() < deadline and recovered_at is None:
            time.sleep(0.1)
            recent = [entry for client in clients for entry in client.log if entry[0] > up_at and entry[2] in (200, 201)]
            if recent:
                recovered_at = min(entry[0] + entry[1] for entry in recent)
        time.sleep(2)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

        if process.poll() is not None:
            failures.append(f"the process died (exit {process.returncode})")
        during = [entry for client in clients for entry in client.log if down_at + 0.5 < entry[0] < up_at - 0.5]
        slow = [entry for entry in during if entry[1] > 2]
        wrong = [entry for entry in during if entry[2] not in (503, 200, 201)]
        leaky = [entry for entry in during if any(word in entry[3] for word in ("PSQL", "Postgres", "errno", "5440"))]
        health_down = [entry for entry in health if down_at + 1 < entry[0] < up_at - 0.5]
        print(f"outage {args.outage:.0f} s: {len(during)} requests during it, statuses "
              f"{sorted({entry[2] for entry in during})}, slowest {max((entry[1] for entry in during), default=0):.2f} s; "
              f"/health during it {sorted({str(entry[2]) for entry in health_down})}; calls succeed again "
              f"{(recovered_at - up_at) if recovered_at else float('nan'):.1f} s after PostgreSQL returned")
        if not during:
            failures.append("no request was made during the outage")
        if slow:
            failures.append(f"{len(slow)} requests took over 2 s during the outage (slowest {max(e[1] for e in slow):.1f} s)")
        if wrong:
            failures.append(f"unexpected statuses during the outage: {sorted({e[2] for e in wrong})}")
        if leaky:
            failures.append(f"driver details in answers: {leaky[0][3]}")
        if not health_down or any(entry[2] != 503 for entry in health_down):
            failures.append(f"/health during the outage: {[entry[2] for entry in health_down][:5]}")
        if recovered_at is None or recovered_at - up_at > 5:
            failures.append("calls did not succeed within 5 s of PostgreSQL's return")
        for client in clients:
            if client.gone:
                failures.append(f"a client lost its connection: {client.gone[0]}")
                break

        # The second process hears the first one again: an agent created through the first is routed to by the
        # second at once (its book is dropped by the NOTIFY), not after the cache's TTL. A sector of its own, so
        # that no queued call takes the new agent's capacity first.
        probe_sector = {"sector": "outage-check"}
        assert harness.call(other_base, token_value, "POST", "/api/routing/route", probe_sector)[0] == 200
        status, star = harness.call(base, token_value, "POST", "/api/agents",
                                   {"name": "Star", "sector": "outage-check", "max_concurrent": 10})
        heard_after = None
        started = time.time()
        route = None
        while status == 201 and time.time() - started < 5:
            _, route = harness.call(other_base, token_value, "POST", "/api/routing/route", probe_sector)
            if route["data"]["agent_id"] == star["data"]["id"]:
                heard_after = time.time() - started
                break
            time.sleep(0.05)
        print(f"after the outage, the other process routed to an agent created through this one in "
              f"{heard_after and round(heard_after, 2)} s")
        if heard_after is None or heard_after > 2:
            failures.append(f"the second process did not hear a change after the outage (LISTEN not re-subscribed): "
                            f"creating the agent answered {status}; the other process routes to "
                            f"{route and route['data'].get('agent_id')} (score {route and route['data'].get('score')})")
        if other.poll() is not None:
            failures.append("the second process died")

        # Background work resumes: the aggregator runs cleanly on the database that came back.
        status, run = harness.call(base, token_value, "POST", "/api/system/aggregator/run")
        if status != 200 or run["data"].get("last_error"):
            failures.append(f"the aggregator after the outage: {status} {run}")

        stored = {item["id"]: item["status"] for item in harness.get_all(base, token_value, "/api/calls")}
        for client in clients:
            for call_id, state in client.acknowledged.items():
                allowed = {"completed"} if state == "completed" else {state, "active", "completed"}
                if stored.get(call_id) not in allowed:
                    failures.append(f"call {call_id} was acknowledged {state} but is {stored.get(call_id)}")
        _, _, problems = harness.check_loads(base, token_value)
        failures += problems
    finally:
        for server in (process, other):
            server.terminate()
            server.wait(timeout=30)
        cluster("stop")
    harness.report("database outage", failures, "the outage was survived")


if __name__ == "__main__":
    main()
