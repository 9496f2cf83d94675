"""An online backup under load: clients create and complete calls while `switchboard backup --to FILE` runs against
the live SQLite database. The copy must open, pass SQLite's integrity check, and hold every call acknowledged before
the backup started, in at least the state then acknowledged; the server must not have failed a request meanwhile.
Then the PostgreSQL refusal: `backup` with DATABASE_URL set exits non-zero and names pg_dump.

    python3 tests/reliability/backup_under_load.py [--clients 6] [--seconds 2]
"""
import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import http.client

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402


class Client:
    def __init__(self, port, token_value, tag):
        self.port, self.tag = port, tag
        self.headers = {"Authorization": f"Bearer {token_value}", "Content-Type": "application/json"}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.acknowledged = []   # (time the answer arrived, call id, status)
        self.errors = []

    def send(self, path, body):
        self.connection.request("POST", path, json.dumps(body), self.headers)
        response = self.connection.getresponse()
        return response.status, json.loads(response.read() or b"null")

    def run(self, stop):
        rng = random.Random()
        active = []
        while not stop.is_set():
            if active and rng.random() < 0.4:
                call_id = active.pop(rng.randrange(len(active)))
                status, payload = self.send(f"/api/calls/{call_id}/complete",
                                            {"outcome": "successful", "resolved": True, "handling_time_seconds": 30})
                if status == 200:
                    self.acknowledged.append((time.time(), call_id, "completed"))
            else:
                status, payload = self.send("/api/calls", {"sector": "billing"})
                if status == 201:
                    data = payload["data"]
                    self.acknowledged.append((time.time(), data["id"], data["status"]))
                    if data["status"] == "active":
                        active.append(data["id"])
            if status >= 500:
                self.errors.append(f"{status} {payload}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=2)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="switchboard-backup-")
    env = harness.server_env(sqlite_path=os.path.join(workdir, "live.sqlite"))
    port = harness.free_port()
    log_path = os.path.join(workdir, "server.log")
    process, base = harness.start(env, port, log_path)
    failures = []
    try:
        token_value = harness.token(env, f"backup-{random.randrange(10**9)}")
        harness.seed_agents(base, token_value)
        stop = threading.Event()
        clients = [Client(port, token_value, f"c{index}") for index in range(args.clients)]
        threads = [threading.Thread(target=client.run, args=(stop,)) for client in clients]
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        backup_path = os.path.join(workdir, "copy.sqlite")
        backup_started = time.time()
        backup = subprocess.run([harness.binary(), "backup", "--to", backup_path], cwd=harness.ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
        time.sleep(args.seconds / 2)   # load goes on after the copy
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        print(backup.stdout.strip())
        if backup.returncode != 0:
            failures.append(f"backup exited {backup.returncode}: {backup.stderr.strip()}")
        for client in clients:
            failures += client.errors

        before = {}
        for client in clients:
            for answered_at, call_id, status in client.acknowledged:
                if answered_at < backup_started:
                    before[call_id] = status if before.get(call_id) != "completed" else "completed"
        after = sum(1 for client in clients for answered_at, _, _ in client.acknowledged if answered_at > backup_started)
        if backup.returncode == 0:
            copy = sqlite3.connect(f"file:{backup_path}?mode=ro", uri=True)
            verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":
                failures.append(f"integrity check of the copy: {verdict}")
            stored = dict(copy.execute("SELECT id, status FROM calls").fetchall())
            # UUIDs may be stored as 16 bytes (SQLite) : compare on the textual form either way.
            stored = {(key if isinstance(key, str) else str(__import__("uuid").UUID(bytes=key))).lower(): value
                      for key, value in stored.items()}
            for call_id, status in before.items():
                found = stored.get(call_id.lower())
                allowed = {"completed"} if status == "completed" else {status, "active", "completed"}
                if found not in allowed:
                    failures.append(f"call {call_id} was acknowledged {status} before the backup but the copy has {found}")
            print(f"{len(before)} acknowledgements before the backup, all in the copy ({len(stored)} calls in it); "
                  f"{after} more answered after it started")
            if after == 0:
                failures.append("no request was answered after the backup started: the load did not overlap it")

        pg = subprocess.run([harness.binary(), "backup", "--to", os.path.join(workdir, "pg.dump")], cwd=harness.ROOT,
                            env=dict(env, DATABASE_URL="postgres://nobody:nothing@127.0.0.1:1/none"),
                            capture_output=True, text=True, timeout=60)
        if pg.returncode == 0 or "pg_dump" not in pg.stderr:
            failures.append(f"backup with PostgreSQL should refuse and name pg_dump: {pg.returncode} {pg.stderr!r}")
    finally:
        process.terminate()
        process.wait(timeout=30)
    harness.report("backup under load", failures, "the copy holds every call acknowledged before it began")


if __name__ == "__main__":
    main()
