#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# pglab-interposes: ibv_reg_mr
"""pyverbs data loader across fork(), over soft-RoCE (rxe) loopback.

    pglab-pyverbs.py [--fork os|mp] [--mr page|sub] [--child alive|exited]
                     [--nworkers N] [--dev rxe0] [--debug]

The shape of a Python data loader that does RDMA itself. The parent opens
rxe0, registers three batch buffers as pyverbs MRs (pyverbs allocates each
buffer itself with posix_memalign(page size): from the malloc heap, below the
128 KiB mmap threshold), allocates an ordinary Python object (a bytearray)
right after each, forks workers (os.fork() or multiprocessing's "fork" start
method), changes its data, and two RC QPs of the same process connected to
each other through rxe0's IPv4 GID move data in and out of the MRs ("b"
stands for the remote peer; its buffer is MADV_DONTFORK, another process):

  rd  the parent writes the next batch ('B') into MR rd after the fork; b
      RDMA-READs it: 'B' ok, 'A' (the fork-time data) stale
  wr  the parent overwrites MR wr ('B') after the fork; b RDMA-WRITEs 'C'
      into it; the parent reads 'C' ok, 'B' stale
  wn  the parent never writes MR wn after the fork, only the bytearray
      allocated after it; b RDMA-WRITEs 'C' into the MR; the parent reads
      'C' ok, 'A' stale. With --mr sub the bytearray shares the MR's page
      (checked: nbr_page=same), as the interpreter's own objects do; with
      --mr page it is on another page (control: no pinned page is written)

  --mr page       64 KiB MRs, whole pages; sub: 1 KiB MRs, sharing their page
                  with the heap objects allocated after them
  --child alive   the workers wait until the parent's changes and the RDMA
                  are done, then read; exited: they read at once and are
                  gone before the parent's changes

Each worker reports what it read, from the three MRs (mr.read()) and the
three bytearrays: forktime (what was there at fork), other (anything else:
the parent's or the device's later data leaked in), nomap (the range is not
mapped in the worker, /proc/self/maps; the worker then reads it all the
same and dies with SIGSEGV, as a real worker would), segv (the worker died
with SIGSEGV before it could report anything), none (no report).

Last stdout line, as the C scenarios (pglab-common.h):
  result=coherent|stale|skip|error detail=fork=..,mr=..,child=..,
      mr_where=heap|mmap,nbr_page=same|other,ibv_fork=..,rd=ok|stale,
      wr=ok|stale,wn=ok|stale,workers=..,nbr=..,wexit=..,sec=..
      [mode= reason= kernel=]
coherent: rd, wr and wn all ok. workers=/nbr= (the MRs / the bytearrays)
aggregate every worker (one word if all agree, else mixed-...); wexit=
their exits (ok, sigsegv, sigN, rcN, hang). ibv_fork= is rdma-core's
ibv_is_fork_initialized() (disabled, enabled, unneeded). sec: wall time
from the device open to the end.
"""

import ctypes
import mmap
import os
import select
import signal
import sys
import time

RESULT = {"detail": [], "mode": ""}
PAGE = os.sysconf("SC_PAGE_SIZE")
DEBUG = []


def dbg(msg):
    """--debug: progress on the console (the lab keeps only 5 stderr lines)."""
    if DEBUG:
        try:
            with open("/dev/console", "w") as f:
                f.write(f"pyv[{os.getpid()}] {time.monotonic():.2f} {msg}\n")
        except OSError:
            print(f"pyv[{os.getpid()}] {msg}", file=sys.stderr, flush=True)


def detail(s):
    RESULT["detail"].append(s)


def finish(result):
    d = ",".join(RESULT["detail"]) or "-"
    print(f"result={result} detail={d}{RESULT['mode']}", flush=True)
    # No interpreter teardown: pyverbs finalizers would deregister and free
    # in arbitrary order; the kernel cleans up.
    os._exit(77 if result == "skip" else 1 if result == "error" else 0)


def fail(what):
    detail(what)
    finish("error")


def skip(what):
    detail(what)
    finish("skip")


def note_mode():
    """ mode= reason= kernel=, when libpinguard is loaded (preloaded)."""
    try:
        scope = ctypes.CDLL(None)
        get = scope.pinguard_get_mode
        names = []
        for fn in ("pinguard_mode_name", "pinguard_reason_name", "pinguard_kernel_name"):
            f = getattr(scope, fn)
            f.restype = ctypes.c_char_p
            f.argtypes = [ctypes.c_int]
            names.append(f)
    except AttributeError:
        return
    mi = (ctypes.c_int * 7)()   # struct pinguard_mode_info: 7 enums
    get.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    if get(mi, ctypes.sizeof(mi)) == 0:
        m, r, k = (n(v).decode() for n, v in zip(names, (mi[1], mi[2], mi[3])))
        RESULT["mode"] = f" mode={m} reason={r} kernel={k}"


def maps():
    with open("/proc/self/maps") as f:
        return [line.split() for line in f]


def mapped(spans, addr, length):
    """Whole [addr, addr+length) mapped (spans: sorted (lo, hi))?"""
    need, end = addr, addr + length
    for lo, hi in spans:
        if lo <= need < hi:
            need = hi
            if need >= end:
                return True
    return False


def where(addr):
    """heap / mmap (anonymous) / file / none, for the detail."""
    for w in maps():
        lo, hi = (int(x, 16) for x in w[0].split("-"))
        if lo <= addr < hi:
            return "heap" if len(w) > 5 and w[5] == "[heap]" else "mmap" if len(w) == 5 else "file"
    return "none"


def parse_args(argv):
    opts = {"fork": "os", "mr": "page", "child": "alive", "nworkers": "2",
            "dev": "rxe0", "debug": False}
    choices = {"fork": ("os", "mp"), "mr": ("page", "sub"), "child": ("alive", "exited")}
    it = iter(argv)
    for a in it:
        k = a[2:] if a.startswith("--") else None
        if k == "debug":
            opts["debug"] = True
        elif k in opts:
            v = next(it, None)
            if v is None or (k in choices and v not in choices[k]):
                fail(f"usage_{k}")
            opts[k] = v
        else:
            fail(f"usage_{a}")
    opts["nworkers"] = int(opts["nworkers"])
    return opts


def main():
    args = parse_args(sys.argv[1:])
    if args["debug"]:
        DEBUG.append(1)
    for k in ("fork", "mr", "child"):
        detail(f"{k}={args[k]}")

    try:
        import pyverbs.enums as e
        from pyverbs.addr import AHAttr, GlobalRoute
        from pyverbs.cq import CQ
        from pyverbs.device import Context, get_device_list
        from pyverbs.fork import is_fork_initialized
        from pyverbs.mr import MR
        from pyverbs.pd import PD
        from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
        from pyverbs.wr import SGE, SendWR
    except ImportError as ex:
        skip(f"no_pyverbs_{type(ex).__name__}")
    if args["fork"] == "mp":
        import multiprocessing
    dbg("imported")
    t_start = time.monotonic()

    try:
        names = [d.name.decode() for d in get_device_list()]
    except Exception:
        names = []
    if args["dev"] not in names:
        skip(f"no_device_{args['dev']}")
    ctx = Context(name=args["dev"])
    gidx, gid = -1, None
    for i in range(16):
        try:
            g = ctx.query_gid(1, i)
        except Exception:
            break
        if str(g).startswith("0000:0000:0000:0000:0000:ffff:"):
            gidx, gid = i, g
            break
    if gidx < 0:
        skip("no_ipv4_gid")
    pd = PD(ctx)
    cq = CQ(ctx, 16)
    acc = e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_READ | e.IBV_ACCESS_REMOTE_WRITE

    # The data loader's batch buffers, pyverbs-allocated (posix_memalign),
    # each followed by a Python object allocated right after it.
    mlen = 64 << 10 if args["mr"] == "page" else 1024
    nlen = 1000
    mrs, nbrs, naddrs, extra = {}, {}, {}, []

    def new_nbr():
        b = bytearray(b"N" * nlen)
        return b, ctypes.addressof((ctypes.c_char * nlen).from_buffer(b))
    for name in ("rd", "wr", "wn"):
        mrs[name] = MR(pd, mlen, acc)
        if name == "rd":
            note_mode()                   # after the first (wrapped) pin
        mrs[name].write(b"A" * mlen, mlen)    # the batch the workers fork with
        nbrs[name], naddrs[name] = new_nbr()
        # --mr sub: malloc may first fill the gap posix_memalign left below
        # the MR; allocate on until an object lands on the MR's page.
        end = (mrs[name].buf // PAGE + 1) * PAGE
        for _ in range(8 if args["mr"] == "sub" else 0):
            if mrs[name].buf <= naddrs[name] and naddrs[name] + nlen <= end:
                break
            extra.append(nbrs[name])
            nbrs[name], naddrs[name] = new_nbr()
    detail(f"mr_where={where(mrs['rd'].buf)}")
    mr_pages = set()
    for m in mrs.values():
        mr_pages.update(range(m.buf // PAGE, (m.buf + mlen - 1) // PAGE + 1))
    same = naddrs["wn"] // PAGE in mr_pages
    detail(f"nbr_page={'same' if same else 'other'}")
    if args["mr"] == "sub" and not same:
        fail(f"nbr_not_on_mr_page_mr={mrs['wn'].buf:#x}_nbr={naddrs['wn']:#x}")
    if args["mr"] == "page" and any((a // PAGE) in mr_pages for a in naddrs.values()):
        fail("nbr_on_mr_page")
    fi = int(is_fork_initialized())       # enum ibv_fork_status
    detail("ibv_fork=" + {0: "disabled", 1: "enabled", 2: "unneeded"}.get(fi, str(fi)))

    # The peer ("b", standing for another process): its own private
    # mapping, MADV_DONTFORK so that the fork leaves it alone.
    peer_map = mmap.mmap(-1, 64 << 10, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    peer_map.madvise(mmap.MADV_DONTFORK)
    paddr = ctypes.addressof(ctypes.c_char.from_buffer(peer_map))
    pmr = MR(pd, 64 << 10, acc, address=paddr)

    cap = QPCap(max_send_wr=4, max_recv_wr=4, max_send_sge=1, max_recv_sge=1)
    qa = QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq, cap=cap))
    qb = QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq, cap=cap))
    for q, dqpn in ((qa, qb.qp_num), (qb, qa.qp_num)):
        a = QPAttr()
        a.qp_state = e.IBV_QPS_INIT
        a.pkey_index = 0
        a.port_num = 1
        a.qp_access_flags = acc
        q.modify(a, e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX | e.IBV_QP_PORT |
                 e.IBV_QP_ACCESS_FLAGS)
        a = QPAttr()
        a.qp_state = e.IBV_QPS_RTR
        a.path_mtu = e.IBV_MTU_1024
        a.dest_qp_num = dqpn
        a.rq_psn = 0
        a.max_dest_rd_atomic = 1
        a.min_rnr_timer = 12
        a.ah_attr = AHAttr(is_global=1, port_num=1,
                           gr=GlobalRoute(dgid=gid, sgid_index=gidx, hop_limit=1))
        q.modify(a, e.IBV_QP_STATE | e.IBV_QP_AV | e.IBV_QP_PATH_MTU |
                 e.IBV_QP_DEST_QPN | e.IBV_QP_RQ_PSN | e.IBV_QP_MAX_DEST_RD_ATOMIC |
                 e.IBV_QP_MIN_RNR_TIMER)
        a = QPAttr()
        a.qp_state = e.IBV_QPS_RTS
        a.timeout = 14
        a.retry_cnt = 7
        a.rnr_retry = 7
        a.sq_psn = 0
        a.max_rd_atomic = 1
        q.modify(a, e.IBV_QP_STATE | e.IBV_QP_TIMEOUT | e.IBV_QP_RETRY_CNT |
                 e.IBV_QP_RNR_RETRY | e.IBV_QP_SQ_PSN | e.IBV_QP_MAX_QP_RD_ATOMIC)
    dbg("qps connected")

    def worker(wfd, gofd):
        """Child: wait (alive), check the mappings, report, then read."""
        dbg("worker up")
        if args["child"] == "alive":
            os.read(gofd, 1)
        spans = sorted(tuple(int(x, 16) for x in w[0].split("-")) for w in maps())
        mr_ok = all(mapped(spans, m.buf, mlen) for m in mrs.values())
        nbr_ok = all(mapped(spans, naddrs[n], nlen) for n in nbrs)
        os.write(wfd, f"map {int(mr_ok)} {int(nbr_ok)}\n".encode())
        # Read as a worker would (SIGSEGV if not mapped): objects, then MRs.
        nv = "forktime" if all(bytes(b) == b"N" * nlen for b in nbrs.values()) else "other"
        os.write(wfd, f"nbr {nv}\n".encode())
        mv = "forktime" if all(m.read(mlen, 0) == b"A" * mlen for m in mrs.values()) else "other"
        os.write(wfd, f"mr {mv}\n".encode())
        dbg(f"worker done {mv} {nv}")
        os._exit(0)

    go_r, go_w = os.pipe()
    kids = []
    for _ in range(args["nworkers"]):
        rep_r, rep_w = os.pipe()
        if args["fork"] == "os":
            pid = os.fork()
            if pid == 0:
                try:
                    worker(rep_w, go_r)
                finally:
                    os._exit(3)
            kids.append(("os", pid, rep_r))
        else:
            p = multiprocessing.get_context("fork").Process(target=worker, args=(rep_w, go_r))
            p.start()
            kids.append(("mp", p, rep_r))
        os.close(rep_w)
    dbg("forked")

    def reap(kid, timeout=30):
        kind, h, _ = kid
        if kind == "mp":
            h.join(timeout)
            return h.exitcode if h.exitcode is not None else "hang"
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            pid, st = os.waitpid(h, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(st)
            time.sleep(0.05)
        return "hang"

    exits = []
    if args["child"] == "exited":
        exits = [reap(k) for k in kids]

    # The parent's changes after the fork.
    mrs["rd"].write(b"B" * mlen, mlen)
    mrs["wr"].write(b"B" * mlen, mlen)
    nbrs["wn"][:] = b"M" * nlen
    dbg("parent changed")

    # The device: b reads or writes a's MRs.
    def rdma(opcode, m):
        wr = SendWR(opcode=opcode, num_sge=1, sg=[SGE(paddr, mlen, pmr.lkey)],
                    send_flags=e.IBV_SEND_SIGNALED)
        wr.set_wr_rdma(m.rkey, m.buf)
        qb.post_send(wr)
        t0 = time.monotonic()
        while True:
            n, wcs = cq.poll()
            if n > 0:
                break
            if time.monotonic() - t0 > 20:
                fail("cq_timeout")
        if wcs[0].status != e.IBV_WC_SUCCESS:
            fail(f"wc_status={wcs[0].status}")

    def verdict(name, got, new, old):
        v = "ok" if got == new else "stale" if got == old else "mixed"
        detail(f"{name}={v}")
        return v == "ok"

    peer_map[:mlen] = b"P" * mlen
    rdma(e.IBV_WR_RDMA_READ, mrs["rd"])
    good = verdict("rd", peer_map[:mlen], b"B" * mlen, b"A" * mlen)
    peer_map[:mlen] = b"C" * mlen
    rdma(e.IBV_WR_RDMA_WRITE, mrs["wr"])
    good &= verdict("wr", mrs["wr"].read(mlen, 0), b"C" * mlen, b"B" * mlen)
    rdma(e.IBV_WR_RDMA_WRITE, mrs["wn"])
    good &= verdict("wn", mrs["wn"].read(mlen, 0), b"C" * mlen, b"A" * mlen)
    dbg("rdma done")

    # The workers read now (alive), after the parent's changes and the RDMA.
    if args["child"] == "alive":
        os.write(go_w, b"x" * len(kids))
    views, nviews = [], []
    for k in kids:
        rep = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r, _, _ = select.select([k[2]], [], [], 1)
            if r:
                chunk = os.read(k[2], 256)
                if not chunk:
                    break
                rep += chunk
        lines = dict(ln.split(" ", 1) for ln in rep.decode().splitlines() if " " in ln)
        mp_ = lines.get("map", "? ?").split()
        views.append(lines.get("mr", "nomap" if mp_[0] == "0" else "none"))
        nviews.append(lines.get("nbr", "nomap" if mp_[1] == "0" else "none"))
    if args["child"] == "alive":
        exits = [reap(k) for k in kids]
    dbg("reports in")
    # No report at all and killed by SIGSEGV: the worker died before its
    # first read (e.g. the interpreter touched an object on an unmapped page).
    for i, x in enumerate(exits):
        if x == -signal.SIGSEGV:
            views[i] = "segv" if views[i] == "none" else views[i]
            nviews[i] = "segv" if nviews[i] == "none" else nviews[i]

    def agg(ws):
        return ws[0] if len(set(ws)) == 1 else "mixed-" + "-".join(ws)
    detail(f"workers={agg(views)}")
    detail(f"nbr={agg(nviews)}")
    detail("wexit=" + agg(["ok" if x == 0 else "sigsegv" if x == -signal.SIGSEGV
                           else f"sig{-x}" if isinstance(x, int) and x < 0
                           else f"rc{x}" if isinstance(x, int) else str(x) for x in exits]))
    detail(f"sec={time.monotonic() - t_start:.2f}")
    finish("coherent" if good else "stale")


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as ex:   # pyverbs errors: one result line all the same
        msg = "".join(c if c.isalnum() else "_" for c in str(ex))[:80]
        fail(f"exception_{type(ex).__name__}_{msg}")
