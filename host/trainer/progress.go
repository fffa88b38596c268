package trainer

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// IsTerminal reports whether w is a terminal (an *os.File on a TTY).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ProgressReporter shows a Run's progress to people: on a terminal one
// progress bar per stage on w (a bar for stages with several units of
// work, a spinner with the elapsed time for the others), otherwise one
// log line per event at info level. Call the returned done function when
// the run ends, to finish a bar left open by an error.
func ProgressReporter(w io.Writer, terminal bool, log *slog.Logger) (report func(Progress), done func()) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !terminal {
		return func(p Progress) {
			args := []any{"stage", p.Stage}
			if p.Total > 1 {
				args = append(args, "done", p.Done, "total", p.Total)
			}
			log.Info(p.Message, args...)
		}, func() {}
	}
	b := &bars{w: w}
	return b.report, b.close
}

// bars drives one progress bar at a time.
type bars struct {
	mu    sync.Mutex
	w     io.Writer
	stage string
	total int
	bar   *progressbar.ProgressBar
}

const maxDescription = 60

func (b *bars) report(p Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	desc := p.Stage + ": " + p.Message
	if r := []rune(desc); len(r) > maxDescription {
		desc = string(r[:maxDescription-1]) + "…"
	}
	if b.bar == nil || p.Stage != b.stage || (p.Total > 1 && p.Total != b.total) {
		b.finish()
		b.stage, b.total = p.Stage, p.Total
		max := -1 // a spinner
		if p.Total > 1 {
			max = p.Total
		}
		b.bar = progressbar.NewOptions(max,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetPredictTime(max > 0),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(b.w) }),
		)
	} else {
		b.bar.Describe(desc)
	}
	if b.total > 1 {
		_ = b.bar.Set(p.Done)
	} else {
		_ = b.bar.Add(0)
	}
	if p.Total > 0 && p.Done >= p.Total {
		b.finish()
	}
}

// finish completes the current bar, if any. b.mu is held.
func (b *bars) finish() {
	if b.bar == nil {
		return
	}
	if !b.bar.IsFinished() {
		_ = b.bar.Finish()
	}
	b.bar = nil
}

func (b *bars) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		_ = b.bar.Exit()
		fmt.Fprintln(b.w)
		b.bar = nil
	}
}
