#!/usr/bin/python3
"""lmtp_bench: the LMTP delivery driver of `make bench` (bench/run.sh), run against
mailstack's lmtp-store and Dovecot's lmtp in the same process, turn by turn.

Each run opens --connections connections to one server; each connection says LHLO once,
then delivers its share of --messages sequentially as MAIL+RCPT+DATA (pipelined, as
Postfix's LMTP client does), sends the body and waits for the per-recipient replies.
Latency is per message, from sending MAIL to the last final reply; a message counts as
delivered only when every reply was the expected one (250, 354 for DATA). Rounds run every
server once, in the order given (A, B, A, B, ...), so a slow phase of the shared machine
hits both sides; the headline ratio is the median of the per-round ratios.

Output: a table per run, a summary, then one JSON line per run and one summary JSON line
(greppable by '"bench": "lmtp-delivery"') for comparing commits. Stdlib only; every loop is
bounded by count and by --run-timeout; loopback only.
"""

import argparse
import email.utils
import json
import math
import os
import random
import socket
import statistics
import sys
import threading
import time

BENCH = "lmtp-delivery"
SENDER = "bench-sender@example.org"
# Raw UTF-8 in the Subject, as in the seed's test mail ("아싸 테스트..."): stored bytes must
# survive unchanged, so the benchmark carries them too.
SUBJECTS = ["아싸 테스트...", "회의 자료 보내드립니다", "주간 보고서", "Re: 메일 서버 이전 일정",
            "점심 메뉴 투표", "[공지] 서버 점검 안내"]
WORDS_EN = ("mail server queue delivery mailbox message folder archive report meeting "
            "schedule update please review attached draft thanks regards tomorrow "
            "backup migration directory account quota notice weekly summary").split()
WORDS_KO = ("안녕하세요 메일 서버 이전 작업 일정 공유 드립니다 확인 부탁 감사합니다 "
            "회의 자료 첨부 내일 오전 오후 백업 계정 용량 공지 사항 주간 보고").split()


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", action="append", required=True, metavar="NAME=HOST:PORT",
                   help="an LMTP server to measure; repeat it (the first is A in the A/B ratio)")
    p.add_argument("--connections", type=int, default=4, help="concurrent connections (4)")
    p.add_argument("--messages", type=int, default=500, help="messages per run, total (500)")
    p.add_argument("--size", type=int, default=4096, help="bytes of body per message (4096)")
    p.add_argument("--recipients", type=int, default=1,
                   help="recipients per message (1): hurd, then bench2..benchN")
    p.add_argument("--users", type=int, default=0,
                   help="draw each message's recipients at random from this many users "
                        "(hurd, bench2..benchN); 0 (default): every message to the same ones")
    p.add_argument("--phase", default="",
                   help="name of this part of a preset, printed and put in the JSON")
    p.add_argument("--rcpt-domain", default="lmtp-store",
                   help="domain of the recipient addresses (lmtp-store, as in hurd's maildrop)")
    p.add_argument("--pipelining", action=argparse.BooleanOptionalAction, default=True,
                   help="send MAIL, RCPT and DATA in one write, as Postfix does (default); "
                        "--no-pipelining waits for each reply first")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds; each runs every server once, in order (3: A B A B A B)")
    p.add_argument("--warmup", type=int, default=50,
                   help="messages per server before the measured rounds, not reported (50)")
    p.add_argument("--run-timeout", type=float, default=60.0,
                   help="seconds a run may take; what is left then counts as failed (60)")
    p.add_argument("--io-timeout", type=float, default=30.0,
                   help="seconds to wait for any one reply (30)")
    p.add_argument("--label", default="", help="free text put in the JSON (e.g. the commit)")
    a = p.parse_args(argv)
    servers = []
    for spec in a.server:
        name, _, addr = spec.partition("=")
        host, _, port = addr.rpartition(":")
        if not name or not host or not port.isdigit():
            p.error(f"--server {spec!r}: want NAME=HOST:PORT")
        # A benchmark is a load generator: it stays on this machine.
        if not (host.startswith("127.") or host in ("localhost", "::1", "[::1]")):
            p.error(f"--server {spec!r}: only loopback addresses are allowed")
        servers.append((name, host.strip("[]"), int(port)))
    a.servers = servers
    for flag in ("connections", "messages", "size", "recipients", "rounds"):
        if getattr(a, flag) < 1:
            p.error(f"--{flag} must be at least 1")
    if a.warmup < 0:
        p.error("--warmup must not be negative")
    if a.users < 0 or (a.users and a.users < a.recipients):
        p.error("--users must be 0 or at least --recipients")
    return a


def recipients(n, domain):
    return [f"hurd@{domain}"] + [f"bench{i}@{domain}" for i in range(2, n + 1)]


def pick_recipients(args, rng):
    """The recipients of one message: the first --recipients users, or with --users a
    random draw from that many, so deliveries spread over many mailboxes as real mail does."""
    if not args.users:
        return recipients(args.recipients, args.rcpt_domain)
    pool = rng.sample(range(1, args.users + 1), args.recipients)
    return [f"hurd@{args.rcpt_domain}" if i == 1 else f"bench{i}@{args.rcpt_domain}"
            for i in pool]


# ---- messages ---------------------------------------------------------------------------

def body_text(rng, size):
    """Random mixed Korean/English text of exactly `size` bytes in UTF-8, lines under 78
    bytes, CRLF line ends; lines never start with '.' so no dot-stuffing is needed."""
    lines, total = [], 0
    while total < size:
        words, line_len = [], 0
        while True:
            w = rng.choice(WORDS_KO if rng.random() < 0.4 else WORDS_EN)
            wl = len(w.encode()) + (1 if words else 0)
            if line_len + wl > 72:
                break
            words.append(w)
            line_len += wl
        line = (" ".join(words) + "\r\n").encode()
        lines.append(line)
        total += len(line)
    data = b"".join(lines)
    # Trim to the exact size at a character boundary, then pad with ASCII and end in CRLF.
    cut = data[:max(size - 2, 0)].decode("utf-8", "ignore").encode()
    cut = cut.rstrip(b"\r")
    return cut + b"x" * (size - 2 - len(cut)) + b"\r\n" if size >= 2 else b"\r\n"[:size]


def make_message(rng, run_id, seq, rcpts, size):
    """One realistic message: a Received line, raw UTF-8 Korean Subject, unique Message-ID
    (so no two messages, even across runs, have the same bytes: mailstack stores a body
    once per content and would otherwise skip the write)."""
    subject = f"{rng.choice(SUBJECTS)} #{seq}"
    # Headers show the public addresses; the envelope carries the maildrops.
    shown = [r.split("@")[0] + "@example.test" for r in rcpts]
    now = email.utils.formatdate(localtime=True)
    headers = [
        f"Received: from mx.example.org (mx.example.org [192.0.2.25])\r\n"
        f"\tby mail.example.test (Postfix) with ESMTP id {run_id}{seq:06d}\r\n"
        f"\tfor <{shown[0]}>; {now}",
        f'From: "보내는 사람 {seq % 97}" <{SENDER}>',
        "To: " + ", ".join(shown),
        f"Subject: {subject}",
        f"Date: {now}",
        f"Message-ID: <{run_id}.{seq}.{rng.getrandbits(48):012x}@example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=UTF-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    head = ("\r\n".join(headers) + "\r\n\r\n").encode()
    return head + body_text(rng, size)


# ---- one connection -------------------------------------------------------------------

class Lmtp:
    """A blocking LMTP client connection that reads replies line by line."""

    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        # Both sides get the same client; without NODELAY a client-side Nagle stall could
        # be blamed on the server.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb")

    def reply(self, lines=None):
        """(code, last line) of one possibly multi-line reply; every line's text after the
        code goes to `lines` when given."""
        for _ in range(100):
            line = self.rfile.readline(4096)
            if not line:
                raise ConnectionError("connection closed by server")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if lines is not None:
                lines.append(text[4:])
            if text[3:4] != "-":
                return (int(text[:3]) if text[:3].isdigit() else 0), text
        raise ConnectionError("reply longer than 100 lines")

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
            self.reply()
        except OSError:
            pass
        try:
            self.rfile.close()
            self.sock.close()
        except OSError:
            pass


class ConnWorker(threading.Thread):
    def __init__(self, server, messages, args, barrier, deadline_box):
        super().__init__(daemon=True)
        self.server, self.messages, self.args = server, messages, args
        self.barrier, self.deadline_box = barrier, deadline_box
        self.latencies = []        # seconds, delivered messages only
        self.failures = 0          # messages not delivered to every recipient
        self.accepted_rcpts = 0    # final 250s: what the server says it stored
        self.reasons = {}          # reply or error text -> count
        self.setup_error = None
        self.conn = None
        self.mail_params = ""

    def fail(self, why, n=1):
        self.failures += n
        self.reasons[why] = self.reasons.get(why, 0) + n

    def connect(self):
        _, host, port = self.server
        c = Lmtp(host, port, self.args.io_timeout)
        code, text = c.reply()
        if code != 220:
            c.close()
            raise ConnectionError(f"greeting: {text}")
        c.sock.sendall(b"LHLO bench.example.org\r\n")
        lines = []
        code, text = c.reply(lines)
        if code != 250:
            c.close()
            raise ConnectionError(f"LHLO: {text}")
        # MAIL parameters only as advertised, as Postfix's LMTP client does.
        caps = {ln.split(" ")[0].upper() for ln in lines[1:]}
        self.mail_params = ((" BODY=8BITMIME" if "8BITMIME" in caps else "")
                            + (" SIZE={size}" if "SIZE" in caps else ""))
        return c

    def run(self):
        try:
            self.conn = self.connect()
        except (OSError, ConnectionError) as e:
            self.setup_error = str(e)
        try:
            self.barrier.wait(timeout=self.args.io_timeout + 10)
        except threading.BrokenBarrierError:
            self.setup_error = self.setup_error or "start barrier broken"
        if self.setup_error:
            self.fail(f"connect: {self.setup_error}", len(self.messages))
            return
        reconnects = 0
        for i, (msg, rcpts) in enumerate(self.messages):
            if time.monotonic() > self.deadline_box[0]:
                self.fail("run timeout: not sent", len(self.messages) - i)
                break
            try:
                self.deliver(msg, rcpts)
            except (OSError, ConnectionError, ValueError) as e:
                self.fail(f"connection: {e}")
                if self.conn:
                    self.conn.close()
                self.conn = None
                reconnects += 1
                if reconnects > 5:
                    self.fail("gave up after 5 reconnects", len(self.messages) - i - 1)
                    break
                try:
                    self.conn = self.connect()
                except (OSError, ConnectionError) as e2:
                    self.fail(f"reconnect: {e2}", len(self.messages) - i - 1)
                    break
        if self.conn:
            self.conn.close()

    def deliver(self, msg, rcpts):
        c = self.conn
        head = [f"MAIL FROM:<{SENDER}>{self.mail_params.format(size=len(msg))}\r\n"]
        head += [f"RCPT TO:<{r}>\r\n" for r in rcpts]
        head.append("DATA\r\n")
        pipelining = self.args.pipelining
        t0 = time.perf_counter()
        if pipelining:
            c.sock.sendall("".join(head).encode())
        bad = None
        accepted = 0
        for i, command in enumerate(head):
            if not pipelining:
                c.sock.sendall(command.encode())
            code, text = c.reply()
            if i == 0 or i == len(head) - 1:
                if code != (250 if i == 0 else 354):
                    bad = bad or text
            elif code == 250:
                accepted += 1
            else:
                bad = bad or text
        if code == 354:
            c.sock.sendall(msg + b".\r\n")
            for _ in range(accepted):
                code, text = c.reply()
                if code == 250:
                    self.accepted_rcpts += 1
                else:
                    bad = bad or text
        else:
            bad = bad or text
            c.sock.sendall(b"RSET\r\n")
            c.reply()
        t1 = time.perf_counter()
        if bad is None:
            self.latencies.append(t1 - t0)
        else:
            self.fail(bad)


# ---- one run --------------------------------------------------------------------------

def percentile(sorted_values, p):
    """Nearest-rank percentile; None when there are no values."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def run_once(server, count, args, rng, run_id):
    # Messages are made before the clock starts: the driver's own work must not count.
    msgs = []
    for i in range(count):
        rcpts = pick_recipients(args, rng)
        msgs.append((make_message(rng, run_id, i, rcpts, args.size), rcpts))
    nconn = min(args.connections, count)
    shares = [msgs[i::nconn] for i in range(nconn)]
    barrier = threading.Barrier(nconn + 1)
    deadline_box = [time.monotonic() + args.run_timeout + args.io_timeout]
    workers = [ConnWorker(server, s, args, barrier, deadline_box) for s in shares]
    for w in workers:
        w.start()
    try:
        barrier.wait(timeout=args.io_timeout + 10)
    except threading.BrokenBarrierError:
        pass
    deadline_box[0] = time.monotonic() + args.run_timeout
    t0 = time.perf_counter()
    for w in workers:
        # A worker waits at most io_timeout per reply and stops sending at the deadline.
        w.join(timeout=args.run_timeout + 4 * args.io_timeout)
    wall = time.perf_counter() - t0
    lat = sorted(x for w in workers for x in w.latencies)
    reasons = {}
    for w in workers:
        for k, v in w.reasons.items():
            reasons[k] = reasons.get(k, 0) + v
    stuck = sum(1 for w in workers if w.is_alive())
    if stuck:
        reasons[f"{stuck} connection(s) still waiting at the end"] = 0
    delivered = len(lat)
    return {
        "server": server[0],
        "messages": count,
        "delivered": delivered,
        "failures": count - delivered,
        "accepted_rcpts": sum(w.accepted_rcpts for w in workers),
        "wall_s": wall,
        "msgs_per_s": delivered / wall if wall > 0 else 0.0,
        "p50_ms": ms(percentile(lat, 50)),
        "p95_ms": ms(percentile(lat, 95)),
        "p99_ms": ms(percentile(lat, 99)),
        "max_ms": ms(lat[-1] if lat else None),
        "reasons": reasons,
    }


def ms(seconds):
    return None if seconds is None else round(seconds * 1000, 2)


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


# ---- main -----------------------------------------------------------------------------

def main(argv):
    args = parse_args(argv)
    rng = random.Random(os.urandom(16))
    run_id = f"{int(time.time()):x}{rng.getrandbits(24):06x}"
    names = [s[0] for s in args.servers]
    print(f"lmtp_bench: {args.phase + ': ' if args.phase else ''}{args.connections} connections, {args.messages} messages/run, "
          f"{args.size} B body, {args.recipients} recipient(s)/message"
          f"{f' drawn from {args.users} users' if args.users else ''}, "
          f"{'pipelined' if args.pipelining else 'no pipelining'}, {args.rounds} "
          f"round(s) of {' '.join(names)}, warm-up {args.warmup} message(s) each", flush=True)

    accepted_total = {n: 0 for n in names}
    for server in args.servers:
        if args.warmup:
            r = run_once(server, args.warmup, args, rng, run_id + "w")
            accepted_total[server[0]] += r["accepted_rcpts"]
            print(f"  warm-up {server[0]}: {r['delivered']}/{r['messages']} delivered"
                  + (f", failures: {r['reasons']}" if r["failures"] else ""), flush=True)

    w = max(12, *(len(n) for n in names))
    header = (f"{'round':>5}  {'server':<{w}} {'delivered':>10} {'fail':>5} {'msgs/s':>9} "
              f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'wall s':>7}")
    print(header)
    print("-" * len(header), flush=True)
    results = []
    for rnd in range(1, args.rounds + 1):
        for server in args.servers:
            r = run_once(server, args.messages, args, rng, f"{run_id}r{rnd}")
            r["round"] = rnd
            results.append(r)
            accepted_total[server[0]] += r["accepted_rcpts"]
            print(f"{rnd:>5}  {r['server']:<{w}} {r['delivered']:>5}/{r['messages']:<4} "
                  f"{r['failures']:>5} {r['msgs_per_s']:>9.1f} {fmt(r['p50_ms'], '8.2f')} "
                  f"{fmt(r['p95_ms'], '8.2f')} {fmt(r['p99_ms'], '8.2f')} "
                  f"{fmt(r['max_ms'], '8.2f')} {r['wall_s']:>7.2f}", flush=True)
            for why, n in sorted(r["reasons"].items(), key=lambda kv: -kv[1])[:5]:
                print(f"{'':>7}{n:>5} x {why}", flush=True)

    print()
    print("median over rounds:")
    for n in names:
        mine = [r for r in results if r["server"] == n]
        p50s = [r["p50_ms"] for r in mine if r["p50_ms"] is not None]
        print(f"  {n:<{w}} {statistics.median(r['msgs_per_s'] for r in mine):9.1f} msgs/s  "
              f"p50 {fmt(statistics.median(p50s) if p50s else None, '.2f')} ms  "
              f"failures {sum(r['failures'] for r in mine)}")

    summary = {"bench": BENCH, "kind": "summary", "label": args.label, "phase": args.phase,
               "connections": args.connections, "servers": names,
               "accepted_rcpts": accepted_total}
    if len(names) >= 2:
        a, b = names[0], names[1]
        per_round = []
        for rnd in range(1, args.rounds + 1):
            ra = next(r for r in results if r["round"] == rnd and r["server"] == a)
            rb = next(r for r in results if r["round"] == rnd and r["server"] == b)
            tput = ra["msgs_per_s"] / rb["msgs_per_s"] if rb["msgs_per_s"] else None
            p50 = (ra["p50_ms"] / rb["p50_ms"]
                   if ra["p50_ms"] is not None and rb["p50_ms"] else None)
            per_round.append({"round": rnd, "msgs_per_s": tput, "p50": p50})
        tputs = [x["msgs_per_s"] for x in per_round if x["msgs_per_s"] is not None]
        p50s = [x["p50"] for x in per_round if x["p50"] is not None]
        summary["ratio_of"] = f"{a}/{b}"
        summary["ratio_msgs_per_s"] = round(statistics.median(tputs), 3) if tputs else None
        summary["ratio_p50"] = round(statistics.median(p50s), 3) if p50s else None
        summary["ratio_per_round"] = [
            {k: (round(v, 3) if isinstance(v, float) else v) for k, v in x.items()}
            for x in per_round]
        print(f"\nratio {a}/{b} (median of the per-round ratios; rounds: "
              + ", ".join(fmt(x["msgs_per_s"], ".2f") for x in per_round) + "):")
        print(f"  msgs/s  {fmt(summary['ratio_msgs_per_s'], '.2f')}   (>1: {a} delivers more per second)")
        print(f"  p50     {fmt(summary['ratio_p50'], '.2f')}   (<1: {a} answers faster)")

    print()
    common = {"bench": BENCH, "kind": "run", "label": args.label, "phase": args.phase,
              "connections": args.connections, "size": args.size,
              "recipients": args.recipients, "users": args.users,
              "pipelining": args.pipelining}
    for r in results:
        line = dict(common)
        line.update({k: (round(v, 3) if isinstance(v, float) else v)
                     for k, v in r.items() if k != "reasons"})
        print(json.dumps(line, ensure_ascii=False))
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    return 1 if any(r["failures"] for r in results) else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        # The connection threads are daemons: they end with the process.
        print("lmtp_bench: interrupted", file=sys.stderr)
        sys.exit(130)
