package host

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
)

// The bounds of captured guest output.
const (
	// maxOutputBytes is how much stdout and stderr of one instance reaches
	// the log; the rest is dropped with one notice.
	maxOutputBytes = 1 << 20
	// maxOutputLine is the longest line logged; longer ones are cut.
	maxOutputLine = 4 << 10
	// tailLines is how many recent stderr lines are kept to explain a
	// crash.
	tailLines = 32
)

// guestOutput captures one instance's stdout and stderr: each line becomes
// a log record with the plugin's name, and the last lines of stderr are kept
// so that a crash can say why ("panic: …", "fatal error: …").
type guestOutput struct {
	log *slog.Logger

	mu      sync.Mutex
	written int
	dropped bool
	tail    []string
	partial [2]bytes.Buffer
}

func newGuestOutput(log *slog.Logger) *guestOutput { return &guestOutput{log: log} }

// setLogger changes the logger, when the plugin learns its name.
func (o *guestOutput) setLogger(log *slog.Logger) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.log = log
}

// validUTF8 replaces invalid UTF-8 in s.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// stream is an io.Writer for stdout (0) or stderr (1).
type stream struct {
	o *guestOutput
	n int
}

func (o *guestOutput) stdout() stream { return stream{o, 0} }
func (o *guestOutput) stderr() stream { return stream{o, 1} }

func (s stream) Write(p []byte) (int, error) {
	s.o.write(s.n, p)
	return len(p), nil
}

func (o *guestOutput) write(n int, p []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	buf := &o.partial[n]
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := maxOutputLine - buf.Len()
			if room > 0 {
				buf.Write(p[:min(len(p), room)])
			}
			return
		}
		if room := maxOutputLine - buf.Len(); room > 0 {
			buf.Write(p[:min(i, room)])
		}
		o.line(n, buf.String())
		buf.Reset()
		p = p[i+1:]
	}
}

// line handles one complete line; o.mu is held.
func (o *guestOutput) line(n int, text string) {
	text = validUTF8(strings.TrimRight(text, "\r"))
	if n == 1 {
		o.tail = append(o.tail, text)
		if len(o.tail) > tailLines {
			o.tail = o.tail[len(o.tail)-tailLines:]
		}
	}
	if o.written >= maxOutputBytes {
		if !o.dropped {
			o.dropped = true
			o.log.LogAttrs(context.Background(), slog.LevelWarn, "plugin output exceeds 1 MiB; dropping the rest")
		}
		return
	}
	o.written += len(text) + 1
	if n == 0 {
		o.log.LogAttrs(context.Background(), slog.LevelInfo, text, slog.String("stream", "stdout"))
	} else {
		o.log.LogAttrs(context.Background(), slog.LevelWarn, text, slog.String("stream", "stderr"))
	}
}

// flush logs any unterminated lines.
func (o *guestOutput) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for n := range o.partial {
		if o.partial[n].Len() > 0 {
			o.line(n, o.partial[n].String())
			o.partial[n].Reset()
		}
	}
}

// resetTail forgets the kept stderr lines, at the start of a call.
func (o *guestOutput) resetTail() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tail = nil
}

// reason returns the line of the kept stderr that best explains a crash:
// a Go panic or fatal error, a Rust panic, or the last line.
func (o *guestOutput) reason() string {
	o.flush()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, prefix := range []string{"fatal error: ", "panic: "} {
		for _, l := range o.tail {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
	}
	for _, l := range o.tail {
		if strings.Contains(l, "panicked at") {
			return l
		}
	}
	for i := len(o.tail) - 1; i >= 0; i-- {
		if s := strings.TrimSpace(o.tail[i]); s != "" {
			return s
		}
	}
	return ""
}

// The bounds of what one call may log through the log import (or
// pluginapi.Host.Log natively); the rest is dropped, with one notice when
// the bound is reached and the count at the end of an align.
const (
	maxLogMessages = 1000
	maxLogTotal    = 1 << 20
)

// logGate counts what one call has logged and admits messages up to the
// bounds. It is used by the guest's goroutine only, or under nativeHost's
// lock.
type logGate struct {
	messages, bytes int
	dropped         int
}

// admit reports whether a message of n bytes may be logged, and logs the
// notice once, when the first message is refused.
func (g *logGate) admit(ctx context.Context, log *slog.Logger, n int) bool {
	if g.messages < maxLogMessages && g.bytes+n <= maxLogTotal {
		g.messages++
		g.bytes += n
		return true
	}
	if g.dropped == 0 {
		log.LogAttrs(ctx, slog.LevelWarn, "plugin log limit reached: the rest of this call's log is dropped",
			slog.Int("max_messages", maxLogMessages), slog.Int("max_bytes", maxLogTotal))
	}
	g.dropped++
	return false
}

// admitQuietly is admit for progress reports: a dropped report needs no
// notice, since the next that gets through supersedes it.
func (g *logGate) admitQuietly(n int) bool {
	if g.messages < maxLogMessages && g.bytes+n <= maxLogTotal {
		g.messages++
		g.bytes += n
		return true
	}
	g.dropped++
	return false
}

// report logs how many messages were dropped, if any.
func (g *logGate) report(ctx context.Context, log *slog.Logger) {
	if g.dropped > 0 {
		log.LogAttrs(ctx, slog.LevelWarn, "plugin log messages dropped", slog.Int("dropped", g.dropped))
	}
}
