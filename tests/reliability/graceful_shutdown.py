"""Graceful shutdown: clients create and complete calls on keep-alive connections while the server gets SIGTERM.
The server must exit 0 within its grace, answer every request it had started reading, and have done nothing it
did not answer: after a restart, every acknowledged call is in its acknowledged state, no call exists whose
creation went unanswered, no completion happened that went unanswered, and loads equal active calls.

    python3 tests/reliability/graceful_shutdown.py [--database-url postgres://…] [--clients 8] [--seconds 3]
"""
import argparse
import http.client
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402


class Client:
    """One keep-alive connection; remembers what it was told and what went unanswered."""

    def __init__(self, port, token_value, tag):
        self.port, self.tag = port, tag
        self.headers = {"Authorization": f"Bearer {token_value}", "Content-Type": "application/json"}
        self.connection = None
        self.acknowledged = {}      # external_ref -> "active" | "queued" | "completed"
        self.ids = {}               # external_ref -> call id
        self.unanswered = []        # (kind, external_ref) sent but never answered
        self.errors = []            # answers that should not happen (5xx)

    def send(self, method, path, body):
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.connection.request(method, path, json.dumps(body), self.headers)
        response = self.connection.getresponse()
        payload = json.loads(response.read() or b"null")
        if response.getheader("connection", "").lower() == "close":
            self.connection.close()
            self.connection = None
        return response.status, payload

    def run(self, stop):
        rng = random.Random()
        active = []
        sequence = 0
        while not stop.is_set():
            if active and rng.random() < 0.45:
                ref = active.pop(rng.randrange(len(active)))
                kind, path, body = "complete", f"/api/calls/{self.ids[ref]}/complete", \
                    {"outcome": "successful", "resolved": True, "handling_time_seconds": 30}
            else:
                sequence += 1
                ref = f"{self.tag}-{sequence}"
                kind, path, body = "create", "/api/calls", {"sector": "billing", "external_ref": ref}
            try:
                status, payload = self.send("POST", path, body)
            except ConnectionRefusedError:
                return  # the listener is closed: nothing more can be sent
            except (OSError, http.client.HTTPException):
                # Sent on a connection the server closed as idle, or the server is gone: unknown until checked.
                self.unanswered.append((kind, ref))
                self.connection = None
                continue
            if status >= 500:
                self.errors.append(f"{kind} {ref}: {status} {payload}")
            elif kind == "create" and status == 201:
                self.ids[ref] = payload["data"]["id"]
                self.acknowledged[ref] = payload["data"]["status"]
                if payload["data"]["status"] == "active":
                    active.append(ref)
            elif kind == "complete" and status == 200:
                self.acknowledged[ref] = "completed"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="switchboard-sigterm-")
    sqlite_path = None if args.database_url else os.path.join(workdir, "sigterm.sqlite")
    env = harness.server_env(sqlite_path=sqlite_path, database_url=args.database_url,
                            extra={"SWITCHBOARD_SHUTDOWN_GRACE": "10"})
    label = "PostgreSQL" if args.database_url else "SQLite"
    port = harness.free_port()
    log_path = os.path.join(workdir, "server.log")
    process, base = harness.start(env, port, log_path)
    tenant = f"sigterm-{random.randrange(10**9)}"
    token_value = harness.token(env, tenant)
    harness.seed_agents(base, token_value)

    stop = threading.Event()
    clients = [Client(port, token_value, f"c{index}") for index in range(args.clients)]
    threads = [threading.Thread(target=client.run, args=(stop,)) for client in clients]
    for thread in threads:
        thread.start()
    time.sleep(args.seconds)
    signalled = time.time()
    process.send_signal(signal.SIGTERM)
    exit_code = process.wait(timeout=60)
    stopped_after = time.time() - signalled
    stop.set()
    for thread in threads:
        thread.join(timeout=60)

    failures = []
    if exit_code != 0:
        failures.append(f"exit status {exit_code} after SIGTERM (expected 0)")
    if stopped_after > 15:
        failures.append(f"took {stopped_after:.1f} s to stop (grace 10 s)")
    log = open(log_path).read()
    if "Fatal error" in log or "Unexpectedly found nil" in log:
        failures.append("the server crashed while stopping:\n" + log[-3000:])
    for client in clients:
        failures += client.errors

    process, base = harness.start(env, port, log_path)
    try:
        stored = {}
        for item in harness.get_all(base, token_value, "/api/calls"):
            stored[item["external_ref"]] = item["status"]
        acknowledged = {ref: state for client in clients for ref, state in client.acknowledged.items()}
        for ref, state in acknowledged.items():
            allowed = {"completed"} if state == "completed" else {state, "active", "completed"}
            if stored.get(ref) not in allowed:
                failures.append(f"call {ref} was acknowledged {state} but is {stored.get(ref)}")
        unanswered = [item for client in clients for item in client.unanswered]
        for kind, ref in unanswered:
            if kind == "create" and ref in stored:
                failures.append(f"call {ref} was created but its client got no answer")
            if kind == "complete" and stored.get(ref) == "completed" and acknowledged.get(ref) != "completed":
                failures.append(f"call {ref} was completed but its client got no answer")
        _, _, problems = harness.check_loads(base, token_value)
        failures += problems
        print(f"{label}: {len(acknowledged)} calls acknowledged by {args.clients} clients; SIGTERM after "
              f"{args.seconds:.0f} s, exit {exit_code} in {stopped_after:.1f} s; {len(unanswered)} requests sent on "
              f"connections already closed, none of them carried out")
    finally:
        process.terminate()
        process.wait(timeout=30)

    harness.report(f"graceful shutdown ({label})", failures, "graceful shutdown held")


if __name__ == "__main__":
    main()
