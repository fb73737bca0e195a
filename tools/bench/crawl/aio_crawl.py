#!/usr/bin/env python3
"""aio_crawl.py - the asyncio + aiohttp peer of spindle-crawl (tools/bench/crawl/run.sh).

    python3 aio_crawl.py --seed URL --out FILE [--allow-domain D]
                         [--concurrency 64] [--per-host 4] [--agent spindle]

A breadth-first crawler: one asyncio.Queue as the frontier, --concurrency
worker tasks, an asyncio.Semaphore of --per-host per host (scheme://host:port)
and one aiohttp.ClientSession (TCPConnector limit=--concurrency,
limit_per_host=--per-host, keep-alive, gzip).  Each host's robots.txt is
fetched once, before its first page, and read with urllib.robotparser for the
product token --agent.  Links: lxml.html when it is installed (Debian
python3-lxml), else html.parser; the same rules as spindle-crawl: <a href>
only, the first <base href>, no rel=nofollow links, no links at all on a page
with <meta name="robots|AGENT" content="...nofollow...">, only text/html is
parsed, scope = --allow-domain and its subdomains.

Output: one line "STATUS URL" per URL fetched (after redirects; status 0 when
the transfer failed), robots.txt included; a summary on stderr.  Debian 12:
apt-get install python3-aiohttp python3-lxml.
"""

import argparse
import asyncio
import sys
import time
import urllib.parse
import urllib.robotparser
from html.parser import HTMLParser

import aiohttp

try:
    import lxml.html

    HAVE_LXML = True
except ImportError:  # pragma: no cover - depends on the machine
    HAVE_LXML = False

UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def norm_escapes(s):
    """Decodes escapes of unreserved characters, upper-cases the others."""
    if "%" not in s:
        return s
    out = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "%" and i + 2 < n:
            h = s[i + 1 : i + 3]
            if all(ch in "0123456789abcdefABCDEF" for ch in h):
                v = int(h, 16)
                out.append(chr(v) if v in UNRESERVED else "%" + h.upper())
                i += 3
                continue
        out.append(c)
        i += 1
    return "".join(out)


def remove_dot_segments(path):
    """RFC 3986 5.2.4 (urljoin leaves the dots of an absolute reference)."""
    if "." not in path:
        return path
    out = []
    for seg in path.split("/")[1:]:
        if seg == "..":
            if out:
                out.pop()
        elif seg != ".":
            out.append(seg)
    last = path.rsplit("/", 1)[-1]
    return "/" + "/".join(out) + ("/" if last in (".", "..") else "")


def authority(p):
    host = (p.hostname or "").rstrip(".")
    port = p.port
    if (p.scheme == "http" and port == 80) or (p.scheme == "https" and port == 443):
        port = None
    return "%s://%s%s" % (p.scheme, host, ":%d" % port if port else "")


def url_key(u):
    p = urllib.parse.urlsplit(u)
    path = remove_dot_segments(p.path or "/")
    q = "?" + p.query if p.query else ""
    return authority(p) + norm_escapes(path + q)


def in_domain(host, domain):
    host = (host or "").lower().rstrip(".")
    return host == domain or host.endswith("." + domain)


def has_token(s, tok):
    return tok in s.lower().replace(",", " ").split()


class _Links(HTMLParser):
    """The html.parser fallback: collects <a href>, <base href>, meta robots."""

    def __init__(self, agent):
        super().__init__(convert_charrefs=True)
        self.agent = agent
        self.hrefs = []
        self.base = None
        self.nofollow = False

    def handle_starttag(self, tag, attrs):
        a = {}
        for k, v in attrs:
            a.setdefault(k, v if v is not None else "")
        if tag == "a":
            if "href" in a and not has_token(a.get("rel", ""), "nofollow"):
                self.hrefs.append(a["href"])
        elif tag == "base":
            if "href" in a and self.base is None:
                self.base = a["href"]
        elif tag == "meta":
            name = a.get("name", "").strip().lower()
            if name in ("robots", self.agent) and has_token(a.get("content", ""), "nofollow"):
                self.nofollow = True

    handle_startendtag = handle_starttag


def extract(body, agent):
    """(hrefs, base or None) of an HTML page; no hrefs on a nofollow page."""
    if HAVE_LXML:
        try:
            doc = lxml.html.fromstring(body)
        except Exception:  # empty or unparsable document
            return [], None
        for m in doc.iter("meta"):
            name = (m.get("name") or "").strip().lower()
            if name in ("robots", agent) and has_token(m.get("content") or "", "nofollow"):
                return [], None
        base = None
        for b in doc.iter("base"):
            if b.get("href") is not None:
                base = b.get("href")
                break
        hrefs = [a.get("href") for a in doc.iter("a")
                 if a.get("href") is not None and not has_token(a.get("rel") or "", "nofollow")]
        return hrefs, base
    p = _Links(agent)
    try:
        p.feed(body.decode("utf-8", "replace"))
        p.close()
    except Exception:
        pass
    return ([] if p.nofollow else p.hrefs), p.base


class Crawler:
    def __init__(self, args):
        self.args = args
        self.domain = args.allow_domain.lower().rstrip(".")
        self.agent = args.agent.lower()
        self.queue = asyncio.Queue()
        self.seen = set()
        self.robots = {}  # authority -> asyncio.Task returning a RobotFileParser or None
        self.sems = {}
        self.out = open(args.out, "w", buffering=1 << 16)
        self.pages = self.disallowed = self.failed = 0

    def add(self, u):
        k = url_key(u)
        if k in self.seen:
            return
        self.seen.add(k)
        self.queue.put_nowait(u)

    def links(self, page, body):
        hrefs, base = extract(body, self.agent)
        b = urllib.parse.urljoin(page, base.strip()) if base and base.strip() else page
        for h in hrefs:
            h = h.strip()
            if not h or h.startswith("#"):
                continue
            try:
                u, _ = urllib.parse.urldefrag(urllib.parse.urljoin(b, h))
                p = urllib.parse.urlsplit(u)
                if p.scheme in ("http", "https") and in_domain(p.hostname, self.domain):
                    # the URL fetched: dot segments removed, host lower-cased
                    yield urllib.parse.urlunsplit((p.scheme, authority(p).split("://", 1)[1],
                                                   remove_dot_segments(p.path or "/"), p.query, ""))
            except ValueError:
                continue

    async def get(self, u, want_body):
        """(status, final URL, body or None, content type)."""
        try:
            async with self.session.get(u, headers={"User-Agent": self.args.user_agent}) as r:
                ct = r.headers.get("Content-Type", "").lower()
                body = None
                if want_body(r.status, ct):
                    chunks, left = [], self.args.max_bytes
                    while left > 0:  # content.read(n) returns what is there, up to n
                        chunk = await r.content.read(min(left, 1 << 16))
                        if not chunk:
                            break
                        chunks.append(chunk)
                        left -= len(chunk)
                    body = b"".join(chunks)
                    if left <= 0:
                        r.close()  # over --max-bytes: drop the connection
                else:
                    await r.read()
                return r.status, str(r.url), body, ct
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return 0, u, None, ""

    async def _robots(self, auth):
        async with self.sems[auth]:
            status, final, body, _ = await self.get(auth + "/robots.txt", lambda s, ct: True)
        self.out.write("%d %s\n" % (status, final))
        rp = urllib.robotparser.RobotFileParser()
        if 200 <= status < 300:
            rp.parse((body or b"").decode("utf-8", "replace").splitlines())
        elif 400 <= status < 500:
            rp.allow_all = True
        else:
            rp.disallow_all = True
        return rp

    async def allowed(self, u):
        p = urllib.parse.urlsplit(u)
        auth = authority(p)
        if auth not in self.sems:
            self.sems[auth] = asyncio.Semaphore(self.args.per_host)
            self.robots[auth] = asyncio.ensure_future(self._robots(auth))
        rp = await self.robots[auth]
        return auth, rp.can_fetch(self.agent, u)

    async def worker(self):
        while True:
            u = await self.queue.get()
            try:
                auth, ok = await self.allowed(u)
                if not ok:
                    self.disallowed += 1
                    continue
                async with self.sems[auth]:
                    status, final, body, ct = await self.get(
                        u, lambda s, ct: 200 <= s < 300 and ct.startswith("text/html"))
                self.pages += 1
                if status == 0:
                    self.failed += 1
                self.out.write("%d %s\n" % (status, final))
                self.seen.add(url_key(final))
                if body:
                    for link in self.links(final, body):
                        self.add(link)
            finally:
                self.queue.task_done()

    async def run(self):
        conn = aiohttp.TCPConnector(limit=self.args.concurrency, limit_per_host=self.args.per_host,
                                    ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(total=self.args.timeout)
        async with aiohttp.ClientSession(connector=conn, timeout=timeout, trust_env=False) as s:
            self.session = s
            self.add(self.args.seed)
            workers = [asyncio.ensure_future(self.worker()) for _ in range(self.args.concurrency)]
            await self.queue.join()
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        self.out.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--allow-domain", default=None)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--per-host", type=int, default=4)
    ap.add_argument("--agent", default="spindle", help="robots.txt product token")
    ap.add_argument("--user-agent", default="spindle-bench-aiohttp/1.0")
    ap.add_argument("--max-bytes", type=int, default=10 << 20)
    ap.add_argument("--timeout", type=float, default=30)
    args = ap.parse_args()
    if args.allow_domain is None:
        args.allow_domain = urllib.parse.urlsplit(args.seed).hostname
    c = Crawler(args)
    t0 = time.monotonic()
    asyncio.run(c.run())
    dt = time.monotonic() - t0
    print("aio_crawl: %d pages in %.2f s (%.0f pages/s), %d disallowed by robots.txt, %d failed, parser %s"
          % (c.pages, dt, c.pages / dt if dt else 0, c.disallowed, c.failed,
             "lxml" if HAVE_LXML else "html.parser"), file=sys.stderr)


if __name__ == "__main__":
    main()
