"""Runs one version of one bpbroker extension written in Python, in its own process.

The broker starts this script with Python 3 and speaks its extension worker protocol with it (see
src/extensions/protocol.ts) as JSON lines: messages from the broker on stdin, messages to it on this process's
original stdout. The extension's own output (print) goes to stderr, so it cannot break the protocol.

A module is the original broker's shape: each public function defined in it is a method called with one
argument, the request handler `rh` (rh.qs, rh.RequestingHost(), rh.status, rh.status_message, rh.data).
Calls run in threads, as the original broker ran them; the broker ends this process when a call runs out of
time, when the version is replaced, and when it stops.
"""

import asyncio
import inspect
import json
import linecache
import os
import sys
import threading
import traceback
import types

MAX_MESSAGE = 1000
MAX_STACK = 16384

# The protocol keeps the real stdout; whatever the extension prints goes to stderr.
_protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", newline="\n")
os.dup2(2, 1)
sys.stdout = sys.stderr
# This script's own folder is not a place extensions import from.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

_send_lock = threading.Lock()
_namespace = ""
_methods = {}
_pending_registry = {}
_pending_lock = threading.Lock()
_next_registry_id = [1]


def _post(msg):
    line = json.dumps(msg, ensure_ascii=True, default=repr) + "\n"
    with _send_lock:
        try:
            _protocol.write(line)
            _protocol.flush()
        except (BrokenPipeError, ValueError):
            os._exit(0)  # the broker is gone


def _cut(text, limit):
    return text if len(text) <= limit else text[:limit] + "..."


def _describe(exc):
    """One line for the status message (`KeyError: 'data'`), and the traceback without this runner's frames."""
    if isinstance(exc, _AnswerError):
        return _cut(str(exc), MAX_MESSAGE), None
    message = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    stack = "".join(traceback.format_exception(type(exc), exc, tb))
    return _cut(message, MAX_MESSAGE), _cut(stack, MAX_STACK)


class _AnswerError(Exception):
    """A broken answer (rh.status out of range, data that cannot be sent): its message is sent as it is."""


class RegistryError(Exception):
    """A registry call refused: `code` is the broker's error code (ALREADY_EXISTS, FAILED_PRECONDITION, ...);
    `revision` is the entry's current revision when a compare-and-swap failed (0: it does not exist)."""

    def __init__(self, code, message, revision=None):
        Exception.__init__(self, message)
        self.code = code
        self.message = message
        self.revision = revision


def _entry(wire):
    if wire is None:
        return None
    out = {
        "data": json.loads(wire["json"]),
        "revision": wire["modRevision"],
        "create_revision": wire["createRevision"],
        "last_write_ip": wire["lastWriteIp"],
        "last_write_ts": wire["lastWriteTs"],
    }
    if wire.get("ttl") is not None:
        out["ttl"] = wire["ttl"]
    return out


def _data_text(data):
    return data if data is None or isinstance(data, str) else json.dumps(data)


class Registry:
    """rh.registry: the broker's registry (namespace `services`). Calls block until the broker answers; writes
    are stamped with the caller's address and durable when they return. Failures raise RegistryError."""

    def __init__(self, host, call_id):
        self._host = host
        self._call_id = call_id

    def _ask(self, call):
        done = threading.Event()
        box = {}
        with _pending_lock:
            rid = _next_registry_id[0]
            _next_registry_id[0] += 1
            _pending_registry[rid] = (done, box)
        _post({"type": "registry", "id": rid, "callId": self._call_id, "requestingHost": self._host, "call": call})
        done.wait()
        reply = box["reply"]
        if not reply.get("ok"):
            err = reply.get("error") or {}
            raise RegistryError(err.get("code", "INTERNAL"), err.get("message", "Registry error"), err.get("revision"))
        return reply.get("value")

    def get(self, name):
        """The entry's data (a dict with last_write_ip and last_write_ts), or None when there is none."""
        value = self._ask({"op": "get", "name": name})
        return None if value is None else json.loads(value)

    def _write(self, op, name, data, ttl, if_revision):
        call = {"op": op, "name": name, "data": _data_text(data), "ttl": ttl, "ifRevision": if_revision}
        return json.loads(self._ask(call))

    def register(self, name, data, ttl=None, if_revision=None):
        return self._write("register", name, data, ttl, if_revision)

    def replace(self, name, data, ttl=None, if_revision=None):
        return self._write("replace", name, data, ttl, if_revision)

    def update(self, name, data, ttl=None, if_revision=None):
        return self._write("update", name, data, ttl, if_revision)

    def delete(self, name, if_revision=None):
        """True when the entry existed."""
        return self._ask({"op": "delete", "name": name, "ifRevision": if_revision}) == "true"

    def entry(self, name):
        """{data, revision, create_revision, ttl?, last_write_ip, last_write_ts}, or None."""
        return _entry(self._ask({"op": "entry", "name": name}))

    def keep_alive(self, name):
        return _entry(self._ask({"op": "keepAlive", "name": name}))

    def watch(self, name=None, prefix=None, after_revision=None, wait_secs=None):
        """One long-poll: {"events": [{type, name, revision, data?}], "revision"}; see extensions/README.md."""
        call = {"op": "watch", "name": name, "prefix": prefix, "afterRevision": after_revision, "waitSecs": wait_secs}
        batch = self._ask(call)
        events = []
        for e in batch["events"]:
            event = {"type": e["type"], "name": e["name"], "revision": e["revision"]}
            if e.get("json") is not None:
                event["data"] = json.loads(e["json"])
            events.append(event)
        return {"events": events, "revision": batch["revision"]}


class Log:
    """rh.log: lines in the broker's log, tagged with the namespace: rh.log.info("added", host=name)."""

    def _at(level):
        def log(self, message, **fields):
            _post({"type": "log", "level": level, "message": str(message), "fields": fields or None})

        return log

    debug = _at("debug")
    info = _at("info")
    warn = _at("warn")
    warning = warn
    error = _at("error")
    del _at


class RequestHandler:
    """The one argument of every method: the request, the answer being built, and the broker."""

    def __init__(self, msg):
        self.namespace = _namespace
        self.method = msg["method"]
        self.qs = dict(msg["qs"])
        self.config = msg.get("config") or {}
        self._host = msg["requestingHost"]
        self.status = 200
        self.status_message = ""
        self.data = None
        self.content_type = "Application/json"
        self.registry = Registry(self._host, msg["id"])
        self.log = Log()

    def RequestingHost(self):  # noqa: N802 - the original broker's name
        return self._host

    requesting_host = RequestingHost

    # The names JavaScript extensions use, for authors who write both.
    statusMessage = property(lambda self: self.status_message, lambda self, v: setattr(self, "status_message", v))  # noqa: N815
    contentType = property(lambda self: self.content_type, lambda self, v: setattr(self, "content_type", v))  # noqa: N815

    def _wire(self, returned):
        status = self.status
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
            raise _AnswerError(
                "Extension %s.%s set rh.status to %r: it must be an integer from 200 to 599" % (_namespace, self.method, status)
            )
        data = returned if self.data is None else self.data
        if data is None:
            body = ""
        elif isinstance(data, str):
            body = data
        elif isinstance(data, (bytes, bytearray)):
            try:
                body = bytes(data).decode("utf-8")
            except UnicodeDecodeError:
                raise _AnswerError("Extension %s.%s set rh.data to bytes that are not UTF-8 text" % (_namespace, self.method))
        else:
            try:
                body = json.dumps(data, separators=(",", ":"))
            except (TypeError, ValueError) as exc:
                raise _AnswerError("Extension %s.%s set rh.data to a value JSON cannot hold: %s" % (_namespace, self.method, exc))
        return {
            "status": status,
            "statusMessage": str(self.status_message or ""),
            "contentType": str(self.content_type or "Application/json"),
            "body": body,
        }


def _compat_module():
    """`import bpbroker` as old modules did: bpbroker.config.rlock serialises calls within this version."""
    mod = types.ModuleType("bpbroker")
    mod.config = types.SimpleNamespace(rlock=threading.RLock())
    mod.RegistryError = RegistryError
    mod.RequestHandler = RequestHandler
    return mod


def _load(init):
    global _namespace
    _namespace = init["namespace"]
    path = os.path.abspath(init["file"])
    code = init["code"]
    # Tracebacks show this version's lines, even after the file on disk has changed.
    linecache.cache[path] = (len(code), None, code.splitlines(True), path)
    # Modules beside the file can be imported; the standard library and installed packages come first.
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.append(folder)
    sys.modules.setdefault("bpbroker", _compat_module())
    mod = types.ModuleType(_namespace)
    mod.__file__ = path
    try:
        compiled = compile(code, path, "exec", dont_inherit=True)
        sys.modules.setdefault(_namespace, mod)
        exec(compiled, mod.__dict__)
    except BaseException as exc:  # noqa: BLE001 - whatever the import raises is the reason it does not load
        message, stack = _describe(exc)
        if isinstance(exc, SyntaxError):
            stack = "".join(traceback.format_exception_only(type(exc), exc))
        _post({"type": "loadError", "message": _cut((stack or message).rstrip(), MAX_STACK)})
        return
    # Methods are the functions the module defines itself; imported ones (json.dumps, subprocess.call) are not.
    for name, value in list(vars(mod).items()):
        if isinstance(value, types.FunctionType) and value.__module__ == mod.__name__:
            _methods[name] = value
    _post({"type": "ready", "methods": [m for m in _methods if not m.startswith("_")]})


def _call(msg):
    call_id = msg["id"]
    method = msg["method"]
    try:
        fn = _methods.get(method)
        if fn is None or method.startswith("_"):
            raise _AnswerError("No method %s" % method)
        rh = RequestHandler(msg)
        returned = fn(rh)
        if inspect.iscoroutine(returned):
            returned = asyncio.run(returned)
        _post({"type": "result", "id": call_id, "response": rh._wire(returned)})
    except BaseException as exc:  # noqa: BLE001 - every failure answers 500 and the process goes on
        message, stack = _describe(exc)
        _post({"type": "failure", "id": call_id, "message": message, "stack": stack})


def _registry_reply(msg):
    with _pending_lock:
        waiting = _pending_registry.pop(msg.get("id"), None)
    if waiting is not None:
        done, box = waiting
        box["reply"] = msg
        done.set()


def _stray(args):
    """A thread the extension started raised: log it; the calls of other clients go on."""
    message, stack = _describe(args.exc_value) if args.exc_value is not None else (str(args.exc_type), None)
    _post({"type": "log", "level": "error", "message": "uncaught exception in extension " + _namespace, "fields": {"error": message, "stack": stack}})


def main():
    threading.excepthook = _stray
    for raw in sys.stdin.buffer:
        msg = json.loads(raw.decode("utf-8"))
        kind = msg.get("type")
        if kind == "init":
            _load(msg["init"])
        elif kind == "call":
            threading.Thread(target=_call, args=(msg,), daemon=True, name="call-%s" % msg["id"]).start()
        elif kind == "registryReply":
            _registry_reply(msg)
    # The broker closed the pipe: it stopped or let this version go. Calls still running end with the process.
    os._exit(0)


if __name__ == "__main__":
    main()
