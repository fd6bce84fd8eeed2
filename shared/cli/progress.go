package cli

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progress shows on stderr what the scan is reading: a line redrawn in place
// on a terminal, one plain line per region otherwise, nothing with --quiet.
type progress struct {
	w        io.Writer
	terminal bool
	quiet    bool
}

func newProgress(w io.Writer, terminal, quiet bool) *progress {
	return &progress{w: w, terminal: terminal, quiet: quiet}
}

// regionProgress counts the reads of one region. Its methods are safe on
// nil and from the guard's concurrent readers.
type regionProgress struct {
	p                      *progress
	region                 string
	started                time.Time
	topics, read, keysRead atomic.Int64
	done                   chan struct{}
	wg                     sync.WaitGroup
}

// redraw is how often the terminal line is redrawn.
const redraw = 100 * time.Millisecond

func (p *progress) start(region string) *regionProgress {
	r := &regionProgress{p: p, region: region, started: time.Now(), done: make(chan struct{})}
	r.topics.Store(-1)
	switch {
	case p.quiet:
	case p.terminal:
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			t := time.NewTicker(redraw)
			defer t.Stop()
			for {
				fmt.Fprintf(p.w, "\r\x1b[K%s", r.line())
				select {
				case <-r.done:
					fmt.Fprint(p.w, "\r\x1b[K")
					return
				case <-t.C:
				}
			}
		}()
	default:
		fmt.Fprintf(p.w, "snskeyguard: reading %s\n", region)
	}
	return r
}

// line is the progress text: a bar once the topic count is known.
func (r *regionProgress) line() string {
	n, read, keys := r.topics.Load(), r.read.Load(), r.keysRead.Load()
	if n < 0 {
		return fmt.Sprintf("reading %s: listing topics", r.region)
	}
	const width = 24
	filled := width
	if n > 0 {
		filled = int(min(read, n) * width / n)
	}
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '.'
		if i < filled {
			bar[i] = '#'
		}
	}
	return fmt.Sprintf("reading %s [%s] %d/%d topics, %d keys", r.region, bar, min(read, n), n, keys)
}

func (r *regionProgress) stop() {
	if r == nil {
		return
	}
	close(r.done)
	r.wg.Wait()
	if !r.p.quiet && !r.p.terminal {
		fmt.Fprintf(r.p.w, "snskeyguard: %s: %d topics, %d keys read in %s\n", r.region,
			max(r.topics.Load(), 0), r.keysRead.Load(), time.Since(r.started).Round(time.Millisecond))
	}
}

func (r *regionProgress) setTopics(n int) {
	if r != nil {
		r.topics.Store(int64(n))
	}
}

func (r *regionProgress) topicRead() {
	if r != nil {
		r.read.Add(1)
	}
}

func (r *regionProgress) keyRead() {
	if r != nil {
		r.keysRead.Add(1)
	}
}
