// spindle-bench-go: Go peer of build/bin/spindle-bench.
//
// Same command line and same output line as the C program, so that
// tools/bench/compare.sh can run both and compare them:
//
//	spindle-bench-go NAME [--workers N] [--runs R] [options]
//
// Every run prints one line of space-separated key=value fields:
//
//	name=NAME workers=N tasks=T wall_ns=W ns_per_op=X rss_kb=R ops=O impl=go [...]
//
// wall_ns covers the measured region only (not process start-up, not flag
// parsing); ns_per_op = wall_ns / ops; rss_kb is the peak RSS of the process
// so far (getrusage ru_maxrss, KiB on Linux). The benchmarks mirror Tokio's
// rt_multi_threaded benches; see usage() for the list.
//
// Standard library only; build with:
//
//	cd tools/bench/go && GOFLAGS=-mod=mod go build -o spindle-bench-go .
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const prog = "spindle-bench-go"

// ---------------------------------------------------------------------------
// Command line

type benchDef struct {
	name    string
	opts    []string         // per-benchmark options (besides --workers/--runs)
	defs    map[string]int64 // their defaults
	posArg  string           // name of the optional positional argument ("" = none)
	posDef  int64            // its default
	summary string
	run     func(p *params) result
}

type params struct {
	workers int
	vals    map[string]int64
	pos     int64
}

type result struct {
	tasks  int64
	ops    int64
	wallNs int64
	extra  string // extra key=value fields, already formatted, may be ""
	err    string // non-empty: the benchmark produced a wrong answer
}

var benches []*benchDef

func init() {
	benches = []*benchDef{
		{
			name: "switch", opts: []string{"iters"},
			defs:    map[string]int64{"iters": 10_000_000},
			summary: "op = one switch round trip between two goroutines on ONE P (unbuffered-channel ping-pong, GOMAXPROCS=1 for this bench; nearest Go analogue of a raw context switch); tasks=2",
			run:     benchSwitch,
		},
		{
			name: "sleep", opts: []string{"tasks", "ms"},
			defs:    map[string]int64{"tasks": 10_000, "ms": 1000},
			summary: "spawn N goroutines that each time.Sleep(M ms), wait for all; op = one task; wall_ns = total; tasks=N",
			run:     benchSleep,
		},
		{
			name: "spawn-many", opts: []string{"tasks"},
			defs:    map[string]int64{"tasks": 100_000},
			summary: "spawn N trivial goroutines (atomic add + WaitGroup.Done) from a goroutine locked to its OS thread; op = one spawn; tasks=N",
			run:     benchSpawnMany,
		},
		{
			name: "yield-many", opts: []string{"tasks", "yields"},
			defs:    map[string]int64{"tasks": 200, "yields": 1000},
			summary: "T goroutines each call runtime.Gosched() Y times; op = one yield (ops = T*Y); tasks=T",
			run:     benchYieldMany,
		},
		{
			name: "ping-pong", opts: []string{"iters"},
			defs:    map[string]int64{"iters": 1_000_000},
			summary: "two goroutines exchange a value over two unbuffered channels; op = one round trip; tasks=2",
			run:     benchPingPong,
		},
		{
			name: "chained-spawn", opts: []string{"tasks"},
			defs:    map[string]int64{"tasks": 100_000},
			summary: "each goroutine spawns the next, the last signals done; op = one spawn; tasks=N",
			run:     benchChainedSpawn,
		},
		{
			name: "skynet", opts: []string{"size"},
			defs:    map[string]int64{"size": 1_000_000},
			summary: "skynet, branching 10, N leaves (power of 10); sums via channels, result verified (499999500000 for 1M); op = one spawned task (1111111 for 1M); tasks=nodes",
			run:     benchSkynet,
		},
		{
			name: "fib", posArg: "N", posDef: 30,
			defs:    map[string]int64{},
			summary: "recursive fib(N): each call with n>=2 spawns a goroutine for fib(n-1) (joined via a 1-buffered channel) and computes fib(n-2) inline; op = one spawn+join; result verified (fib(30)=832040)",
			run:     benchFib,
		},
	}
}

func usage(w *os.File) {
	fmt.Fprintf(w, "usage: %s NAME [--workers N] [--runs R] [options]\n", prog)
	fmt.Fprintf(w, "       %s --help\n\n", prog)
	fmt.Fprintf(w, "common options:\n")
	fmt.Fprintf(w, "  --workers N   GOMAXPROCS (default: runtime.NumCPU() = %d)\n", runtime.NumCPU())
	fmt.Fprintf(w, "  --runs R      repeat the measurement R times, one line per run (default 1)\n")
	fmt.Fprintf(w, "  --help        this text\n")
	fmt.Fprintf(w, "options may also be written --opt=N.\n\n")
	fmt.Fprintf(w, "benchmarks:\n")
	for _, b := range benches {
		line := "  " + b.name
		for _, o := range b.opts {
			line += fmt.Sprintf(" [--%s N (default %d)]", o, b.defs[o])
		}
		if b.posArg != "" {
			line += fmt.Sprintf(" [%s (default %d)]", b.posArg, b.posDef)
		}
		fmt.Fprintln(w, line)
		fmt.Fprintf(w, "      %s\n", b.summary)
	}
	fmt.Fprintf(w, "\noutput, one line per run:\n")
	fmt.Fprintf(w, "  name=NAME workers=N tasks=T wall_ns=W ns_per_op=X rss_kb=R ops=O impl=go [result=V] [...]\n")
}

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, prog+": "+format+"\n", a...)
	fmt.Fprintf(os.Stderr, "try '%s --help'\n", prog)
	os.Exit(2)
}

func parseNum(opt, s string) int64 {
	v, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	if err != nil {
		die("option %s: invalid number '%s'", opt, s)
	}
	return v
}

func main() {
	args := os.Args[1:]
	for _, a := range args {
		if a == "--help" || a == "-h" {
			usage(os.Stdout)
			os.Exit(0)
		}
	}

	var positional []string
	type kv struct {
		key, val string
	}
	var opts []kv
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "--") {
			key, val, hasEq := strings.Cut(a[2:], "=")
			if key == "" {
				die("bad option '%s'", a)
			}
			if !hasEq {
				if i+1 >= len(args) {
					die("option --%s needs a value", key)
				}
				i++
				val = args[i]
			}
			opts = append(opts, kv{key, val})
		} else if strings.HasPrefix(a, "-") && len(a) > 1 && !isNumber(a) {
			die("bad option '%s'", a)
		} else {
			positional = append(positional, a)
		}
	}
	if len(positional) == 0 {
		fmt.Fprintf(os.Stderr, "%s: no benchmark named\n", prog)
		usage(os.Stderr)
		os.Exit(2)
	}
	var b *benchDef
	for _, c := range benches {
		if c.name == positional[0] {
			b = c
		}
	}
	if b == nil {
		var names []string
		for _, c := range benches {
			names = append(names, c.name)
		}
		die("unknown benchmark '%s' (known: %s)", positional[0], strings.Join(names, " "))
	}

	p := &params{workers: runtime.NumCPU(), vals: map[string]int64{}, pos: b.posDef}
	for k, v := range b.defs {
		p.vals[k] = v
	}
	runs := int64(1)
	for _, o := range opts {
		switch o.key {
		case "workers":
			w := parseNum("--workers", o.val)
			if w < 1 || w > 1<<20 {
				die("--workers must be >= 1")
			}
			p.workers = int(w)
		case "runs":
			runs = parseNum("--runs", o.val)
			if runs < 1 {
				die("--runs must be >= 1")
			}
		default:
			if _, ok := b.defs[o.key]; !ok {
				die("benchmark '%s' has no option --%s", b.name, o.key)
			}
			v := parseNum("--"+o.key, o.val)
			if v < 0 {
				die("option --%s must be >= 0", o.key)
			}
			p.vals[o.key] = v
		}
	}
	if len(positional) > 1 {
		if b.posArg == "" || len(positional) > 2 {
			die("unexpected argument '%s'", positional[len(positional)-1])
		}
		p.pos = parseNum(b.posArg, positional[1])
	}
	validate(b, p)

	runtime.GOMAXPROCS(p.workers)
	for r := int64(0); r < runs; r++ {
		runtime.GC() // start every run from a collected heap
		res := b.run(p)
		ops := res.ops
		nsPerOp := 0.0
		if ops > 0 {
			nsPerOp = float64(res.wallNs) / float64(ops)
		}
		line := fmt.Sprintf("name=%s workers=%d tasks=%d wall_ns=%d ns_per_op=%.2f rss_kb=%d ops=%d impl=go",
			b.name, p.workers, res.tasks, res.wallNs, nsPerOp, maxRSSKiB(), ops)
		if res.extra != "" {
			line += " " + res.extra
		}
		fmt.Println(line)
		if res.err != "" {
			fmt.Fprintf(os.Stderr, "%s: %s: %s\n", prog, b.name, res.err)
			os.Exit(1)
		}
	}
}

func isNumber(s string) bool {
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

func validate(b *benchDef, p *params) {
	switch b.name {
	case "skynet":
		n := p.vals["size"]
		if n < 1 {
			die("skynet: --size must be >= 1")
		}
		for m := n; m > 1; m /= 10 {
			if m%10 != 0 {
				die("skynet: --size must be a power of 10 (got %d)", n)
			}
		}
	case "fib":
		if p.pos < 0 || p.pos > 60 {
			die("fib: N must be in 0..60 (got %d)", p.pos)
		}
	case "sleep":
		if p.vals["tasks"] < 1 {
			die("sleep: --tasks must be >= 1")
		}
	case "yield-many":
		if p.vals["tasks"] < 1 {
			die("yield-many: --tasks must be >= 1")
		}
	}
}

func maxRSSKiB() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return int64(ru.Maxrss) // KiB on Linux
}

// ---------------------------------------------------------------------------
// Benchmarks

// switch: Go exposes no raw context switch. The nearest analogue is a
// round trip between two goroutines over unbuffered channels with a single
// P (GOMAXPROCS=1, for this bench only), so each hand-off is a direct
// goroutine switch on one thread with no cross-thread wake-ups.
// The line still reports workers=N as requested, plus gomaxprocs=1.
func benchSwitch(p *params) result {
	iters := p.vals["iters"]
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)

	ping := make(chan struct{})
	pong := make(chan struct{})
	ready := make(chan struct{})
	go func() {
		close(ready)
		for range ping {
			pong <- struct{}{}
		}
	}()
	<-ready
	start := time.Now()
	for i := int64(0); i < iters; i++ {
		ping <- struct{}{}
		<-pong
	}
	wall := time.Since(start).Nanoseconds()
	close(ping)
	return result{tasks: 2, ops: iters, wallNs: wall, extra: "gomaxprocs=1"}
}

func benchSleep(p *params) result {
	n := p.vals["tasks"]
	d := time.Duration(p.vals["ms"]) * time.Millisecond
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func() {
			time.Sleep(d)
			wg.Done()
		}()
	}
	wg.Wait()
	wall := time.Since(start).Nanoseconds()
	return result{tasks: n, ops: n, wallNs: wall, extra: fmt.Sprintf("ms=%d", p.vals["ms"])}
}

// spawn-many: Tokio's op is "a spawn from outside the runtime". Go has no
// outside; the nearest is spawning from a goroutine locked to its own OS
// thread (runtime.LockOSThread), which the scheduler cannot migrate.
func benchSpawnMany(p *params) result {
	n := p.vals["tasks"]
	var counter int64
	var wall int64
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var wg sync.WaitGroup
		start := time.Now()
		wg.Add(int(n))
		for i := int64(0); i < n; i++ {
			go func() {
				atomic.AddInt64(&counter, 1)
				wg.Done()
			}()
		}
		wg.Wait()
		wall = time.Since(start).Nanoseconds()
		close(done)
	}()
	<-done
	res := result{tasks: n, ops: n, wallNs: wall}
	if c := atomic.LoadInt64(&counter); c != n {
		res.err = fmt.Sprintf("counter=%d, want %d", c, n)
	}
	return res
}

func benchYieldMany(p *params) result {
	t := p.vals["tasks"]
	y := p.vals["yields"]
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(int(t))
	for i := int64(0); i < t; i++ {
		go func() {
			for j := int64(0); j < y; j++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	wall := time.Since(start).Nanoseconds()
	return result{tasks: t, ops: t * y, wallNs: wall}
}

func benchPingPong(p *params) result {
	iters := p.vals["iters"]
	ping := make(chan int64)
	pong := make(chan int64)
	ready := make(chan struct{})
	go func() {
		close(ready)
		for v := range ping {
			pong <- v + 1
		}
	}()
	<-ready
	var sum int64
	start := time.Now()
	for i := int64(0); i < iters; i++ {
		ping <- i
		sum += <-pong
	}
	wall := time.Since(start).Nanoseconds()
	close(ping)
	res := result{tasks: 2, ops: iters, wallNs: wall}
	if want := iters * (iters + 1) / 2; sum != want {
		res.err = fmt.Sprintf("checksum=%d, want %d", sum, want)
	}
	return res
}

func chainStep(n int64, done chan<- struct{}) {
	if n <= 1 {
		done <- struct{}{}
		return
	}
	go chainStep(n-1, done)
}

func benchChainedSpawn(p *params) result {
	n := p.vals["tasks"]
	done := make(chan struct{}, 1)
	start := time.Now()
	if n > 0 {
		go chainStep(n, done)
		<-done
	}
	wall := time.Since(start).Nanoseconds()
	return result{tasks: n, ops: n, wallNs: wall}
}

func skynet(num, size int64, c chan<- int64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int64, 10)
	child := size / 10
	for i := int64(0); i < 10; i++ {
		go skynet(num+i*child, child, rc)
	}
	var sum int64
	for i := 0; i < 10; i++ {
		sum += <-rc
	}
	c <- sum
}

func benchSkynet(p *params) result {
	size := p.vals["size"]
	nodes := int64(0)
	for m := size; m >= 1; m /= 10 {
		nodes += m
	}
	c := make(chan int64, 1)
	start := time.Now()
	go skynet(0, size, c)
	got := <-c
	wall := time.Since(start).Nanoseconds()
	res := result{tasks: nodes, ops: nodes, wallNs: wall, extra: fmt.Sprintf("result=%d", got)}
	if want := size * (size - 1) / 2; got != want {
		res.err = fmt.Sprintf("result=%d, want %d", got, want)
	}
	return res
}

func fibSpawn(n int64) int64 {
	if n < 2 {
		return n
	}
	ch := make(chan int64, 1)
	go func() { ch <- fibSpawn(n - 1) }()
	b := fibSpawn(n - 2)
	return <-ch + b
}

func benchFib(p *params) result {
	n := p.pos
	// Spawns = calls with n >= 2 = (calls - 1) / 2 where calls(n) = 2*fib(n+1) - 1,
	// i.e. fib(n+1) - 1.
	f := []int64{0, 1}
	for i := 2; i <= int(n)+1; i++ {
		f = append(f, f[i-1]+f[i-2])
	}
	want := f[n]
	spawns := f[n+1] - 1
	start := time.Now()
	got := fibSpawn(n)
	wall := time.Since(start).Nanoseconds()
	res := result{tasks: spawns, ops: spawns, wallNs: wall, extra: fmt.Sprintf("n=%d result=%d", n, got)}
	if got != want {
		res.err = fmt.Sprintf("fib(%d)=%d, want %d", n, got, want)
	}
	return res
}
