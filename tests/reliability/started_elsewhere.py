"""The binary serves the dashboard and /openapi.yaml wherever it is started from, and a fresh start logs one line
about migrations: started from another folder (found above the executable), a copy of the binary elsewhere with
SWITCHBOARD_ASSETS_DIR (and without it: a warning, the API still up), a wrong SWITCHBOARD_ASSETS_DIR (exit 1).

    python3 tests/reliability/started_elsewhere.py
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402


def status_of(url):
    try:
        return urllib.request.urlopen(url, timeout=5).status
    except urllib.error.HTTPError as error:
        return error.code


def serve(binary, cwd, env):
    port = harness.free_port()
    log_path = os.path.join(cwd, f"server-{port}.log")
    log = open(log_path, "w")
    process = subprocess.Popen([binary, "serve", "--port", str(port)], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if process.poll() is not None:
            break
        try:
            urllib.request.urlopen(base + "/health", timeout=1)
            return process, base, log_path
        except Exception:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start:\n" + open(log_path).read())


def main():
    failures = []
    elsewhere = tempfile.mkdtemp(prefix="switchboard-elsewhere-")
    env = harness.server_env(sqlite_path=os.path.join(elsewhere, "fresh.sqlite"), extra={"LOG_LEVEL": "info"})

    process, base, log_path = serve(harness.binary(), elsewhere, env)
    try:
        for path in ["/", "/openapi.yaml", "/css/app.css"]:
            if status_of(base + path) != 200:
                failures.append(f"started from {elsewhere}: {path} answered {status_of(base + path)}")
    finally:
        process.terminate()
        process.wait(timeout=30)
    migration_lines = [line for line in open(log_path) if "igrat" in line]
    if len(migration_lines) != 1:
        failures.append(f"a fresh start logged {len(migration_lines)} lines about migrations:\n" + "".join(migration_lines[:30]))

    copied = os.path.join(elsewhere, "bin", "switchboard")
    os.makedirs(os.path.dirname(copied))
    shutil.copy2(harness.binary(), copied)
    process, base, log_path = serve(copied, elsewhere, dict(env, SWITCHBOARD_ASSETS_DIR=harness.ROOT))
    try:
        for path in ["/", "/openapi.yaml"]:
            if status_of(base + path) != 200:
                failures.append(f"a copied binary with SWITCHBOARD_ASSETS_DIR: {path} answered {status_of(base + path)}")
    finally:
        process.terminate()
        process.wait(timeout=30)

    process, base, log_path = serve(copied, elsewhere, env)
    try:
        if status_of(base + "/openapi.yaml") != 404 or status_of(base + "/health") != 200:
            failures.append("a copied binary without its assets should still serve the API and 404 the document")
        if "SWITCHBOARD_ASSETS_DIR" not in open(log_path).read():
            failures.append("a copied binary without its assets should say how to point at them")
    finally:
        process.terminate()
        process.wait(timeout=30)

    wrong = subprocess.run([copied, "serve", "--port", str(harness.free_port())], cwd=elsewhere,
                           env=dict(env, SWITCHBOARD_ASSETS_DIR=elsewhere), capture_output=True, text=True, timeout=60)
    if wrong.returncode != 1 or "SWITCHBOARD_ASSETS_DIR" not in wrong.stderr:
        failures.append(f"a wrong SWITCHBOARD_ASSETS_DIR should stop start-up naming it: {wrong.returncode} {wrong.stderr!r}")

    shutil.rmtree(elsewhere, ignore_errors=True)
    harness.report("started elsewhere", failures, "the paths held from another working directory")


if __name__ == "__main__":
    main()
