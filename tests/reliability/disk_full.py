"""A full disk (SQLite): the database lives on a small tmpfs that a filler file then fills to the last byte. Writes
that no longer fit must fail with a 503 that names no path (those that fit in space SQLite already holds succeed,
durably), reads keep working, the process stays up, and writes succeed again once
the filler is removed; afterwards every acknowledged call is there and loads equal active calls.

Uses a tmpfs mounted for the run (needs root, as CI has).

    python3 tests/reliability/disk_full.py
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402


def fill(path):
    """Writes zeros until the filesystem refuses; returns the bytes written."""
    written = 0
    chunk = b"\0" * (1 << 16)
    with open(path, "wb", buffering=0) as filler:
        while True:
            try:
                written += filler.write(chunk)
            except OSError:
                break
        try:
            while True:
                written += filler.write(b"\0")
        except OSError:
            pass
    return written


def main():
    mount = tempfile.mkdtemp(prefix="switchboard-disk-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mount], check=True)
    workdir = tempfile.mkdtemp(prefix="switchboard-disk-log-")
    sqlite_path = os.path.join(mount, "full.sqlite")
    env = harness.server_env(sqlite_path=sqlite_path)
    port = harness.free_port()
    process = None
    failures = []
    try:
        process, base = harness.start(env, port, os.path.join(workdir, "server.log"))
        token_value = harness.token(env, f"disk-{random.randrange(10**9)}")
        for index in range(5):
            assert harness.call(base, token_value, "POST", "/api/agents",
                               {"name": f"Agent {index}", "sector": "billing", "max_concurrent": 50})[0] == 201
        acknowledged = {}

        def create_calls(count):
            statuses = {}
            for _ in range(count):
                status, body = harness.call(base, token_value, "POST", "/api/calls", {"sector": "billing"})
                statuses[status] = statuses.get(status, 0) + 1
                if status == 201:
                    acknowledged[body["data"]["id"]] = body["data"]["status"]
                elif status >= 500 and (mount in json.dumps(body) or "/" in body.get("error", "")):
                    failures.append(f"an answer names a path: {body}")
            return statuses

        before = create_calls(20)
        filler = os.path.join(mount, "filler")
        filled = fill(filler)

        # Until ten are refused: what fits in space SQLite already holds (WAL frames a checkpoint made reusable, more
        # of them the more the migrations wrote) succeeds first, durably.
        during = {}
        for _ in range(300):
            for status, count in create_calls(10).items():
                during[status] = during.get(status, 0) + count
            if during.get(503, 0) >= 10:
                break
        team_status, team_body = harness.call(base, token_value, "POST", "/api/teams", {"name": "Full", "sector": "billing"})
        reads = [harness.call(base, token_value, "GET", path)[0] for path in ("/api/teams", "/api/agents", "/api/calls")]
        alive = process.poll() is None

        os.remove(filler)
        recovered_after = None
        started = time.time()
        while time.time() - started < 10:
            status, body = harness.call(base, token_value, "POST", "/api/calls", {"sector": "billing"})
            if status == 201:
                acknowledged[body["data"]["id"]] = body["data"]["status"]
                recovered_after = time.time() - started
                break
            time.sleep(0.2)
        after = create_calls(20)

        print(f"before: {before}; disk filled ({filled} bytes more); during: calls {during}, team {team_status}, "
              f"reads {reads}; after freeing: writes again in {recovered_after and round(recovered_after, 2)} s, {after}")
        # A write can still fit in space SQLite already holds (WAL frames that a checkpoint made reusable): it then
        # succeeds, durably. Every other write must be refused with 503.
        if not set(during) <= {201, 503} or during.get(503, 0) < 10:
            failures.append(f"call creations on a full disk answered {during} (expected 503s, or 201s that fit)")
        if team_status not in (201, 503):
            failures.append(f"a team creation on a full disk answered {team_status}: {team_body}")
        if reads != [200, 200, 200]:
            failures.append(f"reads on a full disk answered {reads}")
        if not alive or process.poll() is not None:
            failures.append("the process died")
        if recovered_after is None or set(after) != {201}:
            failures.append(f"writes did not recover after space returned: {after}")
        stored = {item["id"]: item["status"] for item in harness.get_all(base, token_value, "/api/calls")}
        for call_id, state in acknowledged.items():
            if stored.get(call_id) not in {state, "active"}:
                failures.append(f"call {call_id} was acknowledged {state} but is {stored.get(call_id)}")
        _, _, problems = harness.check_loads(base, token_value)
        failures += problems
        log = open(os.path.join(workdir, "server.log")).read()
        if "Fatal error" in log:
            failures.append("the server crashed:\n" + log[-2000:])
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        subprocess.run(["umount", mount])
    harness.report("disk full", failures, "the full disk was survived")


if __name__ == "__main__":
    main()
