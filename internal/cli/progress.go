package cli

import (
	"io"

	"github.com/schollz/progressbar/v3"
)

// progress returns a callback drawing a progress bar on w if w is a
// terminal, and a no-op otherwise (so piped output stays clean).
func progress(w io.Writer, what string) (update func(done, total int), finish func()) {
	if !isTerminal(w) {
		return func(int, int) {}, func() {}
	}
	var bar *progressbar.ProgressBar
	return func(done, total int) {
			if bar == nil {
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(what),
					progressbar.OptionShowCount(), progressbar.OptionThrottle(100e6), progressbar.OptionClearOnFinish())
			}
			bar.Set(done)
		}, func() {
			if bar != nil {
				bar.Finish()
			}
		}
}
