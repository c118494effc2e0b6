"""test_tracing.py — W3C Trace Context through `inferd gateway` to `inferd serve`.

1. A request with a valid traceparent: the gateway's and the server's access-log lines carry
   the caller's trace_id; the gateway's parent_span_id is the caller's span; the server's
   parent_span_id is the span of the gateway attempt that reached it (named in the
   gateway's attempts array); every answer carries a traceparent naming its own span.
2. Without a traceparent: a fresh trace id, the same in both logs; no parent at the gateway.
3. Invalid traceparents (uppercase hex, version ff, all-zero ids, version 00 with an extra
   field, two headers) are ignored: a fresh trace, no parent. A future version with extra
   fields is read as 00.
4. The server alone: the same rules on its own front.
"""
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Gateway, Server, make_mlp, skip, wait_until, write_json  # noqa: E402

X = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4]}]}
TID = "4bf92f3577b34da6a3ce929d0e0e4736"
PID = "00f067aa0ba902b7"
TP_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def lines(path):
    try:
        with open(path) as f:
            return [json.loads(x) for x in f if x.strip()]
    except OSError:
        return []


def line_for(path, rid):
    """The access-log line of request id rid (written just after the answer: waits)."""
    found = []

    def look():
        found[:] = [x for x in lines(path) if x.get("request_id") == rid]
        return bool(found)
    wait_until(look, 10)
    return found[-1] if found else {}


def post(target, rid, headers):
    h = {"Content-Type": "application/json", "X-Request-Id": rid}
    h.update(headers)
    return target.request("POST", "/v2/models/mlp/infer", json.dumps(X), headers=h)


def answer_tp(r):
    m = TP_RE.match(r.headers.get("traceparent", ""))
    return m.groups() if m else (None, None, None)


def main():
    try:
        import onnx  # noqa: F401
    except ImportError:
        skip("python3-onnx is not installed")
    ck = Checker()
    root = tempfile.mkdtemp(prefix="inferd-trace-")
    models = os.path.join(root, "models")
    make_mlp(os.path.join(models, "mlp", "1", "model.onnx"), seed=0)
    slog, glog = os.path.join(root, "server.log"), os.path.join(root, "gateway.log")
    srv = Server(models, "--threads", "2", "--access-log", slog).start()
    gw = None
    try:
        chans = os.path.join(root, "channels.json")
        write_json(chans, [{"id": "s0", "base_url": "http://127.0.0.1:%d" % srv.port}])
        gw = Gateway(os.path.join(root, "gw.db"), "--channels", chans, "--access-log", glog,
                     "--threads", "2").start()
        ck.check(wait_until(lambda: post(gw, "warm", {}).status == 200, 20), "gateway routes to the server")

        # -- 1. a caller's trace is joined and propagated --
        r = post(gw, "t-valid", {"traceparent": "00-%s-%s-01" % (TID, PID), "tracestate": "rojo=00f067aa0ba902b7"})
        ck.check(r.status == 200, "traced request answered: %r" % r)
        t, span, flags = answer_tp(r)
        ck.check(t == TID and flags == "01" and span not in (None, PID),
                 "answer's traceparent names the trace and the gateway's span: %s" % r.headers.get("traceparent"))
        g, s = line_for(glog, "t-valid"), line_for(slog, "t-valid")
        ck.check(g.get("trace_id") == TID and s.get("trace_id") == TID,
                 "both logs carry the caller's trace id: %s / %s" % (g.get("trace_id"), s.get("trace_id")))
        ck.check(g.get("parent_span_id") == PID, "gateway's parent is the caller's span: %s" % g)
        ck.check(g.get("span_id") == span, "gateway's span is the one in its answer: %s" % g)
        att = g.get("attempts") or [{}]
        aspan = att[-1].get("span_id")
        ck.check(aspan and re.match("^[0-9a-f]{16}$", aspan) and aspan not in (span, PID),
                 "the attempt has a span of its own: %s" % att)
        ck.check(s.get("parent_span_id") == aspan,
                 "server's parent is the gateway attempt's span: %s vs %s" % (s.get("parent_span_id"), aspan))
        ck.check(re.match("^[0-9a-f]{16}$", s.get("span_id", "")) and s.get("span_id") not in (aspan, span),
                 "server has a span of its own: %s" % s)

        # -- 2. no traceparent: a new trace, propagated --
        r = post(gw, "t-none", {})
        t2, span2, _ = answer_tp(r)
        g, s = line_for(glog, "t-none"), line_for(slog, "t-none")
        ck.check(r.status == 200 and t2 and t2 != TID and span2, "fresh trace in the answer: %s" % r.headers)
        ck.check(g.get("trace_id") == t2 and s.get("trace_id") == t2, "fresh trace in both logs: %s / %s" % (g, s))
        ck.check(g.get("parent_span_id") == "", "no parent at the gateway: %s" % g)
        ck.check(s.get("parent_span_id") == (g.get("attempts") or [{}])[-1].get("span_id"),
                 "server's parent is the attempt's span (new trace): %s" % s)
        r = post(gw, "t-none-2", {})
        ck.check(answer_tp(r)[0] not in (None, t2), "each request without traceparent gets its own trace")

        # -- 3. invalid traceparents are replaced; a future version is read as 00 --
        bad = {
            "upper": "00-%s-%s-01" % (TID.upper(), PID),
            "ff": "ff-%s-%s-01" % (TID, PID),
            "zero-trace": "00-%s-%s-01" % ("0" * 32, PID),
            "zero-span": "00-%s-%s-01" % (TID, "0" * 16),
            "v00-extra": "00-%s-%s-01-extra" % (TID, PID),
            "short": "00-%s-%s-1" % (TID, PID),
        }
        for name, tp in bad.items():
            rid = "t-bad-" + name
            r = post(gw, rid, {"traceparent": tp})
            g, s = line_for(glog, rid), line_for(slog, rid)
            tb = answer_tp(r)[0]
            ck.check(r.status == 200 and tb and tb != TID and tb != "0" * 32,
                     "%s: replaced by a fresh trace: %s" % (name, r.headers.get("traceparent")))
            ck.check(g.get("trace_id") == tb and g.get("parent_span_id") == "" and s.get("trace_id") == tb,
                     "%s: logs carry the fresh trace, no parent: %s / %s" % (name, g, s))
        r = post(gw, "t-future", {"traceparent": "cc-%s-%s-01-future-stuff" % (TID, PID)})
        g = line_for(glog, "t-future")
        ck.check(answer_tp(r)[0] == TID and g.get("parent_span_id") == PID,
                 "a future version with extra fields is read as 00: %s" % g)

        # -- 4. the server on its own --
        r = post(srv, "t-direct", {"traceparent": "00-%s-%s-00" % (TID, PID)})
        t4, span4, flags4 = answer_tp(r)
        s = line_for(slog, "t-direct")
        ck.check(t4 == TID and flags4 == "00" and s.get("parent_span_id") == PID and s.get("span_id") == span4,
                 "server joins a direct caller's trace, keeps its flags: %s / %s" % (r.headers, s))
        r = srv.get("/v2/health/live")
        ck.check(answer_tp(r)[0] is not None, "every answer has a traceparent: %s" % r.headers)
        r = srv.request("GET", "/v2/health/live", headers={"traceparent": "00-%s-%s-01" % ("A" * 32, PID)})
        ck.check(answer_tp(r)[0] not in (None, "a" * 32), "server replaces an invalid traceparent too")
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        c.putrequest("GET", "/v2/health/live")
        c.putheader("traceparent", "00-%s-%s-01" % (TID, PID))
        c.putheader("traceparent", "00-%s-%s-01" % (TID, PID))
        c.endheaders()
        two = c.getresponse()
        two.read()
        c.close()
        tt = TP_RE.match(two.getheader("traceparent") or "")
        ck.check(tt and tt.group(1) != TID, "two traceparent headers are ignored: %s" % two.getheaders())
        ck.check(all(re.match("^[0-9a-f]{32}$", x.get("trace_id", "")) and re.match("^[0-9a-f]{16}$", x.get("span_id", ""))
                     for x in lines(slog) + lines(glog)), "every access-log line has trace and span ids")
    finally:
        if gw:
            gw.stop()
        srv.stop()
    ck.finish()


if __name__ == "__main__":
    main()
