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
5. On the wire (the gateway's channels are two recording proxies in front of the server):
   each upstream attempt sends traceparent 00-<trace>-<attempt span>-<flags> and the
   caller's tracestate verbatim; a retry (the first attempt answered 503 by a proxy) is a
   new span, both listed in the gateway's attempts, the server's parent the second.
6. --otlp-endpoint on both (a fake collector): the gateway exports its server span and a
   client span per attempt, the server its server span, linked parent to child as the
   access logs are; a dead collector costs nothing but dropped spans.
"""
import http.client
import http.server
import json
import os
import re
import sys
import tempfile
import threading

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


class Recorder:
    """A forwarding HTTP proxy to 127.0.0.1:port that records the trace headers of every
    inference request (by X-Request-Id) and answers 503 to the first request whose id is in
    fail_once (shared between recorders)."""

    def __init__(self, port, seen, fail_once, lock):
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_one(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                rid = self.headers.get("X-Request-Id", "")
                if "/infer" in self.path:
                    with lock:
                        seen.setdefault(rid, []).append({"traceparent": self.headers.get_all("traceparent"),
                                                         "tracestate": self.headers.get_all("tracestate")})
                        fail = rid in fail_once
                        fail_once.discard(rid)
                    if fail:
                        self.send_response(503)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", "2")
                        self.end_headers()
                        self.wfile.write(b"{}")
                        return
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                fwd = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "connection", "content-length", "expect")}
                c.request(self.command, self.path, body=body, headers=fwd)
                r = c.getresponse()
                data = r.read()
                c.close()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = handle_one

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Collector:
    """A fake OTLP/HTTP collector: keeps every span POSTed to /v1/traces, by service."""

    def __init__(self):
        self.spans, self.lock, self.bad = [], threading.Lock(), []
        col = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                try:
                    doc = json.loads(body)
                    for rs in doc["resourceSpans"]:
                        svc = [a["value"]["stringValue"] for a in rs["resource"]["attributes"]
                               if a["key"] == "service.name"][0]
                        for ss in rs["scopeSpans"]:
                            for sp in ss["spans"]:
                                sp["service"] = svc
                                sp["attrs"] = {a["key"]: list(a["value"].values())[0] for a in sp["attributes"]}
                                with col.lock:
                                    col.spans.append(sp)
                    ok = self.path == "/v1/traces" and self.headers.get("Content-Type") == "application/json"
                except (ValueError, KeyError, IndexError) as e:
                    ok = False
                    col.bad.append(repr(e))
                self.send_response(200 if ok else 400)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d/v1/traces" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def of(self, rid):
        with self.lock:
            return [x for x in self.spans if x["attrs"].get("inferd.request_id") == rid]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


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
    col = Collector()
    srv = Server(models, "--threads", "2", "--access-log", slog, "--otlp-endpoint", col.url).start()
    gw = None
    seen, fail_once, lock = {}, set(), threading.Lock()
    proxies = []
    try:
        proxies = [Recorder(srv.port, seen, fail_once, lock) for _ in range(2)]
        chans = os.path.join(root, "channels.json")
        write_json(chans, [{"id": "p%d" % i, "base_url": "http://127.0.0.1:%d" % p.port}
                           for i, p in enumerate(proxies)])
        gw = Gateway(os.path.join(root, "gw.db"), "--channels", chans, "--access-log", glog,
                     "--threads", "2", "--otlp-endpoint", col.url).start()
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

        # -- 5. on the wire: traceparent per attempt, tracestate verbatim, a retry's new span --
        state = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
        r = post(gw, "t-wire", {"traceparent": "00-%s-%s-01" % (TID, PID), "tracestate": state})
        g = line_for(glog, "t-wire")
        with lock:
            w = list(seen.get("t-wire", []))
        aspan = ((g.get("attempts") or [{}])[-1]).get("span_id")
        ck.check(r.status == 200 and len(w) == 1 and w[0]["traceparent"] == ["00-%s-%s-01" % (TID, aspan)],
                 "one traceparent upstream, naming the attempt's span: %s / %s" % (w, g))
        ck.check(len(w) == 1 and w[0]["tracestate"] == [state], "tracestate forwarded verbatim: %s" % w)
        r = post(gw, "t-wire-none", {})
        with lock:
            w = list(seen.get("t-wire-none", []))
        ck.check(len(w) == 1 and w[0]["tracestate"] is None and TP_RE.match((w[0]["traceparent"] or [""])[0]),
                 "a new trace is propagated, with no tracestate: %s" % w)
        r = post(gw, "t-wire-bad", {"traceparent": "ff-%s-%s-01" % (TID, PID), "tracestate": state})
        with lock:
            w = list(seen.get("t-wire-bad", []))
        ck.check(len(w) == 1 and w[0]["tracestate"] is None, "tracestate of an invalid traceparent is dropped: %s" % w)
        with lock:
            fail_once.add("t-retry")
        r = post(gw, "t-retry", {"traceparent": "00-%s-%s-01" % (TID, PID)})
        g, s = line_for(glog, "t-retry"), line_for(slog, "t-retry")
        with lock:
            w = list(seen.get("t-retry", []))
        spans = [a.get("span_id") for a in g.get("attempts") or []]
        wire = [TP_RE.match((x["traceparent"] or [""])[0]) for x in w]
        ck.check(r.status == 200 and len(spans) == 2 and len(set(spans)) == 2 and None not in spans,
                 "a retry is a new span, both in the attempts: %s" % g)
        ck.check(len(wire) == 2 and all(m and m.group(1) == TID for m in wire)
                 and [m.group(2) for m in wire if m] == spans,
                 "each attempt sent its own span upstream: %s vs %s" % (w, spans))
        ck.check(s.get("trace_id") == TID and spans and s.get("parent_span_id") == spans[-1],
                 "the server's parent is the attempt that reached it: %s" % s)

        # -- 6. OTLP spans: the same tree as the access logs --
        ck.check(wait_until(lambda: len(col.of("t-retry")) >= 4, 10), "spans of t-retry exported: %s" % col.of("t-retry"))
        sp = col.of("t-retry")
        gsrv = [x for x in sp if x["service"] == "inferd-gateway" and x["kind"] == 2]
        gcli = [x for x in sp if x["service"] == "inferd-gateway" and x["kind"] == 3]
        ssrv = [x for x in sp if x["service"] == "inferd-serve" and x["kind"] == 2]
        ck.check(len(gsrv) == 1 and gsrv[0]["traceId"] == TID and gsrv[0]["parentSpanId"] == PID
                 and gsrv[0]["spanId"] == g.get("span_id") and gsrv[0]["name"] == "v2_infer"
                 and gsrv[0]["attrs"].get("http.response.status_code") == "200",
                 "gateway server span: %s" % gsrv)
        ck.check(sorted(x["spanId"] for x in gcli) == sorted(spans)
                 and all(x["parentSpanId"] == g.get("span_id") and x["traceId"] == TID for x in gcli),
                 "a client span per attempt, children of the gateway's span: %s" % gcli)
        ck.check(sorted(x["status"]["code"] for x in gcli) == [0, 2], "the 503 attempt is an error span: %s" % gcli)
        ck.check(len(ssrv) == 1 and ssrv[0]["parentSpanId"] == spans[-1] and ssrv[0]["spanId"] == s.get("span_id")
                 and ssrv[0]["traceId"] == TID and ssrv[0]["attrs"].get("inferd.model") == "mlp",
                 "server span, child of the last attempt: %s" % ssrv)
        ck.check(all(int(x["startTimeUnixNano"]) <= int(x["endTimeUnixNano"]) and
                     abs(int(x["startTimeUnixNano"]) / 1e9 - __import__("time").time()) < 120 for x in sp),
                 "span times are Unix ns, start <= end: %s" % [(x["startTimeUnixNano"], x["endTimeUnixNano"]) for x in sp])
        ck.check(not col.bad, "every POST was OTLP JSON: %s" % col.bad)
    finally:
        if gw:
            gw.stop()
        for p in proxies:
            p.close()
        srv.stop()
        col.close()
    ck.finish()


if __name__ == "__main__":
    main()
