"""Registers an OSSEC agent on the manager the broker runs on: the original broker's ossec.AddAgent, in Python 3.

    bpclient --bpbroker $MASTER:20443 --access-key "$KEY" execute --method ossec.AddAgent --data $(hostname)

answers "ID NAME IP KEY", the line the agent imports with `manage_agents -i`.

The keys file: config `ossec.client_keys`, else $OSSEC_CLIENT_KEYS, else $OSSEC_DIR/etc/client.keys (OSSEC_DIR
defaults to /var/ossec). Optional `ossec.restart_command`, e.g. ["/var/ossec/bin/ossec-control", "restart"], runs
after a successful add. It takes the keys file's lock as extensions/ossec.mjs does, so either can serve one manager.

What changed from the Python 2 original: open(..., "aw") is "a"; the host name check is anchored as it meant to
be (it searched for the literal text "a-z0-9-"); the next id is the highest id plus one (it sorted the lines as
text); the key comes from `secrets`; `bpbroker.config.rlock` (one process) became a lock file (the old and the
new version of a reloaded module, and manage_agents run by hand, all honour it).
"""
import os
import re
import secrets
import subprocess
import time

HOST_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,253}$", re.IGNORECASE)


def AddAgent(rh):
    """Add agent to local ossec manager and return key."""
    name = rh.qs.get("data", "")
    if not HOST_NAME.match(name):
        rh.status = 500
        rh.status_message = "Invalid source host name content"
        return
    ip = rh.RequestingHost()
    keys_file = _keys_file(rh.config)
    with _Lock(keys_file + ".lock"):
        client_keys = _read_lines(keys_file)
        # Make sure not already registered
        if any(line.split()[2:3] == [ip] for line in client_keys):
            rh.status = 500
            rh.status_message = "Unable to add requested host IP in use"
            return
        # Find next agent
        ids = [int(line.split()[0]) for line in client_keys if line.split()[0].isdigit()]
        agent_id = str(max(ids, default=0) + 1).zfill(3)
        # Generate key
        key = secrets.token_hex(32)
        entry = "%s %s %s %s" % (agent_id, name, ip, key)
        # Append to client_keys file (Python 2 accepted mode "aw"; Python 3 wants "a")
        fd = os.open(keys_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        with open(fd, "a") as f:
            f.write(entry + "\n")
    restart = rh.config.get("restart_command")
    if isinstance(restart, list) and restart:
        done = subprocess.run([str(a) for a in restart], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        if done.returncode != 0:
            rh.log.warn("ossec restart failed", code=done.returncode, output=done.stdout.decode(errors="replace"))
    rh.log.info("ossec agent added", name=name, ip=ip)
    # Export encoded key
    rh.data = entry


def _keys_file(config):
    if isinstance(config.get("client_keys"), str) and config["client_keys"]:
        return config["client_keys"]
    if os.environ.get("OSSEC_CLIENT_KEYS"):
        return os.environ["OSSEC_CLIENT_KEYS"]
    return os.path.join(os.environ.get("OSSEC_DIR") or "/var/ossec", "etc", "client.keys")


def _read_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [line for line in f.read().split("\n") if line.strip()]
    except FileNotFoundError:
        return []


class _Lock:
    """A lock file created exclusively; one left by a crash is taken over after 30 s."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        deadline = time.monotonic() + 10
        while True:
            try:
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
                return self
            except FileExistsError:
                try:
                    age = time.time() - os.stat(self.path).st_mtime
                except FileNotFoundError:
                    continue
                if age > 30:
                    _unlink(self.path)
                elif time.monotonic() > deadline:
                    raise RuntimeError("Keys file is locked: " + self.path)
                else:
                    time.sleep(0.02)

    def __exit__(self, *exc):
        _unlink(self.path)


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
