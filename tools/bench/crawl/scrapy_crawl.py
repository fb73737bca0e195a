#!/usr/bin/env python3
"""scrapy_crawl.py - the Scrapy peer of spindle-crawl (tools/bench/crawl/run.sh).

    python3 scrapy_crawl.py --seed URL --out FILE [--allow-domain D]
                            [--concurrency 64] [--per-host 4] [--agent spindle]
                            [--max-seconds S]

A CrawlSpider with one Rule(LinkExtractor(...), follow=True), run by
CrawlerProcess without a project.  Settings: ROBOTSTXT_OBEY with
ROBOTSTXT_USER_AGENT = --agent (Protego), allowed_domains = [--allow-domain],
CONCURRENT_REQUESTS = --concurrency, CONCURRENT_REQUESTS_PER_DOMAIN =
--per-host.  Scrapy's "domain" there is the download slot, which is the full
host name (h0.demo.test) as long as CONCURRENT_REQUESTS_PER_IP is 0 (it is:
with it set, all the hosts, which share 127.0.0.1, would share one slot).
Breadth-first (DEPTH_PRIORITY 1, FIFO queues), telnet console off, HTTP cache
off, LOG_LEVEL WARNING, CLOSESPIDER_TIMEOUT = --max-seconds (0: none).

Three things stock Scrapy does differently from the other crawlers are
aligned here, so that all of them fetch the same set of URLs:
  * rel="nofollow" is matched case-insensitively (Scrapy's rel_has_nofollow
    is case-sensitive) and nofollow links are dropped (CrawlSpider follows
    them by default);
  * a page with <meta name="robots|AGENT" content="...nofollow..."> yields no
    links (CrawlSpider ignores the tag);
  * only http(s) links are kept (LinkExtractor keeps ftp:, which the
    offsite filter lets through when the host is in scope);
  * dot segments are removed from the links and the host lower-cased
    (urljoin keeps "/a/../x" in an absolute link; robots.txt rules would then
    not match it, and the dupe filter would not see it as a duplicate).
LinkExtractor is given tags=("a",), attrs=("href",) and deny_extensions=[]
(by default it skips .pdf, .png and others, which the site links and a crawl
fetches).

Output: one line "STATUS URL" per response (robots.txt included), and a last
line "# finish_reason REASON" (closespider_timeout when --max-seconds cut it
short).  Debian 12: apt-get install python3-scrapy.
"""

import argparse
import sys
import time
import urllib.parse

import scrapy.linkextractors.lxmlhtml as lxmlhtml
from scrapy import signals
from scrapy.crawler import CrawlerProcess
from scrapy.http import HtmlResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule


def _rel_has_nofollow(rel):
    return rel is not None and "nofollow" in rel.lower().replace(",", " ").split()


lxmlhtml.rel_has_nofollow = _rel_has_nofollow


def remove_dot_segments(path):
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


def clean(url):
    p = urllib.parse.urlsplit(url)
    netloc = (p.hostname or "").rstrip(".")
    if p.port and not ((p.scheme == "http" and p.port == 80) or (p.scheme == "https" and p.port == 443)):
        netloc += ":%d" % p.port
    return urllib.parse.urlunsplit((p.scheme, netloc, remove_dot_segments(p.path or "/"), p.query, ""))


class BenchSpider(CrawlSpider):
    name = "bench"
    rules = (
        Rule(LinkExtractor(tags=("a",), attrs=("href",), deny_extensions=[]),
             follow=True, process_links="keep_links"),
    )

    def __init__(self, seed, domain, agent, out, **kw):
        self.start_urls = [seed]
        self.allowed_domains = [domain]
        self.agent = agent
        self.out = out
        super().__init__(**kw)

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.on_response, signal=signals.response_received)
        crawler.signals.connect(spider.on_closed, signal=signals.spider_closed)
        return spider

    def on_response(self, response, request, spider):
        self.out.write("%d %s\n" % (response.status, response.url))

    def on_closed(self, spider, reason):
        self.out.write("# finish_reason %s\n" % reason)

    def keep_links(self, links):
        out = []
        for link in links:
            if link.nofollow or not link.url.startswith(("http://", "https://")):
                continue
            link.url = clean(link.url)
            out.append(link)
        return out

    def _requests_to_follow(self, response):
        if not isinstance(response, HtmlResponse):
            return
        for m in response.xpath("//meta[@name]"):
            name = (m.attrib.get("name") or "").strip().lower()
            content = (m.attrib.get("content") or "").lower().replace(",", " ").split()
            if name in ("robots", self.agent) and "nofollow" in content:
                return
        yield from super()._requests_to_follow(response)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--allow-domain", default=None)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--per-host", type=int, default=4)
    ap.add_argument("--agent", default="spindle", help="robots.txt product token")
    ap.add_argument("--user-agent", default="spindle-bench-scrapy/1.0")
    ap.add_argument("--max-seconds", type=float, default=0)
    args = ap.parse_args()
    domain = args.allow_domain or urllib.parse.urlsplit(args.seed).hostname
    settings = {
        "USER_AGENT": args.user_agent,
        "ROBOTSTXT_OBEY": True,
        "ROBOTSTXT_USER_AGENT": args.agent,
        "CONCURRENT_REQUESTS": args.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": args.per_host,
        "CONCURRENT_REQUESTS_PER_IP": 0,
        "DOWNLOAD_DELAY": 0,
        "DEPTH_PRIORITY": 1,
        "SCHEDULER_DISK_QUEUE": "scrapy.squeues.PickleFifoDiskQueue",
        "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
        "CLOSESPIDER_TIMEOUT": args.max_seconds,
        "TELNETCONSOLE_ENABLED": False,
        "HTTPCACHE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
    }
    out = open(args.out, "w", buffering=1 << 16)
    t0 = time.monotonic()
    process = CrawlerProcess(settings)
    process.crawl(BenchSpider, seed=args.seed, domain=domain, agent=args.agent.lower(), out=out)
    process.start()
    out.close()
    print("scrapy_crawl: done in %.2f s" % (time.monotonic() - t0), file=sys.stderr)


if __name__ == "__main__":
    main()
