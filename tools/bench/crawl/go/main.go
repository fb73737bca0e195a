// go-crawl: the Go net/http peer of spindle-crawl for tools/bench/crawl/run.sh.
//
//	go-crawl --seed URL --allow-domain D [--concurrency 64] [--per-host 4]
//	         [--agent spindle] [--user-agent UA] [--max-bytes N]
//	         [--parser html|scanner] --out FILE
//
// A breadth-first crawler on the standard library only: net/http (keep-alive,
// gzip), net/url for resolving links, one goroutine per transfer in flight.
// One dispatcher goroutine owns the frontier: a FIFO queue per host
// (scheme://host:port), at most --per-host transfers per host and
// --concurrency in all.  Each host's robots.txt is fetched first (it counts
// as a transfer) and its rules are applied when a URL is dispatched.
//
// Links come from golang.org/x/net/html, Go's HTML5 parser (Debian's
// golang-golang-x-net-dev, built offline from /usr/share/gocode), as a Go
// crawler would find them (colly and goquery use it): html.Parse builds the
// tree and extractLinksHTML walks it, as spindle-crawl does with gumbo.  The
// same rules as spindle-crawl: <a href> only, the first <base href>, no
// rel=nofollow links, no links at all on a page with
// <meta name="robots|AGENT" content="...nofollow...">; only text/html
// responses are parsed.
//
// --parser scanner swaps in a small tag scanner (extractLinks) instead, for
// comparison: it skips comments and <script>/<style> bodies, reads the
// attributes of <a>, <base> and <meta> (double-, single- or unquoted, names
// case-insensitive, entities decoded by html.UnescapeString), and applies the
// same rules.  It is not an HTML5 tokenizer (no implied end tags, no CDATA,
// no <noscript> subtleties): enough for the generated site, and much less
// work than a parser, so it is not what the benchmark compares against.
//
// robots.txt: a small RFC 9309 parser: the groups naming --agent (product
// token, case-insensitive) if any, else the "*" groups; longest match wins,
// Allow wins a tie; '*' and '$' are understood.  A 4xx robots.txt allows
// everything, a 5xx or failed one disallows everything.
//
// The dedupe key of a URL: scheme and host lower-cased, default port and
// fragment dropped, dot segments removed (url.ResolveReference), the path's
// escapes of unreserved characters decoded; the query as is.
//
// Output: one line "STATUS URL" per URL fetched (the URL after redirects,
// status 0 when the transfer failed), robots.txt included; a summary on
// stderr.  Exit status 0, or 2 for bad arguments.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	xhtml "golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// ------------------------------------------------------------------ robots

type rule struct {
	allow   bool
	pattern string
}

type robots struct {
	rules []rule
	all   bool // disallow everything
}

// parseRobots keeps the rules of the groups that name agent, or of the "*"
// groups when none does.
func parseRobots(body []byte, agent string) *robots {
	agent = strings.ToLower(agent)
	var mine, star []rule
	var haveMine bool
	var cur []*[]rule // the groups the current user-agent lines opened
	inAgents := false
	for _, line := range strings.Split(string(body), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		colon := strings.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		key := strings.ToLower(strings.TrimSpace(line[:colon]))
		val := strings.TrimSpace(line[colon+1:])
		switch key {
		case "user-agent":
			if !inAgents {
				cur = cur[:0]
			}
			inAgents = true
			v := strings.ToLower(val)
			if v == "*" {
				cur = append(cur, &star)
			} else if v == agent {
				cur = append(cur, &mine)
				haveMine = true
			}
		case "allow", "disallow":
			inAgents = false
			if val == "" {
				continue // "Disallow:" allows everything
			}
			for _, g := range cur {
				*g = append(*g, rule{allow: key == "allow", pattern: val})
			}
		default:
			inAgents = false
		}
	}
	if haveMine {
		return &robots{rules: mine}
	}
	return &robots{rules: star}
}

// matchLen is the length of pattern when it matches a prefix of path
// (with '*' any run and a final '$' the end), else -1.
func matchLen(pattern, path string) int {
	anchored := strings.HasSuffix(pattern, "$")
	p := strings.TrimSuffix(pattern, "$")
	if !strings.Contains(p, "*") {
		if anchored {
			if path == p {
				return len(pattern)
			}
			return -1
		}
		if strings.HasPrefix(path, p) {
			return len(pattern)
		}
		return -1
	}
	parts := strings.Split(p, "*")
	if !strings.HasPrefix(path, parts[0]) {
		return -1
	}
	pos := len(parts[0])
	for i, part := range parts[1:] {
		if i == len(parts)-2 && anchored {
			if len(path)-pos >= len(part) && strings.HasSuffix(path, part) {
				return len(pattern)
			}
			return -1
		}
		j := strings.Index(path[pos:], part)
		if j < 0 {
			return -1
		}
		pos += j + len(part)
	}
	if anchored && pos != len(path) {
		return -1
	}
	return len(pattern)
}

func (r *robots) allowed(path string) bool {
	if r == nil {
		return true
	}
	if r.all {
		return false
	}
	best, allow := -1, true
	for _, ru := range r.rules {
		n := matchLen(ru.pattern, path)
		if n > best || (n == best && ru.allow) {
			best, allow = n, ru.allow
		}
	}
	return best < 0 || allow
}

// ------------------------------------------------------------------- links

func lower(b []byte) string { return strings.ToLower(string(b)) }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == ':'
}

// parseTag reads the attributes of the tag whose name ends at i; returns them
// (names lower-cased, values unescaped) and the index after the '>'.
func parseTag(b []byte, i int) (map[string]string, int) {
	attrs := map[string]string{}
	n := len(b)
	for i < n {
		for i < n && (isSpace(b[i]) || b[i] == '/') {
			i++
		}
		if i >= n {
			break
		}
		if b[i] == '>' {
			return attrs, i + 1
		}
		s := i
		for i < n && !isSpace(b[i]) && b[i] != '=' && b[i] != '>' && b[i] != '/' {
			i++
		}
		name := lower(b[s:i])
		for i < n && isSpace(b[i]) {
			i++
		}
		val := ""
		if i < n && b[i] == '=' {
			i++
			for i < n && isSpace(b[i]) {
				i++
			}
			if i < n && (b[i] == '"' || b[i] == '\'') {
				q := b[i]
				i++
				s = i
				for i < n && b[i] != q {
					i++
				}
				val = string(b[s:i])
				if i < n {
					i++
				}
			} else {
				s = i
				for i < n && !isSpace(b[i]) && b[i] != '>' {
					i++
				}
				val = string(b[s:i])
			}
			if strings.IndexByte(val, '&') >= 0 {
				val = html.UnescapeString(val)
			}
		}
		if _, dup := attrs[name]; !dup && name != "" {
			attrs[name] = val
		}
	}
	return attrs, n
}

func hasToken(s, tok string) bool {
	for _, f := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if f == tok {
			return true
		}
	}
	return false
}

// extractLinks returns the followable <a href> values of an HTML page, its
// first <base href> ("" if none), and whether a robots meta tag for agent
// says nofollow (then hrefs is empty).
func extractLinks(b []byte, agent string) (hrefs []string, base string, nofollow bool) {
	n := len(b)
	i := 0
	for i < n {
		j := bytes.IndexByte(b[i:], '<')
		if j < 0 {
			break
		}
		i += j
		if bytes.HasPrefix(b[i:], []byte("<!--")) {
			k := bytes.Index(b[i+4:], []byte("-->"))
			if k < 0 {
				break
			}
			i += 4 + k + 3
			continue
		}
		p := i + 1
		if p < n && (b[p] == '/' || b[p] == '!' || b[p] == '?') {
			k := bytes.IndexByte(b[p:], '>')
			if k < 0 {
				break
			}
			i = p + k + 1
			continue
		}
		s := p
		for p < n && isNameByte(b[p]) {
			p++
		}
		if p == s {
			i++
			continue
		}
		name := lower(b[s:p])
		attrs, next := parseTag(b, p)
		i = next
		switch name {
		case "a":
			href, ok := attrs["href"]
			if ok && !hasToken(attrs["rel"], "nofollow") {
				hrefs = append(hrefs, href)
			}
		case "base":
			if href, ok := attrs["href"]; ok && base == "" {
				base = href
				if base == "" {
					base = " " // an empty href still counts as the first
				}
			}
		case "meta":
			mn := strings.ToLower(strings.TrimSpace(attrs["name"]))
			if (mn == "robots" || mn == agent) && hasToken(attrs["content"], "nofollow") {
				nofollow = true
			}
		case "script", "style":
			end := []byte("</" + name)
			k := bytes.Index(bytes.ToLower(b[i:]), end)
			if k < 0 {
				i = n
			} else {
				i += k
			}
		}
	}
	if nofollow {
		hrefs = nil
	}
	return hrefs, strings.TrimSpace(base), nofollow
}

// extractLinksHTML is extractLinks on the tree html.Parse builds.
func extractLinksHTML(b []byte, agent string) (hrefs []string, base string, nofollow bool) {
	doc, err := xhtml.Parse(bytes.NewReader(b))
	if err != nil {
		return nil, "", false
	}
	haveBase := false
	var walk func(n *xhtml.Node)
	walk = func(n *xhtml.Node) {
		if n.Type == xhtml.ElementNode && n.Namespace == "" {
			switch n.DataAtom {
			case atom.A:
				if href, ok := attr(n, "href"); ok {
					if rel, _ := attr(n, "rel"); !hasToken(rel, "nofollow") {
						hrefs = append(hrefs, href)
					}
				}
			case atom.Base:
				if href, ok := attr(n, "href"); ok && !haveBase {
					haveBase, base = true, href
				}
			case atom.Meta:
				name, _ := attr(n, "name")
				mn := strings.ToLower(strings.TrimSpace(name))
				if content, _ := attr(n, "content"); (mn == "robots" || mn == agent) && hasToken(content, "nofollow") {
					nofollow = true
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if nofollow {
		hrefs = nil
	}
	return hrefs, strings.TrimSpace(base), nofollow
}

func attr(n *xhtml.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// -------------------------------------------------------------------- URLs

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// normEscapes decodes escapes of unreserved characters, upper-cases the others.
func normEscapes(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && unhex(s[i+1]) >= 0 && unhex(s[i+2]) >= 0 {
			c := byte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			if isUnreserved(c) {
				sb.WriteByte(c)
			} else {
				sb.WriteString(strings.ToUpper(s[i : i+3]))
			}
			i += 2
			continue
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

func authority(u *url.URL) string {
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port := u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if strings.IndexByte(host, ':') >= 0 {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return u.Scheme + "://" + host
}

func pathQuery(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if u.RawQuery != "" || u.ForceQuery {
		p += "?" + u.RawQuery
	}
	return p
}

func key(u *url.URL) string { return authority(u) + normEscapes(pathQuery(u)) }

func inDomain(host, domain string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host == domain || strings.HasSuffix(host, "."+domain)
}

// ----------------------------------------------------------------- crawler

type result struct {
	u      *url.URL // as dispatched
	final  *url.URL // after redirects (nil when failed)
	status int
	robots bool
	body   []byte // robots.txt body
	links  []*url.URL
}

type hostState struct {
	auth     string
	queue    []*url.URL
	head     int
	inflight int
	rules    *robots
	ready    bool // robots.txt known
	started  bool // robots.txt requested
}

type crawler struct {
	client     *http.Client
	ua, agent  string
	domain     string
	conc, per  int
	maxBytes   int64
	extract    func([]byte, string) ([]string, string, bool)
	hosts      map[string]*hostState
	order      []*hostState
	rr         int
	seen       map[string]struct{}
	inflight   int
	results    chan result
	out        *bufio.Writer
	pages      int
	disallowed int
	failed     int
	bytesIn    int64
}

func (c *crawler) fetch(u *url.URL, isRobots bool) {
	r := result{u: u, robots: isRobots}
	req, err := http.NewRequest("GET", u.String(), nil)
	if err == nil {
		req.Header.Set("User-Agent", c.ua)
		var resp *http.Response
		resp, err = c.client.Do(req)
		if err == nil {
			r.status = resp.StatusCode
			r.final = resp.Request.URL
			ct := strings.ToLower(resp.Header.Get("Content-Type"))
			var body []byte
			if isRobots || (resp.StatusCode >= 200 && resp.StatusCode < 300 && strings.HasPrefix(ct, "text/html")) {
				body, _ = io.ReadAll(io.LimitReader(resp.Body, c.maxBytes))
			}
			io.Copy(io.Discard, resp.Body) // keep the connection
			resp.Body.Close()
			if isRobots {
				r.body = body
			} else if body != nil {
				r.links = c.links(r.final, body)
			}
		}
	}
	c.results <- r
}

// links resolves the page's followable links (in scope, http(s), no fragment).
func (c *crawler) links(page *url.URL, body []byte) []*url.URL {
	hrefs, base, _ := c.extract(body, c.agent)
	b := page
	if base != "" {
		if bu, err := url.Parse(base); err == nil {
			b = page.ResolveReference(bu)
		}
	}
	var out []*url.URL
	for _, h := range hrefs {
		h = strings.TrimSpace(h)
		if h == "" || h[0] == '#' {
			continue
		}
		ref, err := url.Parse(h)
		if err != nil {
			continue
		}
		u := b.ResolveReference(ref)
		u.Fragment, u.RawFragment = "", ""
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !inDomain(u.Hostname(), c.domain) {
			continue
		}
		out = append(out, u)
	}
	return out
}

func (c *crawler) host(u *url.URL) *hostState {
	a := authority(u)
	h := c.hosts[a]
	if h == nil {
		h = &hostState{auth: a}
		c.hosts[a] = h
		c.order = append(c.order, h)
	}
	return h
}

func (c *crawler) add(u *url.URL) {
	k := key(u)
	if _, dup := c.seen[k]; dup {
		return
	}
	c.seen[k] = struct{}{}
	h := c.host(u)
	h.queue = append(h.queue, u)
}

func (c *crawler) start(h *hostState, u *url.URL, isRobots bool) {
	h.inflight++
	c.inflight++
	go c.fetch(u, isRobots)
}

// dispatch starts what the limits allow, round robin over the hosts.
func (c *crawler) dispatch() {
	for pass := 0; pass < len(c.order) && c.inflight < c.conc; pass++ {
		h := c.order[c.rr%len(c.order)]
		c.rr++
		if !h.started {
			if h.head < len(h.queue) {
				h.started = true
				ru, _ := url.Parse(h.auth + "/robots.txt")
				c.start(h, ru, true)
			}
			continue
		}
		if !h.ready {
			continue
		}
		for h.inflight < c.per && c.inflight < c.conc && h.head < len(h.queue) {
			u := h.queue[h.head]
			h.queue[h.head] = nil
			h.head++
			if !h.rules.allowed(normEscapes(pathQuery(u))) {
				c.disallowed++
				continue
			}
			c.start(h, u, false)
		}
		if h.head == len(h.queue) {
			h.queue, h.head = h.queue[:0], 0
		}
	}
}

func (c *crawler) run(seed *url.URL) {
	c.add(seed)
	c.dispatch()
	for c.inflight > 0 {
		r := <-c.results
		c.inflight--
		h := c.host(r.u)
		h.inflight--
		shown := r.u
		if r.final != nil {
			shown = r.final
		}
		fmt.Fprintf(c.out, "%d %s\n", r.status, shown.String())
		if r.robots {
			switch {
			case r.status >= 200 && r.status < 300:
				h.rules = parseRobots(r.body, c.agent)
			case r.status >= 400 && r.status < 500:
				h.rules = &robots{}
			default:
				h.rules = &robots{all: true}
			}
			h.ready = true
		} else {
			c.pages++
			if r.status == 0 {
				c.failed++
			}
			if r.final != nil {
				c.seen[key(r.final)] = struct{}{}
			}
			for _, l := range r.links {
				c.add(l)
			}
		}
		c.dispatch()
	}
}

func main() {
	seed := flag.String("seed", "", "seed URL")
	domain := flag.String("allow-domain", "", "crawl this domain and its subdomains (default: the seed's host)")
	conc := flag.Int("concurrency", 64, "transfers in flight in all")
	per := flag.Int("per-host", 4, "transfers in flight per host")
	agent := flag.String("agent", "spindle", "robots.txt product token (also matched in <meta name>)")
	ua := flag.String("user-agent", "spindle-bench-go/1.0", "User-Agent header")
	maxBytes := flag.Int64("max-bytes", 10<<20, "body bytes read per page")
	outPath := flag.String("out", "", "where the 'STATUS URL' lines go")
	timeout := flag.Duration("timeout", 30*time.Second, "per request")
	parser := flag.String("parser", "html", "how links are found: html (golang.org/x/net/html) or scanner")
	flag.Parse()
	extract := extractLinksHTML
	switch *parser {
	case "html":
	case "scanner":
		extract = extractLinks
	default:
		fmt.Fprintln(os.Stderr, "go-crawl: --parser must be html or scanner")
		os.Exit(2)
	}
	su, err := url.Parse(*seed)
	if *seed == "" || err != nil || su.Host == "" || *outPath == "" || *conc < 1 || *per < 1 {
		fmt.Fprintln(os.Stderr, "usage: go-crawl --seed URL --out FILE [--allow-domain D] [--concurrency N] [--per-host N]")
		os.Exit(2)
	}
	if *domain == "" {
		*domain = su.Hostname()
	}
	f, err := os.Create(*outPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-crawl:", err)
		os.Exit(1)
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: *timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        *conc,
		MaxIdleConnsPerHost: *per,
		MaxConnsPerHost:     *per,
		IdleConnTimeout:     90 * time.Second,
	}
	c := &crawler{
		client:   &http.Client{Transport: tr, Timeout: *timeout},
		ua:       *ua,
		agent:    strings.ToLower(*agent),
		domain:   strings.TrimSuffix(strings.ToLower(*domain), "."),
		conc:     *conc,
		per:      *per,
		maxBytes: *maxBytes,
		extract:  extract,
		hosts:    map[string]*hostState{},
		seen:     map[string]struct{}{},
		results:  make(chan result, *conc),
		out:      bufio.NewWriterSize(f, 1<<16),
	}
	t0 := time.Now()
	c.run(su)
	sec := time.Since(t0).Seconds()
	c.out.Flush()
	f.Close()
	fmt.Fprintf(os.Stderr, "go-crawl: %d pages in %.2f s (%s pages/s), %d disallowed by robots.txt, %d failed\n",
		c.pages, sec, strconv.FormatFloat(float64(c.pages)/sec, 'f', 0, 64), c.disallowed, c.failed)
}
