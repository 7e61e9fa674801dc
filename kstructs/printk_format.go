package kstructs

import (
	"fmt"
	"strings"
	"time"
)

// LogFormat selects how FormatLogRecord renders a record; the fields are
// crash's `log` flags. The rendering lives here, next to the decoder,
// because the panic-message search must see exactly the text `log -t`
// prints (crash searches its own log output).
type LogFormat struct {
	NoTime    bool      // -t: no timestamp
	WallClock bool      // -T: timestamps as dates, from Boot
	Boot      time.Time // boot time for -T (see BootTime)
	Level     bool      // -m: "<level>" prefix
	Caller    bool      // -c: "[    T1] " caller column
	// CallerWidth is the caller column's width (see LogCallerWidth).
	CallerWidth int
	Dict        bool // -d: SUBSYSTEM=/DEVICE= (or dictionary) lines
}

// CrashDateLayout is crash's ctime_tz format ("%a %b %e %T %Z %Y").
const CrashDateLayout = "Mon Jan _2 15:04:05 MST 2006"

// AppendLogRecord renders r as crash's `log` does and appends it to dst,
// ending in a newline. Every text line after the first is indented by the
// width of the prefix; bytes that are neither printable ASCII nor white
// space are shown as '.'. A record without a text block is an empty line.
func (f LogFormat) AppendLogRecord(dst []byte, r LogRecord) []byte {
	if r.Dataless {
		return append(dst, '\n')
	}
	start := len(dst)
	if !f.NoTime {
		sec, rem := r.TimestampNS/1e9, r.TimestampNS%1e9
		if f.WallClock {
			t := time.Unix(f.Boot.Unix()+int64(sec), 0).In(f.Boot.Location())
			dst = fmt.Appendf(dst, "[%s] ", t.Format(CrashDateLayout))
		} else {
			dst = fmt.Appendf(dst, "[%5d.%06d] ", sec, rem/1000)
		}
	}
	if f.Caller && r.HasCaller {
		w := f.CallerWidth
		if w <= 0 {
			w = 8
		}
		dst = fmt.Appendf(dst, "[%*s] ", w, r.Caller())
	}
	if f.Level {
		dst = fmt.Appendf(dst, "<%x>", r.Level)
	}
	indent := len(dst) - start
	for i := 0; i < len(r.Text); i++ {
		c := r.Text[i]
		switch {
		case c == '\n':
			dst = append(dst, '\n')
			dst = appendSpaces(dst, indent)
		case c >= 0x20 && c < 0x7f, c == '\t', c == '\v', c == '\f', c == '\r':
			dst = append(dst, c)
		default:
			dst = append(dst, '.')
		}
	}
	if f.Dict {
		if r.Dict != nil {
			// Pre-5.10 dictionaries: every key=value on its own line.
			for _, kv := range r.Dict {
				dst = append(dst, '\n')
				dst = appendSpaces(dst, indent)
				dst = append(dst, dotted(kv)...)
			}
		} else {
			if r.DevInfo.Subsystem != "" {
				dst = append(dst, '\n')
				dst = appendSpaces(dst, indent)
				dst = append(dst, "SUBSYSTEM="+r.DevInfo.Subsystem...)
			}
			if r.DevInfo.Device != "" {
				dst = append(dst, '\n')
				dst = appendSpaces(dst, indent)
				dst = append(dst, "DEVICE="+r.DevInfo.Device...)
			}
		}
	}
	return append(dst, '\n')
}

func appendSpaces(dst []byte, n int) []byte {
	for ; n > 0; n-- {
		dst = append(dst, ' ')
	}
	return dst
}

func dotted(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 0x20 && r < 0x7f {
			return r
		}
		return '.'
	}, s)
}

// LogCallerWidth is the width of the caller column of `log -c`, as crash
// chooses it: on lockless-ring kernels 6 if pid_max <= 99999, 7 if <=
// 999999, else 8; always 8 on older kernels.
func (k *Kernel) LogCallerWidth() int {
	if k.LogKind() != LogLockless {
		return 8
	}
	v, err := k.Image.Variable("pid_max")
	if err != nil {
		return 8
	}
	b := make([]byte, 4)
	if err := k.ReadVirt(b, v.Addr); err != nil {
		return 8
	}
	switch pm := k.Image.ByteOrder().Uint32(b); {
	case pm <= 99999:
		return 6
	case pm <= 999999:
		return 7
	}
	return 8
}

// BootTime is the wall-clock time of boot as crash computes it for `log -T`:
// the crash time's seconds minus the uptime's whole seconds.
func (k *Kernel) BootTime() (time.Time, error) {
	now, err := k.CrashTime()
	if err != nil {
		return time.Time{}, err
	}
	up, err := k.Uptime()
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(now.Unix()-int64(up/time.Second), 0).In(now.Location()), nil
}
